/* SPDX-License-Identifier: MIT */
/*
 * --cache-static (SPEC §6): zip --static archives converted once to squashfs
 * in $FUSELAGE_HOME/cache/ and served from there by later runs.  Every file
 * operation here runs as the caller (root mode: as root, whose cache it is),
 * never with privilege borrowed from a setuid-root binary, and never follows
 * a symlink; the conversion program itself never runs as root.
 *
 * Cache entries: <key>.sfs (the image), <key>.complete (an empty marker whose
 * mtime is the last use), <key>.sfs.tmp.<pid>.<random> (a conversion under
 * way), <id>.id (the key of one archive file, remembered: see fl_cache_id())
 * and <id>.id.tmp.<pid> (one being written).  <key> and <id> are 16
 * lower-case hex digits.
 */
#ifndef FL_CACHE_H
#define FL_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "fusefs/error.h"
#include "src/run.h"

#define FL_CACHE_KEY_LEN	      16
#define FL_CACHE_DEFAULT_MAX_AGE_DAYS 30
#define FL_CACHE_MIN_AGE	      60   /* seconds: an entry used this recently is kept */
#define FL_CACHE_ORPHAN_AGE	      3600 /* seconds: leftovers of interrupted conversions */

/*
 * fl_cache_key() - the cache key of the archive in @fd: the first 16 hex
 * digits of the SHA-256 of its bytes (all of the file, from offset 0, read
 * with pread), or, for base64 text, of the decoded bytes (decoded streaming,
 * never stored whole).  Only zip archives are cached: returns 1 and writes
 * @ret_key (NUL-terminated) for a zip, 0 for any other format (@ret_key
 * untouched), -errno with @err on read or decoding errors.
 */
int fl_cache_key(int fd, char ret_key[FL_CACHE_KEY_LEN + 1], struct fl_error *err);

/*
 * fl_cache_id() - the identity of the file @st describes (device, inode,
 * size, mtime and ctime, to the nanosecond), as 16 hex digits: the name of
 * the <id>.id file that remembers its key, so that a later run on the same,
 * unmodified file need not hash it again.  Any write to the file changes its
 * ctime (which no caller can set), so a changed file gets a new identity and
 * is hashed afresh.  False when libcrypto cannot be loaded (@ret_id
 * untouched).
 */
bool fl_cache_id(const struct stat *st, char ret_id[FL_CACHE_KEY_LEN + 1]);

enum fl_cache_name {
	FL_CACHE_UNKNOWN, /* not a name the cache makes: never touched */
	FL_CACHE_IMAGE,	  /* <key>.sfs */
	FL_CACHE_MARKER,  /* <key>.complete */
	FL_CACHE_TEMP,	  /* <key>.sfs.tmp.<anything>, <id>.id.tmp.<anything> */
	FL_CACHE_ID,	  /* <id>.id: a remembered key */
};

/* fl_cache_name_kind() - what @name is; *@ret_key (may be NULL) gets its key. */
enum fl_cache_name fl_cache_name_kind(const char *name, char ret_key[FL_CACHE_KEY_LEN + 1]);

/* One directory entry as the reaper sees it (fstatat AT_SYMLINK_NOFOLLOW). */
struct fl_cache_item {
	const char *name;
	mode_t type; /* st_mode & S_IFMT: only S_IFREG is ever removed */
	time_t mtime;
	bool has_pair;	   /* images: <key>.complete exists as a regular file;
				 markers: <key>.sfs does */
	time_t pair_mtime; /* its mtime */
};

/*
 * fl_cache_reap_decide() - the reaper table: true when @it is to be removed
 * at time @now.  Only regular files with names the cache makes are ever
 * removed.  An image or marker goes when the marker is older than @max_age
 * seconds (0: never) and not younger than FL_CACHE_MIN_AGE; an
 * image without a marker, a marker without an image and a temporary file go
 * when older than FL_CACHE_ORPHAN_AGE (whatever @max_age_days says: they are
 * leftovers of interrupted conversions or removals).  A remembered key
 * (<id>.id, touched at each use) goes by the same age rule as a marker.
 */
bool fl_cache_reap_decide(const struct fl_cache_item *it, time_t now, int64_t max_age);

/*
 * fl_cache_max_age_days() - FUSELAGE_CACHE_MAX_AGE_DAYS: a decimal number of
 * days, 0 for never.  NULL or empty: the default.  Anything else (a sign,
 * junk, more than 100 years): the default, and *@ret_invalid is set.
 */
long fl_cache_max_age_days(const char *value, bool *ret_invalid);

/*
 * fl_cache_lookup() - run step, after the layout and before the FUSE mounts:
 * in a short-lived child that has dropped to the caller
 * (fl_priv_drop_to_caller), key every zip --static archive (from its
 * remembered <id>.id when the file is unchanged, else by hashing it, then
 * remembering the key), create
 * $FUSELAGE_HOME/cache/ if needed and look each key up.  A hit (image and
 * marker present, both regular files of the caller's) touches the marker and
 * replaces the mount's archive_fd by the image, opened by the child; a miss
 * sets the mount's cache_key and cache_convert (or prints the one-line note
 * when mksquashfs is missing).  No-op without --cache-static.
 */
int fl_cache_lookup(struct fl_run *run, struct fl_error *err);

/*
 * fl_cache_convert() - run step, after the server is ready and setup has
 * dropped privilege for good: for each miss, run mksquashfs (never as root:
 * fl_priv_drop_for_helper) on the served directory into a temporary file in
 * cache/, then publish it with rename(RENAME_NOREPLACE) and create the
 * marker.  A run that loses the race deletes its own image.  Failures are
 * printed as one-line notes and never fail the run: the zip stays served.
 */
void fl_cache_convert(struct fl_run *run);

/*
 * fl_cache_expire_start() - at exit, once the command's status is known: a
 * detached process (double fork, setsid, stdio on /dev/null, no other
 * descriptor) removes what fl_cache_reap_decide() says, as the caller.
 * @max_age_days as from fl_cache_max_age_days().  No-op without
 * --cache-static.  Returns at once.
 */
void fl_cache_expire_start(const struct fl_run *run, long max_age_days);

/* fl_cache_expire() - the reaper's work, synchronously, on the directory
 * @cache_fd, with @max_age in seconds (0: never); returns the number of
 * entries removed, or -1 when the directory cannot be read. */
int fl_cache_expire(int cache_fd, time_t now, int64_t max_age);

/* --- shared by cache.c and cache_convert.c ---------------------------------- */

/*
 * fl_cache_open_dir() - $FUSELAGE_HOME/cache as an O_PATH descriptor, never
 * through a symlink and only when owned by the caller; created 0700 when
 * @create.  Call as the caller.
 */
int fl_cache_open_dir(const struct fl_run *run, bool create, int *ret_fd, struct fl_error *err);

/*
 * fl_cache_find_tool() - mksquashfs in the fixed PATH
 * /usr/sbin:/usr/bin:/sbin:/bin, or (testing knob, never in setuid mode)
 * the absolute path in the caller's FUSELAGE_MKSQUASHFS.  True and the path
 * in @buf when it is an executable regular file.
 */
bool fl_cache_find_tool(const struct fl_run *run, char *buf, size_t len);

#endif
