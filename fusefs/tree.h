/* SPDX-License-Identifier: MIT */
/*
 * The archive tree interface: a small read-only vtable that every backend
 * (zip, squashfs, and later the copy-on-write layer) implements and that the
 * FUSE layer (fusefs/ll.c) serves.  It follows the FUSE low-level verbs.
 *
 * Contract for every implementation:
 *  - Node ids are plain uint64_t values owned by the backend, never pointers:
 *    a bad id must be a bounds check returning -ENOENT (or -EIO), never
 *    undefined behaviour.  FL_TREE_ROOT (1) is always the root directory;
 *    0 is never a valid id.  Without a forget op, ids are stable for the
 *    tree's lifetime and the FUSE layer needs no lookup counting.  With one
 *    (writable trees), see "Lookup counting" below.
 *  - The write ops are optional as a group: a tree whose create op is NULL
 *    is read-only and the FUSE layer answers every write with EROFS.
 *  - Every operation returns 0 (or a byte count where stated) or -errno, and
 *    never prints, exits or aborts, whatever the archive holds.
 *  - Every operation may be called concurrently from several threads.
 *  - struct stat values carry the archive's own ownership and mode bits; the
 *    FUSE layer squashes owners to the caller and masks set-id bits.
 *    st_ino is the inode number to show (hard links share it); st_nlink,
 *    st_size, st_blocks, st_mtim/st_atim/st_ctim and st_rdev are filled.
 */
#ifndef FL_TREE_H
#define FL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "fusefs/error.h"

#define FL_TREE_ROOT ((uint64_t)1)

struct fl_tree;

/* What fl_tree_ops.setattr changes (bits of fl_tree_setattr.valid). */
#define FL_TREE_SET_MODE      (1u << 0)
#define FL_TREE_SET_SIZE      (1u << 1)
#define FL_TREE_SET_ATIME     (1u << 2) /* to .atime */
#define FL_TREE_SET_MTIME     (1u << 3) /* to .mtime */
#define FL_TREE_SET_ATIME_NOW (1u << 4)
#define FL_TREE_SET_MTIME_NOW (1u << 5)

struct fl_tree_setattr {
	unsigned valid;
	mode_t mode; /* permission bits (07777) */
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
};

/*
 * fl_tree_fill_fn - readdir callback.
 * @name: entry name (NUL-terminated, never "." or "..", never containing '/')
 * @node: the entry's node id; 0 allowed in trees with forget (see below)
 * @st: the entry's full attributes (as getattr would return); trees with
 *  forget need only fill st_ino and the type bits of st_mode
 * @next_off: the cookie that makes readdir resume *after* this entry; never 0
 * Returns true when the caller's buffer is full: the entry was NOT taken and
 * the backend must stop and return 0.
 */
typedef bool (*fl_tree_fill_fn)(void *ctx, const char *name, uint64_t node, const struct stat *st,
				uint64_t next_off);

struct fl_tree_ops {
	/* Find @name in directory @dir.  -ENOENT if absent, -ENOTDIR if @dir
	 * is not a directory. */
	int (*lookup)(struct fl_tree *t, uint64_t dir, const char *name, uint64_t *ret_node);
	int (*getattr)(struct fl_tree *t, uint64_t node, struct stat *ret_st);
	/* List @dir starting after cookie @off (0 = from the start), calling
	 * @fill per entry until it returns true or the directory ends.  "." and
	 * ".." are not listed (the FUSE layer adds them). */
	int (*readdir)(struct fl_tree *t, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
		       void *ctx);
	/* Open a regular file for reading; *ret_fh is passed back to read and
	 * release.  -EISDIR for directories; -EACCES for encrypted entries is
	 * allowed here or at read time. */
	int (*open)(struct fl_tree *t, uint64_t node, uint64_t *ret_fh);
	/* Read up to @size bytes at @off; returns the byte count (short only at
	 * end of file) or -errno (-EIO for damaged data). */
	ssize_t (*read)(struct fl_tree *t, uint64_t node, uint64_t fh, void *buf, size_t size,
			uint64_t off);
	void (*release)(struct fl_tree *t, uint64_t node, uint64_t fh);
	/* Copy the symlink target, NUL-terminated, into @buf of @size bytes;
	 * returns its length, -ERANGE if it does not fit, -EINVAL if @node is
	 * not a symlink. */
	ssize_t (*readlink)(struct fl_tree *t, uint64_t node, char *buf, size_t size);
	/* All xattr names, each NUL-terminated, with their full prefix
	 * ("user.x\0trusted.y\0").  @size 0 returns the size needed; -ERANGE if
	 * @buf is too small.  May be NULL: no xattrs. */
	ssize_t (*listxattr)(struct fl_tree *t, uint64_t node, char *buf, size_t size);
	/* Value of xattr @name (full prefix).  @size 0 returns the size needed;
	 * -ENODATA if absent; -ERANGE if too small.  May be NULL. */
	ssize_t (*getxattr)(struct fl_tree *t, uint64_t node, const char *name, void *buf,
			    size_t size);
	int (*statfs)(struct fl_tree *t, struct statvfs *ret_st);
	/* Free everything, including the archive descriptor. */
	void (*destroy)(struct fl_tree *t);

