/* SPDX-License-Identifier: MIT */
/*
 * One fuselage run: the state shared by the setup steps (layout.c), the
 * server process (serve.c) and supervision (supervise.c), and the sequence
 * of named steps that fl_run() performs.
 */
#ifndef FL_RUN_H
#define FL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fusefs/error.h"
#include "src/options.h"
#include "src/priv.h"

/* How --dynamic archives are made writable (src/dynamic.c). */
enum fl_dynamic_backend {
	FL_DYNAMIC_NONE,     /* no --dynamic archive in this run */
	FL_DYNAMIC_OVERLAY,  /* kernel overlayfs over the read-only FUSE mount */
	FL_DYNAMIC_FUSE,     /* the copy-on-write tree inside the server */
};

struct fl_run_mount {
	const struct fl_mount_opt *opt;
	char *dir;        /* where the command sees it (absolute) */
	int target_fd;    /* O_PATH descriptor of that directory, in the namespace */
	int archive_fd;   /* the archive, opened as the caller; -1 for directories */
	int fuse_fd;      /* /dev/fuse descriptor; -1 until mounted */
	int lower_fd;     /* --dynamic: root of the FUSE mount under the overlay, or -1 */
	int upper_fd;     /* --dynamic: upper and work directories in the run's tmpfs, or -1 */
	int work_fd;
	char cache_key[17];  /* --cache-static: 16 hex digits, "" when not cached */
	bool cache_convert;  /* --cache-static miss: convert after the server is ready */
	bool extracted;      /* SPEC §8: extracted into dir instead of served */
	bool loop;           /* --loop: kernel squashfs on a loop device (src/loop.c) */
	uint64_t loop_offset, loop_size;  /* the image's bytes in the file */
};

struct fl_run {
	const struct fl_options *opts;
	const struct fl_creds *creds;
	char **env;               /* the caller's environment, for the command */
	char *home;               /* $FUSELAGE_HOME */
	char *procdir;            /* $FUSELAGE_HOME/procdirs/<pid> */
	char *tmpdir, *static_dir, *dynamic_dir;  /* NULL when unused */
	int run_fd;               /* root of this run's tmpfs */
	long cache_max_age_days;  /* --cache-static expiry (FUSELAGE_CACHE_MAX_AGE_DAYS) */
	bool on_disk;             /* extract-and-run: no namespace (SPEC §8) */
	int cleaner_fd;           /* extract-and-run: EOF when the cleaner is done; else -1 */
	struct fl_run_mount *mounts;  /* one per opts->mounts */
	size_t nmounts;
	enum fl_dynamic_backend dynamic_backend;  /* chosen by fl_dynamic_choose() */
	char dynamic_why[256];    /* why that backend (for -v and errors) */
};

/*
 * fl_run() - perform the whole run and return fuselage's exit status (or not
 * return at all when the command died of a signal that is re-raised).
 * Errors are printed here, as "fuselage: <what>: <why>".
 */
int fl_run(const struct fl_options *opts, struct fl_creds *creds, char **env);

#endif
