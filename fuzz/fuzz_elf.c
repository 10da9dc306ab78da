/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the ELF extent rule (fusefs/elf.c) on a crafted file.
 */
#include <config.h>

#include <unistd.h>

#include "fusefs/elf.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_error err = { 0 }, err2 = { 0 };
	uint64_t end = 0, off = 0;
	int fd = fl_fuzz_memfd(data, size);
	int r, r2;

	if (fd < 0)
		return 0;
	(void)fl_elf_is_elf(data, size);
	r = fl_elf_extent(fd, size, &end, &err);
	FL_FUZZ_CHECK(r <= 0 && r >= -4095);
	if (r == 0) {
		FL_FUZZ_CHECK(end <= size);
	} else {
		FL_FUZZ_CHECK(err.errnum == -r && err.msg[0]);
	}
	/* The image offset is the extent rounded up, with the same verdict. */
	r2 = fl_elf_image_offset(fd, size, &off, &err2);
	FL_FUZZ_CHECK(r2 == r);
	if (r == 0)
		FL_FUZZ_CHECK(off % FL_ELF_ALIGN == 0 && off >= end && off - end < FL_ELF_ALIGN);
	/* A size smaller than the file: never an extent past it. */
	if (size > 1) {
		r = fl_elf_extent(fd, size / 2, &end, &err);
		FL_FUZZ_CHECK(r < 0 || end <= size / 2);
	}
	close(fd);
	return 0;
}