	/*
	 * --- Writable trees only (all NULL in a read-only tree). ---
	 *
	 * Lookup counting: lookup, create, mknod, mkdir, symlink and link each
	 * count one reference on the node they return; forget drops @nlookup of
	 * them.  A node that is referenced, open or still named keeps its id;
	 * once none of these holds, its id may be reused.  readdir's @node may
	 * then be 0 ("not looked up"), so the FUSE layer serves such trees with
	 * plain readdir, never readdirplus (which would count references).
	 *
	 * Modes passed in already have the caller's umask applied; set-id bits
	 * are kept as given (the FUSE layer hides them).
	 */
	void (*forget)(struct fl_tree *t, uint64_t node, uint64_t nlookup);
	/* Open with open(2) @flags (any access mode, O_TRUNC, O_APPEND); the
	 * handle goes to read, write, fsync, release like open()'s.  Opening for
	 * writing (or O_TRUNC) may copy data; reading never does. */
	int (*open_flags)(struct fl_tree *t, uint64_t node, int flags, uint64_t *ret_fh);
	/* Create and open a regular file @name in @dir; -EEXIST if taken. */
	int (*create)(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, int flags,
		      uint64_t *ret_node, uint64_t *ret_fh);
	/* Write @size bytes at @off through a handle opened for writing; returns
	 * the byte count or -errno (-ENOSPC when the upper layer is full). */
	ssize_t (*write)(struct fl_tree *t, uint64_t node, uint64_t fh, const void *buf,
			 size_t size, uint64_t off);
	int (*fsync)(struct fl_tree *t, uint64_t node, uint64_t fh, bool datasync);
	/* posix fallocate(2) @mode on a handle opened for writing. */
	int (*fallocate)(struct fl_tree *t, uint64_t node, uint64_t fh, int mode, uint64_t off,
			 uint64_t len);
	/* Change what @sa->valid names; @fh is a handle of @node or 0. */
	int (*setattr)(struct fl_tree *t, uint64_t node, uint64_t fh,
		       const struct fl_tree_setattr *sa);
	/* Regular files, fifos and sockets; -EPERM for device nodes. */
	int (*mknod)(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		     uint64_t *ret_node);
	int (*mkdir)(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode,
		     uint64_t *ret_node);
	int (*symlink)(struct fl_tree *t, uint64_t dir, const char *name, const char *target,
		       uint64_t *ret_node);
	/* A new name for @node (not a directory: -EPERM). */
	int (*link)(struct fl_tree *t, uint64_t node, uint64_t dir, const char *name,
		    uint64_t *ret_node);
	int (*unlink)(struct fl_tree *t, uint64_t dir, const char *name);
	int (*rmdir)(struct fl_tree *t, uint64_t dir, const char *name);
	/* rename(2) with renameat2 flags RENAME_NOREPLACE or RENAME_EXCHANGE;
	 * other flags -EINVAL. */
	int (*rename)(struct fl_tree *t, uint64_t dir, const char *name, uint64_t newdir,
		      const char *newname, unsigned flags);
	/* setxattr(2) flags XATTR_CREATE/XATTR_REPLACE; full names. */
	int (*setxattr)(struct fl_tree *t, uint64_t node, const char *name, const void *value,
			size_t size, int flags);
	int (*removexattr)(struct fl_tree *t, uint64_t node, const char *name);
};

/* Every backend embeds this as its first member. */
struct fl_tree {
	const struct fl_tree_ops *ops;
};

/* Options common to the backends' constructors. */
struct fl_tree_opts {
	/* Called for each skipped or repaired entry (unsafe zip names, ...);
	 * may be NULL.  Called only from the constructor's thread. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

/* fl_tree_writable() - whether @t has the write ops. */
static inline bool fl_tree_writable(const struct fl_tree *t)
{
	return t->ops->create != NULL;
}

/* fl_tree_free() - destroy a tree; NULL is allowed. */
static inline void fl_tree_free(struct fl_tree *t)
{
	if (t)
		t->ops->destroy(t);
}

#endif
