/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fusefs/b64.c: the streaming base64 decoder (blocks,
 * padding, comments, CRLF, any width, bad input), the sniffer, and decoding
 * a file into a sealed memfd.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/b64.h"
#include "tests/unit/helpers.h"

static char dir[4096];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
}

static void teardown(void)
{
	fl_test_rmtree(dir);
}

TestSuite(b64, .init = setup, .fini = teardown);

/* Decode @in fed in pieces of @step bytes (0: at once).  Returns the decoded
 * length or -errno; the output (malloc'd, caller frees) in *ret. */
static ssize_t decode(const char *in, size_t len, size_t step, unsigned char **ret,
		      struct fl_error *e)
{
	unsigned char *out = malloc(FL_B64_OUT_MAX(len) + 3);
	struct fl_b64 s;
	size_t w = 0;

	cr_assert(out);
	if (step == 0)
		step = len ? len : 1;
	fl_b64_init(&s);
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		ssize_t r = fl_b64_feed(&s, in + off, n, out + w, e);

		if (r < 0) {
			free(out);
			return r;
		}
		w += (size_t)r;
	}
	int r = fl_b64_finish(&s, e);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	return (ssize_t)w;
}

/* Decoding @in (at once and byte by byte) gives exactly @want. */
static void expect(const char *in, const char *want)
{
	for (size_t step = 0; step <= 1; step++) {
		struct fl_error e = { 0 };
		unsigned char *out = NULL;
		ssize_t n = decode(in, strlen(in), step, &out, &e);

		cr_assert_eq(n, (ssize_t)strlen(want), "\"%s\" (step %zu): %zd %s", in, step, n,
			     e.msg);
		cr_assert_eq(memcmp(out, want, strlen(want)), 0, "\"%s\"", in);
		free(out);
	}
}

/* Decoding @in fails with exactly the message @msg, whatever the split. */
static void expect_error(const char *in, const char *msg)
{
	for (size_t step = 0; step <= 3; step++) {
		struct fl_error e = { 0 };
		unsigned char *out = NULL;
		ssize_t n = decode(in, strlen(in), step, &out, &e);

		cr_assert_eq(n, -EINVAL, "\"%s\" (step %zu) decoded", in, step);
		cr_assert_str_eq(e.msg, msg, "\"%s\" (step %zu)", in, step);
	}
}

/* A reference encoder, lines of @width characters (0: one line). */
static char *encode(const unsigned char *p, size_t len, size_t width, const char *eol)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t cap = (len + 2) / 3 * 4 * (1 + strlen(eol)) + 16, o = 0, col = 0;
	char *s = malloc(cap);

	cr_assert(s);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		char q[4] = { abc[v >> 18 & 63], abc[v >> 12 & 63],
			      i + 1 < len ? abc[v >> 6 & 63] : '=',
			      i + 2 < len ? abc[v & 63] : '=' };

		for (int k = 0; k < 4; k++) {
			s[o++] = q[k];
			if (width && ++col == width) {
				o += (size_t)sprintf(s + o, "%s", eol);
				col = 0;
			}
		}
	}
	o += (size_t)sprintf(s + o, "%s", eol);
	s[o] = 0;
	return s;
}

Test(b64, blocks_and_padding)
{
	expect("", "");
	expect("YWJj", "abc");
	expect("YWI=", "ab");
	expect("YQ==", "a");
	expect("aGVsbG8gd29ybGQ=", "hello world");
	expect("aGVsbG8gd29ybGQh", "hello world!");
	expect("+/+/", "\xfb\xff\xbf");
	expect("YQ=\n=\n", "a"); /* padding split across lines */
}

Test(b64, comments_anywhere)
{
	expect("#!/bin/sh\n#: fuselage payload\nYWJj\n# in the middle: $%^&*\nZGVm\n#end",
	       "abcdef");
	expect("#\n#\n\n\nYWJj\n\n#last line without newline", "abc");
	expect("# only comments\n#: and more\n", "");
	/* '#' starts a comment only at the start of a line */
	expect_error("YWJj#x\n", "invalid base64 on line 1: bad character '#'");
	expect_error("YWJj\n #x\n", "invalid base64 on line 2: whitespace inside the line");
}

