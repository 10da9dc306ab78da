/* SPDX-License-Identifier: MIT */
/*
 * The zip backend: an archive tree (tree.h) over a zip file.  Our own
 * central-directory reader (zip_cd.h) gives the listing and data offsets, so
 * stored entries are served by pread() and deflated ones through the
 * checkpointed inflater (inflate.h), without libzip or a lock.  libzip
 * (through zip_other.h) only decodes entries of other methods it supports
 * (bzip2 with Debian 12's 1.7.3), one thread at a time; the rest read as
 * EIO, encrypted entries as EACCES.
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
