/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing for fuselage (SPEC §2).  Parsing only: no file is
 * touched here, so the result can be checked before any privilege is used.
 * All options live in one struct that is passed explicitly.
 */
#ifndef FL_OPTIONS_H
#define FL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "fusefs/error.h"

enum fl_kind {
	FL_KIND_STATIC,
	FL_KIND_DYNAMIC,  /* an archive made writable by copy-on-write (src/dynamic.c) */
	FL_KIND_DYNAMIC_EMPTY,
};

/* One archive or directory option, as given and then as resolved by names.c. */
struct fl_mount_opt {
	enum fl_kind kind;
	const char *option;  /* "--static" / "--dynamic" / "--dynamic-empty", for messages */
	const char *arg;     /* the argument as given (points into argv) */
	char *name;          /* the key: NAME, or the last component of a fixed path */
	char *file;          /* the archive file; NULL for --dynamic-empty */
	bool fixed;          /* NAME was /run/fuselage/NAME */
};

/* --extract (SPEC §8): what to do when no namespace can be made. */
enum fl_extract_policy {
	FL_EXTRACT_DENY,    /* a namespace is required (default) */
	FL_EXTRACT_ALLOW,   /* namespace if possible, else warn and extract to disk */
	FL_EXTRACT_PREFER,  /* unprivileged: extract without trying; otherwise as allow */
	FL_EXTRACT_FORCE,   /* always extract to disk, no namespace */
};

struct fl_options {
	struct fl_mount_opt *mounts;
	size_t nmounts;
	const char *run_path;  /* --run PATH, or NULL */
	bool verbose;
	bool map_root;
	bool cache_static;     /* --cache-static (SPEC §6) */
	bool loop;             /* --loop: kernel squashfs on loop devices (SPEC §7.4) */
	enum fl_extract_policy extract;  /* --extract=POLICY (SPEC §8) */
	bool help;
	bool version;
	char **command;  /* NULL-terminated, points into argv; may be empty with --run */
	int ncommand;
};

/*
 * fl_options_parse() - parse @argv into @ret.  Returns 0, or -EINVAL with a
 * usage message in @err.  On success the caller frees with fl_options_done().
 * Strings in @ret point into @argv, which must outlive @ret.
 */
int fl_options_parse(int argc, char **argv, struct fl_options *ret, struct fl_error *err);

/* fl_options_done() - free what fl_options_parse() and names.c allocated. */
void fl_options_done(struct fl_options *opts);

/* fl_options_usage() - the --help text (stdout format). */
const char *fl_options_usage(void);

#endif
