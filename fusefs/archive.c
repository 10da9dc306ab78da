/* SPDX-License-Identifier: MIT */
/* Detection + backend dispatch (see archive.h). */
#include <config.h>

#include "fusefs/archive.h"
#include "fusefs/sqfs_tree.h"
#include "fusefs/zip_tree.h"

int fl_archive_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		    enum fl_format *ret_format, struct fl_error *err)
{
	struct fl_detected d;
	int r;

	r = fl_detect(fd, &d, err);
	if (r < 0)
		return r;
	if (d.format == FL_FORMAT_SQFS)
		r = fl_sqfs_tree_open(fd, d.offset, opts, ret_tree, err);
	else
		r = fl_zip_tree_open(fd, opts, ret_tree, err);
	if (r == 0)
		*ret_format = d.format;
	return r;
}
