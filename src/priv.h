/* SPDX-License-Identifier: MIT */
/*
 * Privilege: how fuselage was started (SPEC §7) and every credential change.
 * This file and ns.c are the only places that make privileged syscalls
 * (setfsuid, setres[ug]id, setgroups, capset, unshare, mounts); the build
 * enforces that with tests/check-privileged-calls.
 */
#ifndef FL_PRIV_H
#define FL_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusefs/error.h"

enum fl_mode {
	FL_MODE_UNPRIV,  /* ordinary user: user namespace + mount namespace */
	FL_MODE_SETUID,  /* setuid-root binary run by an ordinary user */
	FL_MODE_ROOT,    /* run by root: a plain mount namespace */
};

#define FL_MAX_GROUPS 65536
#define FL_PRIV_MIN_STACK (256 * 1024)  /* RLIMIT_STACK floor, bytes */
#define FL_PRIV_MIN_NOFILE 64           /* RLIMIT_NOFILE floor */
#define FL_PRIV_NOBODY 65534  /* root mode: the server and helper programs run as this */

struct fl_creds {
	enum fl_mode mode;
	uid_t uid;          /* the caller's real uid */
	gid_t gid;          /* the caller's real gid */
	gid_t *groups;      /* the caller's supplementary groups */
	int ngroups;
	mode_t umask;       /* the caller's umask, restored for the command */
	uid_t inner_uid;    /* the caller's uid as seen inside the namespace */
	gid_t inner_gid;
};

/*
 * fl_priv_init() - classify the run and make the process safe to continue:
 * refuse odd credential sets (setgid-only, an euid that is neither 0 nor the
 * caller's) and stack or open-file limits below FL_PRIV_MIN_*, make fds 0-2
 * valid, set a private umask (the caller's is kept),
 * and in setuid mode switch the filesystem ids to the caller so that every
 * path walk from here on is the caller's.
 */
int fl_priv_init(struct fl_creds *c, bool map_root, struct fl_error *err);

/* fl_priv_done() - free what fl_priv_init() allocated. */
void fl_priv_done(struct fl_creds *c);

const char *fl_priv_mode_name(enum fl_mode mode);

/*
 * fl_priv_drop_for_command() - give up privilege for good before the command
 * exists: setuid mode becomes exactly the caller (uid, gid, supplementary
 * groups) and regaining root is verified to fail; unprivileged mode drops the
 * user namespace capabilities; root mode keeps root (SPEC §7.3).
 */
int fl_priv_drop_for_command(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_priv_drop_for_server() - the server's drop, done first thing after fork:
 * setuid mode becomes the caller, root mode becomes nobody (the archives are
 * already open), unprivileged mode drops every capability; then no_new_privs.
 * The server parses untrusted archives with libraries that have known
 * memory-safety bugs, so it must never hold privilege.
 */
int fl_priv_drop_for_server(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_priv_nobody_mapped() - does this user namespace map uid 65534?  False
 * only in a user namespace that maps a few ids (unshare -r), whose root is
 * then just its creator outside.
 */
bool fl_priv_nobody_mapped(void);

/*
 * fl_priv_drop_for_extract() - the drop of the child that parses the archives
 * and extracts them (SPEC §8): the server's drop (setuid: the caller; root:
 * nobody; unprivileged: no capabilities; no_new_privs), also when setup has
 * already dropped for good (extract-and-run).  It parses the same untrusted
 * bytes as the server, so it never holds privilege either.
 */
int fl_priv_drop_for_extract(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_priv_drop_to_caller() - for short-lived children that touch the caller's
 * own files (the --cache-static lookup): setuid mode becomes exactly the
 * caller, as fl_priv_drop_for_server(); root mode stays root (the caller is
 * root, and root's cache belongs to root); unprivileged mode drops every
 * capability.  Then no_new_privs.
 */
int fl_priv_drop_to_caller(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_priv_drop_for_helper() - in a child about to exec a helper program
 * (mksquashfs), which never runs as root: root mode becomes nobody holding
 * only CAP_DAC_READ_SEARCH (ambient: it reads the served archive, whose
 * files appear as root's, and nothing else of root's is writable); setuid
 * mode must already have dropped (fl_priv_drop_for_command) and refuses
 * otherwise; unprivileged mode drops every capability.  Then no_new_privs.
 * fl_priv_helper_uid() - the uid the helper will run as, which must own any
 * file it is to write through a descriptor.
 */
int fl_priv_drop_for_helper(const struct fl_creds *c, struct fl_error *err);
uid_t fl_priv_helper_uid(const struct fl_creds *c);

/*
 * fl_priv_fs_root() / fl_priv_fs_caller() - in setuid mode, switch the
 * filesystem ids to root for one operation on a trusted path (opening
 * /dev/fuse) and back.  No-ops in the other modes.
 */
void fl_priv_fs_root(const struct fl_creds *c);
void fl_priv_fs_caller(const struct fl_creds *c);

#endif