Test(b64, crlf_and_trailing_whitespace)
{
	expect("YWJj\r\nZGVm\r\n", "abcdef");
	expect("#! comment\r\nYWJj \t\r\nZGVm\t\n\r\n", "abcdef");
	expect("  \n\t\nYWJj", "abc"); /* blank lines of whitespace */
	expect_error("YW Jj\n", "invalid base64 on line 1: whitespace inside the line");
	expect_error("YWJj\rZGVm\n", "invalid base64 on line 1: whitespace inside the line");
}

Test(b64, any_width)
{
	static const size_t widths[] = { 0, 1, 3, 4, 60, 64, 76, 1000 };
	size_t len = 100003;
	unsigned char *data = malloc(len);

	cr_assert(data);
	srand(7);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rand();
	for (size_t k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
		for (int crlf = 0; crlf <= 1; crlf++) {
			char *text = encode(data, len, widths[k], crlf ? "\r\n" : "\n");
			for (size_t step = 0; step <= 4099; step += 4099) {
				struct fl_error e = { 0 };
				unsigned char *out = NULL;
				ssize_t n = decode(text, strlen(text), step, &out, &e);

				cr_assert_eq(n, (ssize_t)len, "width %zu: %s", widths[k], e.msg);
				cr_assert_eq(memcmp(out, data, len), 0, "width %zu", widths[k]);
				free(out);
			}
			free(text);
		}
	}
	free(data);
}

