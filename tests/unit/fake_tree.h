/* SPDX-License-Identifier: MIT */
/*
 * An in-memory archive tree (fusefs/tree.h) for the FUSE layer's unit tests:
 * built node by node, then served read-only and safe for concurrent readers.
 * Builders abort the test (cr_assert) on misuse.  Test code only.
 */
#ifndef FL_FAKE_TREE_H
#define FL_FAKE_TREE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fusefs/tree.h"

/* Owners and inode numbers the fake stores, so tests can see them changed. */
#define FL_FAKE_UID 1234
#define FL_FAKE_GID 5678
#define FL_FAKE_INO_BASE 1000 /* st_ino = base + node id (hard links share it) */

/* Counters that outlive the tree (the server destroys it). */
struct fl_fake_stats {
	atomic_int opens;     /* successful opens */
	atomic_int releases;
	atomic_int destroyed;
};

struct fl_fake_tree;

/* A tree with only the root directory (node FL_TREE_ROOT, mode 0755).
 * @stats may be NULL. */
struct fl_fake_tree *fl_fake_tree_new(struct fl_fake_stats *stats);

/* Add an entry under directory @parent; each returns the new node id. */
uint64_t fl_fake_tree_dir(struct fl_fake_tree *ft, uint64_t parent, const char *name, mode_t mode);
uint64_t fl_fake_tree_file(struct fl_fake_tree *ft, uint64_t parent, const char *name, mode_t mode,
			   const void *data, size_t len);
uint64_t fl_fake_tree_symlink(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			      const char *target);
/* A second node for @target's file: its own node id, the same st_ino and data. */
uint64_t fl_fake_tree_hardlink(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			       uint64_t target);

/* Attach an xattr (full name, e.g. "user.x") to @node. */
void fl_fake_tree_xattr(struct fl_fake_tree *ft, uint64_t node, const char *name,
			const void *value, size_t len);
/* Make every read of @node, or every getattr of it, fail with -@err. */
void fl_fake_tree_fail_read(struct fl_fake_tree *ft, uint64_t node, int err);
void fl_fake_tree_fail_getattr(struct fl_fake_tree *ft, uint64_t node, int err);

/* The tree as the FUSE layer sees it; fl_tree_free() destroys it. */
struct fl_tree *fl_fake_tree_tree(struct fl_fake_tree *ft);

#endif
