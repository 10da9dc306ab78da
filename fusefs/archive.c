/* SPDX-License-Identifier: MIT */
/* Detection + base64 decoding + backend dispatch (see archive.h). */
#include <config.h>

#include <unistd.h>

#include "fusefs/archive.h"
#include "fusefs/b64.h"
#include "fusefs/sqfs_tree.h"
#include "fusefs/zip_tree.h"

static int open_backend(int fd, const struct fl_detected *d, const struct fl_tree_opts *opts,
			struct fl_tree **ret_tree, struct fl_error *err)
{
	if (d->format == FL_FORMAT_SQFS)
		return fl_sqfs_tree_open(fd, d->offset, opts, ret_tree, err);
	return fl_zip_tree_open(fd, opts, ret_tree, err);
}

/* Base64 text in @fd: decode it into memory, detect and open that. */
static int open_base64(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		       struct fl_detected *ret_d, struct fl_error *err)
{
	int mfd, r;

	r = fl_b64_decode_fd(fd, &mfd, err);
	if (r < 0)
		return r;
	r = fl_detect_decoded(mfd, ret_d, err);
	if (r < 0)
		goto close_mfd;
	r = open_backend(mfd, ret_d, opts, ret_tree, err);
	if (r < 0) {
		fl_error_prefix(err, "decoded from base64");
		goto close_mfd;
	}
	/* The tree owns the memory file; the text is no longer needed. */
	close(fd);
	return 0;
close_mfd:
	close(mfd);
	return r;
}

int fl_archive_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		    enum fl_format *ret_format, struct fl_error *err)
{
	struct fl_detected d;
	int r;

	r = fl_detect(fd, &d, err);
	if (r < 0)
		return r;
	if (d.format == FL_FORMAT_BASE64)
		r = open_base64(fd, opts, ret_tree, &d, err);
	else
		r = open_backend(fd, &d, opts, ret_tree, err);
	if (r == 0)
		*ret_format = d.format;
	return r;
}
