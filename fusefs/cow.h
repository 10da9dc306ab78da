/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write tree: a writable archive tree (tree.h, write ops
 * included) over any read-only lower tree and an upper directory on the
 * run's tmpfs.  Written files are copied up as real files there; names,
 * whiteouts, renames, directories, symlinks and metadata live in memory,
 * since the session is ephemeral.  It never writes to the lower tree and never
 * opens anything outside the upper directory.
 */
#ifndef FL_COW_H
#define FL_COW_H

#include <stddef.h>

#include "fusefs/error.h"
#include "fusefs/tree.h"

/*
 * fl_cow_new() - a copy-on-write tree over @lower.
 * @upper_fd: an open directory (O_RDONLY|O_DIRECTORY) that the calling
 *  credentials may write; copied-up and created files are kept there under
 *  names the tree picks, and removed again when no longer needed.
 * On success the tree owns @lower and @upper_fd (fl_tree_free() destroys
 * both); on failure the caller still owns them.
 */
int fl_cow_new(struct fl_tree *lower, int upper_fd, struct fl_tree **ret_tree,
	       struct fl_error *err);

/* fl_cow_nodes() - how many nodes @t holds now (for tests of lookup counting). */
size_t fl_cow_nodes(struct fl_tree *t);

#endif
