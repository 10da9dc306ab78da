/* SPDX-License-Identifier: MIT */
/*
 * The squashfs backend: an archive tree (tree.h) over libsquashfuse's sqfs_*
 * API, hardened against the memory-safety bugs of libsquashfuse 0.1.105 on
 * crafted images (see doc/decisions.md).
 */
#ifndef FL_SQFS_TREE_H
#define FL_SQFS_TREE_H

#include <stdint.h>

#include "fusefs/tree.h"

/*
 * fl_sqfs_tree_open() - open the squashfs image that starts at byte @offset
 * of @fd.  On success the tree owns @fd (closed by destroy) and *ret_tree is
 * set; on failure @fd is left open, @err says why (one line, e.g. "not a
 * squashfs image", "unsupported compression lzma", "corrupt superblock") and
 * -errno is returned.
 */
int fl_sqfs_tree_open(int fd, uint64_t offset, const struct fl_tree_opts *opts,
		      struct fl_tree **ret_tree, struct fl_error *err);

#endif
