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
 *    0 is never a valid id.  Ids are stable for the tree's lifetime, so the
 *    FUSE layer needs no lookup counting.
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

#include "fusefs/error.h"

#define FL_TREE_ROOT ((uint64_t)1)

struct fl_tree;

/*
 * fl_tree_fill_fn - readdir callback.
 * @name: entry name (NUL-terminated, never "." or "..", never containing '/')
 * @node: the entry's node id
 * @st: the entry's full attributes (as getattr would return)
 * @next_off: the cookie that makes readdir resume *after* this entry; never 0
 * Returns true when the caller's buffer is full: the entry was NOT taken and
 * the backend must stop and return 0.
 */
typedef bool (*fl_tree_fill_fn)(void *ctx, const char *name, uint64_t node,
				 const struct stat *st, uint64_t next_off);

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

/* fl_tree_free() - destroy a tree; NULL is allowed. */
static inline void fl_tree_free(struct fl_tree *t)
{
	if (t)
		t->ops->destroy(t);
}

#endif
