/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the squashfs backend (fusefs/sqfs_tree.c over libsquashfuse)
 * on a crafted image: open, walk everything, read every file.  The image
 * starts at 0, or where format detection puts it (an image appended to an
 * ELF file, SPEC §4).
 */
#include <config.h>

#include <unistd.h>

#include "fusefs/detect.h"
#include "fusefs/sqfs_tree.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_error err = { 0 };
	struct fl_detected det = { 0 };
	struct fl_tree *t = NULL;
	uint64_t offset = 0;
	int fd = fl_fuzz_memfd(data, size);
	int r;

	if (fd < 0)
		return 0;
	if (fl_detect(fd, &det, NULL) == 0 && det.format == FL_FORMAT_SQFS)
		offset = det.offset;
	r = fl_sqfs_tree_open(fd, offset, NULL, &t, &err);
	if (r < 0) {
		FL_FUZZ_CHECK(r >= -4095 && err.errnum == -r && err.msg[0]);
		close(fd);
		return 0;
	}
	fl_fuzz_walk(t);
	fl_tree_free(t);
	return 0;
}
