/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: format detection (fusefs/detect.c) on a crafted file, and for
 * what it calls base64, the decoding and the detection of the decoded bytes
 * that fl_archive_open() would do next.
 */
#include <config.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/b64.h"
#include "fusefs/detect.h"
#include "fuzz/fuzz.h"

static void check_result(int r, const struct fl_detected *d, const struct fl_error *err,
			 size_t size, bool decoded)
{
	FL_FUZZ_CHECK(r <= 0 && r >= -4095);
	if (r < 0) {
		FL_FUZZ_CHECK(err->errnum == -r && err->msg[0]);
		FL_FUZZ_CHECK(strlen(err->msg) < sizeof(err->msg));
		return;
	}
	FL_FUZZ_CHECK(d->format == FL_FORMAT_ZIP || d->format == FL_FORMAT_SQFS ||
		      (d->format == FL_FORMAT_BASE64 && !decoded));
	FL_FUZZ_CHECK(d->offset < size || (d->offset == 0 && size == 0) ||
		      d->format != FL_FORMAT_SQFS);
	if (d->format == FL_FORMAT_SQFS)
		FL_FUZZ_CHECK(d->offset + 4 <= size);
	if (d->elf)
		FL_FUZZ_CHECK(d->format == FL_FORMAT_SQFS && d->offset % 4096 == 0);
	FL_FUZZ_CHECK(fl_format_name(d->format)[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_error err = { 0 };
	struct fl_detected d = { 0 };
	int fd = fl_fuzz_memfd(data, size), dfd = -1;
	int r;

	if (fd < 0)
		return 0;
	r = fl_detect(fd, &d, &err);
	check_result(r, &d, &err, size, false);
	if (r == 0 && d.format == FL_FORMAT_BASE64) {
		fl_error_clear(&err);
		r = fl_b64_decode_fd(fd, &dfd, &err);
		FL_FUZZ_CHECK(r <= 0 && r >= -4095);
		if (r == 0) {
			struct stat st;

			FL_FUZZ_CHECK(dfd >= 0 && fstat(dfd, &st) == 0);
			FL_FUZZ_CHECK((uint64_t)st.st_size <= size / 4 * 3 + 3);
			fl_error_clear(&err);
			d = (struct fl_detected){ 0 };
			r = fl_detect_decoded(dfd, &d, &err);
			check_result(r, &d, &err, (size_t)st.st_size, true);
			close(dfd);
		} else {
			FL_FUZZ_CHECK(err.errnum == -r && err.msg[0]);
		}
	}
	/* The decoded-bytes variant on the same input: never base64. */
	fl_error_clear(&err);
	d = (struct fl_detected){ 0 };
	r = fl_detect_decoded(fd, &d, &err);
	check_result(r, &d, &err, size, true);
	close(fd);
	return 0;
}