Test(b64, bad_characters)
{
	expect_error("YW*j", "invalid base64 on line 1: bad character '*'");
	expect_error("YWJj\nZG-m\n", "invalid base64 on line 2: bad character '-'");
	expect_error("YWJj\n\nZG_m\n", "invalid base64 on line 3: bad character '_'");
	expect_error("YW\001j", "invalid base64 on line 1: bad character 0x01");
	expect_error("YWJj\n\xc3\xa9", "invalid base64 on line 2: bad character 0xc3");
	/* a NUL byte (strlen stops there, so feed it directly) */
	struct fl_b64 s;
	struct fl_error e = { 0 };
	unsigned char out[16];

	fl_b64_init(&s);
	cr_assert_eq(fl_b64_feed(&s, "YW\0j", 4, out, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "invalid base64 on line 1: bad character 0x00");
}

Test(b64, wrong_padding)
{
	expect_error("=AAA", "invalid base64 on line 1: misplaced '=' padding");
	expect_error("Y===", "invalid base64 on line 1: misplaced '=' padding");
	expect_error("YQ=a", "invalid base64 on line 1: data after the '=' padding");
	expect_error("YQ==YWJj", "invalid base64 on line 1: data after the '=' padding");
	expect_error("YQ==\n#c\nYQ==\n", "invalid base64 on line 3: data after the '=' padding");
	expect_error("YWJj====", "invalid base64 on line 1: misplaced '=' padding");
}

Test(b64, truncated)
{
	expect_error("YWJ", "truncated base64: 3 characters, not a multiple of 4 (line 1)");
	expect_error("YWJjZ\n", "truncated base64: 5 characters, not a multiple of 4 (line 2)");
	expect_error("YQ=", "truncated base64: 3 characters, not a multiple of 4 (line 1)");
}

Test(b64, sniff)
{
	const char pyz[] = "#!/usr/bin/env python3\nPK\003\004\024\0\0\0";
	char damaged[200];

	cr_assert(fl_b64_sniff("UEsDBBQAAAAIAA", 14, false, false));
	cr_assert(fl_b64_sniff("#!/bin/sh\n#: x\r\nUEsDBB\r\n", 24, true, false));
	cr_assert(fl_b64_sniff("# a long header of comments\n#", 29, false, false));
	cr_assert_not(fl_b64_sniff("# a long header of comments\n#", 29, true, false));
	cr_assert_not(fl_b64_sniff(pyz, sizeof(pyz) - 1, false, false));
	cr_assert_not(fl_b64_sniff("hello world\n", 12, true, false));
	cr_assert_not(fl_b64_sniff("\177ELF\2\1\1", 7, false, false));
	cr_assert_not(fl_b64_sniff("hsqs\0\0\0", 7, false, false));
	/* cut anywhere, even inside a CRLF or padding, is fine when not whole */
	cr_assert(fl_b64_sniff("YWJj\r", 5, false, false));
	cr_assert(fl_b64_sniff("YQ=", 3, false, false));
	/* a single word is base64 (truncated: the decode says so), but not
	 * base64 again in decoded bytes */
	cr_assert(fl_b64_sniff("hello\n", 6, true, false));
	cr_assert_not(fl_b64_sniff("hello\n", 6, true, true));
	cr_assert(fl_b64_sniff("aGVsbG8K\n", 9, true, true));
	cr_assert_not(fl_b64_sniff("aGVsbG8K\n!", 10, false, true));
	/* damage after FL_B64_SNIFF_MIN characters is damaged base64; before,
	 * it is not base64 at all */
	memset(damaged, 'A', sizeof(damaged));
	damaged[FL_B64_SNIFF_MIN] = '!';
	cr_assert(fl_b64_sniff(damaged, sizeof(damaged), true, false));
	cr_assert_not(fl_b64_sniff(damaged, sizeof(damaged), true, true));
	damaged[FL_B64_SNIFF_MIN] = 'A';
	damaged[FL_B64_SNIFF_MIN - 1] = '!';
	cr_assert_not(fl_b64_sniff(damaged, sizeof(damaged), true, false));
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int decode_file(const char *text, size_t len, int *ret_mfd, struct fl_error *e)
{
	char p[4200];
	int fd, r;

	snprintf(p, sizeof(p), "%s/in.b64", dir);
	fl_test_write(p, text, len);
	fd = fl_test_open(p);
	r = fl_b64_decode_fd(fd, ret_mfd, e);
	close(fd);
	return r;
}

Test(b64, decode_fd_into_sealed_memfd)
{
	size_t len = 300001; /* several read chunks */
	unsigned char *data = malloc(len), *back = malloc(len + 1);
	struct fl_error e = { 0 };
	char link[64], target[256];
	struct stat st;
	ssize_t n;
	int mfd = -1;

	cr_assert(data && back);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7 + i / 256);
	char *text = encode(data, len, 76, "\r\n");
	char *withhdr = malloc(strlen(text) + 64);
	cr_assert(withhdr);
	sprintf(withhdr, "#!/bin/sh\n#: payload\n%s#: end\n", text);
	cr_assert_eq(decode_file(withhdr, strlen(withhdr), &mfd, &e), 0, "%s", e.msg);
	cr_assert_eq(fstat(mfd, &st), 0);
	cr_assert_eq(st.st_size, (off_t)len);
	n = pread(mfd, back, len + 1, 0);
	cr_assert_eq(n, (ssize_t)len);
	cr_assert_eq(memcmp(back, data, len), 0);
	/* an anonymous memory file, close-on-exec, sealed */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", mfd);
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = 0;
	cr_assert_str_eq(target, "/memfd:fuselage-b64 (deleted)");
	cr_assert(fcntl(mfd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(fcntl(mfd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK),
		     F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
	cr_assert_eq(pwrite(mfd, "x", 1, 0), -1);
	close(mfd);
	free(text);
	free(withhdr);
	free(data);
	free(back);
}

Test(b64, decode_fd_errors_leave_nothing_open)
{
	struct fl_error e = { 0 };
	int before = count_fds(), mfd = -1;

	cr_assert_eq(decode_file("YWJj\nYW!j\n", 10, &mfd, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "invalid base64 on line 2: bad character '!'");
	cr_assert_eq(decode_file("YWJjY", 5, &mfd, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "truncated base64: 5 characters, not a multiple of 4 (line 1)");
	cr_assert_eq(mfd, -1);
	cr_assert_eq(count_fds(), before);
	/* empty input: an empty memfd */
	cr_assert_eq(decode_file("", 0, &mfd, &e), 0, "%s", e.msg);
	cr_assert_geq(mfd, 0);
	close(mfd);
}
