/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the base64 decoder (fusefs/b64.c).  The same text is decoded
 * three ways, which must agree byte for byte and on the verdict: fed whole,
 * fed in chunks split where the input's own bytes say, and through
 * fl_b64_decode_fd() into a memory file.  fl_b64_sniff() runs in all its
 * modes and must agree with the decoder where b64.h says it does.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fusefs/b64.h"
#include "fuzz/fuzz.h"

/* Decode @data in chunks of the sizes @split gives; returns the byte count
 * or -EINVAL, with the bytes in @out. */
static ssize_t decode(const uint8_t *data, size_t size, const uint8_t *split, size_t nsplit,
		      unsigned char *out, struct fl_b64 *s, struct fl_error *err)
{
	size_t off = 0, w = 0, k = 0;

	fl_b64_init(s);
	while (off < size) {
		size_t n = nsplit ? (size_t)split[k++ % nsplit] % 23 + 1 : size;
		ssize_t r;

		if (n > size - off)
			n = size - off;
		r = fl_b64_feed(s, data + off, n, out + w, err);
		if (r < 0)
			return r;
		FL_FUZZ_CHECK((size_t)r <= FL_B64_OUT_MAX(n));
		w += (size_t)r;
		off += n;
	}
	if (fl_b64_finish(s, err) < 0)
		return -EINVAL;
	return (ssize_t)w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_error e1 = { 0 }, e2 = { 0 }, e3 = { 0 };
	unsigned char *o1, *o2;
	struct fl_b64 s1, s2;
	ssize_t r1, r2;
	int fd, mfd = -1, r3;

	if (size > (1 << 20))
		return 0;
	o1 = malloc(FL_B64_OUT_MAX(size) + 1);
	o2 = malloc(size * 3 + 3); /* chunks of 1 byte each may round up */
	if (!o1 || !o2)
		goto out;
	r1 = decode(data, size, NULL, 0, o1, &s1, &e1);
	r2 = decode(data, size, data, size < 16 ? size : 16, o2, &s2, &e2);
	FL_FUZZ_CHECK(r1 == r2);
	if (r1 >= 0) {
		FL_FUZZ_CHECK(memcmp(o1, o2, (size_t)r1) == 0);
		FL_FUZZ_CHECK((size_t)r1 <= size / 4 * 3);
		FL_FUZZ_CHECK(s1.nchars % 4 == 0);
	} else {
		FL_FUZZ_CHECK(r1 == -EINVAL && e1.msg[0] && e2.msg[0]);
		FL_FUZZ_CHECK(strcmp(e1.msg, e2.msg) == 0);
	}

	fd = fl_fuzz_memfd(data, size);
	if (fd >= 0) {
		r3 = fl_b64_decode_fd(fd, &mfd, &e3);
		FL_FUZZ_CHECK((r3 == 0) == (r1 >= 0));
		if (r3 == 0) {
			unsigned char *o3 = malloc((size_t)r1 + 1);
			ssize_t n = o3 ? pread(mfd, o3, (size_t)r1 + 1, 0) : -1;

			FL_FUZZ_CHECK(!o3 || n == r1);
			FL_FUZZ_CHECK(!o3 || memcmp(o1, o3, (size_t)r1) == 0);
			free(o3);
			/* sealed: cannot be written */
			FL_FUZZ_CHECK(pwrite(mfd, "x", 1, 0) < 0);
			close(mfd);
		} else {
			FL_FUZZ_CHECK(strcmp(e1.msg, e3.msg) == 0);
		}
		close(fd);
	}

	/* sniff: accepting the whole text means decoding it succeeds, as far
	 * as the non-strict rule of whole files promises; strict agrees with
	 * the decoder exactly for a whole file. */
	{
		bool lax = fl_b64_sniff(data, size, true, false);
		bool strict = fl_b64_sniff(data, size, true, true);

		(void)fl_b64_sniff(data, size, false, false);
		(void)fl_b64_sniff(data, size, false, true);
		FL_FUZZ_CHECK(!strict || lax);
		FL_FUZZ_CHECK(strict == (r1 >= 0 && s1.nchars >= 4));
		if (r1 >= 0)
			FL_FUZZ_CHECK(lax == (s1.nchars > 0));
	}
out:
	free(o1);
	free(o2);
	return 0;
}
