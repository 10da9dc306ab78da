/* SPDX-License-Identifier: MIT */
/*
 * The zip backend: an archive tree (tree.h) over a zip file, using libzip for
 * the directory and our own central-directory reader (zip_cd.h) for data
 * offsets, so stored entries are served by pread() and deflated ones through
 * the checkpointed inflater (inflate.h).
 */
#ifndef FL_ZIP_TREE_H
#define FL_ZIP_TREE_H

#include "fusefs/tree.h"

/*
 * fl_zip_tree_open() - open the zip archive in @fd (data in front of the
 * archive, as in self-extracting zips and zipapps, is allowed).  On success
 * the tree owns @fd (closed by destroy); on failure @fd is left open, @err
 * says why in one line and -errno is returned.
 */
int fl_zip_tree_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		     struct fl_error *err);

#endif
