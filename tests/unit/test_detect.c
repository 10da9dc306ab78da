/* SPDX-License-Identifier: MIT */
/* Unit tests for fusefs/detect.c: detection by content (SPEC §4). */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fusefs/detect.h"
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

TestSuite(detect, .init = setup, .fini = teardown);

static int detect_file(const char *name, struct fl_detected *d, struct fl_error *e)
{
	char p[4200];
	int fd, r;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = fl_test_open(p);
	r = fl_detect(fd, d, e);
	close(fd);
	return r;
}

static void put(const char *name, const void *data, size_t len)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fl_test_write(p, data, len);
}

Test(detect, squashfs_magic)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	put("a.zip", "hsqs\0\0\0\0", 8); /* the name does not matter */
	cr_assert_eq(detect_file("a.zip", &d, &e), 0);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(d.offset, 0);
}

Test(detect, zip_magics)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	put("a", "PK\3\4rest", 8);
	cr_assert_eq(detect_file("a", &d, &e), 0);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	put("b", "PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22);
	cr_assert_eq(detect_file("b", &d, &e), 0);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
}

Test(detect, zip_with_data_in_front)
{
	struct fl_detected d;
	struct fl_error e = { 0 };
	char buf[100 + 22 + 5];

	memset(buf, '#', 100);
	memcpy(buf + 100, "PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\5\0", 22);
	memcpy(buf + 122, "hello", 5); /* a 5-byte comment reaching the end */
	put("sfx", buf, sizeof(buf));
	cr_assert_eq(detect_file("sfx", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	/* A comment length that does not reach the end is not an EOCD. */
	buf[120] = 4;
	put("bad", buf, sizeof(buf));
	cr_assert_eq(detect_file("bad", &d, &e), -EINVAL);
}

Test(detect, real_zip_from_zip_tool)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	if (!fl_test_have("zip"))
		cr_skip_test("zip not installed");
	cr_assert_eq(fl_test_sh("cd %s && echo x > f && printf '#!/bin/sh\\n' > pre && "
				"zip -q a.zip f && cat pre a.zip > pyz",
				dir),
		     0);
	cr_assert_eq(detect_file("a.zip", &d, &e), 0);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	cr_assert_eq(detect_file("pyz", &d, &e), 0);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
}

Test(detect, unrecognised_and_empty)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	put("text", "just some text\n", 15);
	cr_assert_eq(detect_file("text", &d, &e), -EINVAL);
	cr_assert(strstr(e.msg, "not a recognised archive (tried:"), "%s", e.msg);
	put("empty", "", 0);
	cr_assert_eq(detect_file("empty", &d, &e), -EINVAL);
	cr_assert(strstr(e.msg, "empty file"), "%s", e.msg);
}

Test(detect, directory_refused)
{
	struct fl_detected d;
	struct fl_error e = { 0 };
	int fd = fl_test_open(dir);

	cr_assert_eq(fl_detect(fd, &d, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "not a regular file");
	close(fd);
}
