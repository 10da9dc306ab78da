/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the zip backend (fusefs/zip_tree.c, zip_cd.c, inflate.c,
 * zip_other.c) over a crafted file: open, walk everything, read every file.
 */
#include <config.h>

#include <unistd.h>

#include "fusefs/zip_tree.h"
#include "fuzz/fuzz.h"

static void on_warn(void *ctx, const char *msg)
{
	FL_FUZZ_CHECK(msg && msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_tree_opts opts = { .warn = on_warn };
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	int fd = fl_fuzz_memfd(data, size);
	int r;

	if (fd < 0)
		return 0;
	r = fl_zip_tree_open(fd, &opts, &t, &err);
	if (r < 0) {
		FL_FUZZ_CHECK(r >= -4095 && err.errnum == -r && err.msg[0]);
		close(fd);
		return 0;
	}
	fl_fuzz_walk(t);
	fl_tree_free(t);
	return 0;
}
