/* SPDX-License-Identifier: MIT */
/*
 * Opening an archive of any supported format as an archive tree: detection
 * plus the backend's constructor.  The one entry point the command uses.
 */
#ifndef FL_ARCHIVE_H
#define FL_ARCHIVE_H

#include "fusefs/detect.h"
#include "fusefs/tree.h"

/*
 * fl_archive_open() - detect @fd's format and open it.  On success the tree
 * owns @fd and *@ret_format says what it was; on failure @fd is left open and
 * @err has a one-line reason.
 */
int fl_archive_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		    enum fl_format *ret_format, struct fl_error *err);

#endif
