/* SPDX-License-Identifier: MIT */
/*
 * Opening an archive of any supported format as an archive tree: detection
 * plus the backend's constructor, with base64 text decoded into memory
 * first.  The one entry point the command uses.
 */
#ifndef FL_ARCHIVE_H
#define FL_ARCHIVE_H

#include "fusefs/detect.h"
#include "fusefs/tree.h"

/*
 * fl_archive_open() - detect @fd's format and open it.  Base64 text is
 * decoded into an anonymous memory file (b64.h) which is then detected and
 * served in its place.
 *
 * On success @fd is consumed: the tree owns it (closed by its destroy) or,
 * for base64 text, it has already been closed and the tree owns the memory
 * file instead; either way the caller must forget @fd.  *@ret_format says
 * what was served (for base64 text: what it decoded to).  On failure @fd is
 * left open, nothing else is, and @err has a one-line reason.
 */
int fl_archive_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		    enum fl_format *ret_format, struct fl_error *err);

#endif
