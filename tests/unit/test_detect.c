/* SPDX-License-Identifier: MIT */
/* Unit tests for fusefs/detect.c: detection by content (SPEC §4). */
#include <config.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/archive.h"
#include "fusefs/b64.h"
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
	cr_assert_str_eq(e.msg, "not a recognised archive (tried: squashfs, zip and ELF signatures "
				"at the start, a zip end record at the end, base64 text)");
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

/* Detect @name: it must be base64 text; decode it and detect the result. */
static int detect_b64(const char *name, struct fl_detected *d, struct fl_error *e)
{
	char p[4200];
	int fd, mfd, r;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = fl_test_open(p);
	r = fl_detect(fd, d, e);
	cr_assert_eq(r, 0, "%s: %s", name, e->msg);
	cr_assert_eq(d->format, FL_FORMAT_BASE64, "%s", name);
	r = fl_b64_decode_fd(fd, &mfd, e);
	close(fd);
	if (r < 0)
		return r;
	r = fl_detect_decoded(mfd, d, e);
	close(mfd);
	return r;
}

static void need(const char *tool)
{
	if (!fl_test_have(tool))
		cr_skip_test("%s not installed", tool);
}

/* Inputs in $dir: z.zip, front.zip (data in front), s.sqfs, app (ELF +
 * squashfs), and base64 forms of each with herescript headers and CRLF. */
static void make_inputs(void)
{
	need("zip");
	need("mksquashfs");
	need("base64");
	cr_assert_eq(
	    fl_test_sh("cd %s && mkdir -p t && echo hi > t/f && "
		       "(cd t && zip -q ../z.zip f) && "
		       "{ printf '#!/bin/sh\\necho launcher\\n'; cat z.zip; } > front.zip && "
		       "mksquashfs t s.sqfs -noappend -quiet -no-progress >/dev/null && "
		       "cp /bin/true app && truncate -s %%4096 app && cat s.sqfs >> app && "
		       "for f in z.zip front.zip s.sqfs app; do "
		       "{ printf '#!/usr/bin/env fuselage\\n#: payload\\n'; base64 -w 76 $f; "
		       "printf '#: end\\n'; } > $f.b64; done && "
		       "sed 's/$/\\r/' z.zip.b64 > crlf.b64 && base64 -w 0 s.sqfs > oneline.b64",
		       dir),
	    0);
}

Test(detect, base64_of_every_format)
{
	struct fl_detected d;
	struct fl_error e = { 0 };
	struct stat st;
	char p[4200];

	make_inputs();
	cr_assert_eq(detect_b64("z.zip.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	cr_assert_eq(detect_b64("front.zip.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	cr_assert_eq(detect_b64("crlf.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	cr_assert_eq(detect_b64("s.sqfs.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(d.offset, 0);
	cr_assert_eq(detect_b64("oneline.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(detect_b64("app.b64", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert(d.elf);
	cr_assert_eq(stat("/bin/true", &st), 0);
	cr_assert_eq(d.offset, ((uint64_t)st.st_size + 4095) / 4096 * 4096);
	/* the ELF itself, not encoded */
	snprintf(p, sizeof(p), "%s/app", dir);
	int fd = fl_test_open(p);
	cr_assert_eq(fl_detect(fd, &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(d.offset, ((uint64_t)st.st_size + 4095) / 4096 * 4096);
	close(fd);
}

Test(detect, base64_errors)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	make_inputs();
	/* base64 of base64: one level only */
	cr_assert_eq(fl_test_sh("cd %s && base64 z.zip.b64 > twice.b64 && "
				"printf 'just text, not an archive\\n' | base64 > text.b64 && "
				"base64 /bin/true > true.b64",
				dir),
		     0);
	cr_assert_eq(detect_b64("twice.b64", &d, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "base64 text that decodes to base64 text again (only one level "
				"of base64 is decoded)");
	cr_assert_eq(detect_b64("text.b64", &d, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "base64 text that decodes to something that is not an archive");
	cr_assert_eq(detect_b64("true.b64", &d, &e), -EINVAL);
	cr_assert(strstr(e.msg, "decoded from base64: ELF file with no squashfs image at offset "),
		  "%s", e.msg);
	/* a bad character after the first 4 KiB: detected as base64, the
	 * decode fails naming the line */
	cr_assert_eq(fl_test_sh("cd %s && { head -c 6000 /dev/zero | base64 -w 76; echo 'AB~D'; } "
				"> late.b64",
				dir),
		     0);
	cr_assert_eq(detect_b64("late.b64", &d, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "invalid base64 on line 107: bad character '~'");
}

Test(detect, elf_variants)
{
	struct fl_detected d;
	struct fl_error e = { 0 };

	need("zip");
	/* an ELF stub in front of a zip (self-extracting zip): a zip */
	cr_assert_eq(fl_test_sh("cd %s && echo x > f && zip -q a.zip f && "
				"cat /bin/true a.zip > sfx && head -c 40 /bin/true > short",
				dir),
		     0);
	cr_assert_eq(detect_file("sfx", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_ZIP);
	cr_assert_eq(detect_file("short", &d, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "truncated ELF header");
}

static int count_fds(void)
{
	DIR *dd = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(dd);
	while (readdir(dd))
		n++;
	closedir(dd);
	return n;
}

/* fl_archive_open() on base64: served from a memfd, the text fd consumed
 * on success and left open on failure, nothing leaked. */
Test(detect, archive_open_base64)
{
	struct fl_tree_opts to = { 0 };
	struct fl_tree *t = NULL;
	struct fl_error e = { 0 };
	enum fl_format fmt;
	struct stat st;
	char p[4200];
	uint64_t node;
	int fd, before;

	make_inputs();
	before = count_fds();
	snprintf(p, sizeof(p), "%s/z.zip.b64", dir);
	fd = fl_test_open(p);
	cr_assert_eq(fl_archive_open(fd, &to, &t, &fmt, &e), 0, "%s", e.msg);
	cr_assert_eq(fmt, FL_FORMAT_ZIP);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the text's descriptor was not closed");
	cr_assert_eq(t->ops->lookup(t, FL_TREE_ROOT, "f", &node), 0);
	cr_assert_eq(t->ops->getattr(t, node, &st), 0);
	cr_assert_eq(st.st_size, 3);
	fl_tree_free(t);
	cr_assert_eq(count_fds(), before);

	cr_assert_eq(fl_test_sh("cd %s && head -c 100 z.zip | base64 > cut.b64", dir), 0);
	snprintf(p, sizeof(p), "%s/cut.b64", dir);
	fd = fl_test_open(p);
	cr_assert_lt(fl_archive_open(fd, &to, &t, &fmt, &e), 0);
	cr_assert(strncmp(e.msg, "decoded from base64: ", 21) == 0, "%s", e.msg);
	cr_assert_geq(fcntl(fd, F_GETFD), 0, "the descriptor must stay open on failure");
	close(fd);
	cr_assert_eq(count_fds(), before);
}

/* A squashfs 4.0 superblock claiming @used bytes, in a file of @size bytes
 * starting at @off. */
static void put_super(const char *name, uint64_t off, uint64_t used, uint16_t major, size_t size)
{
	unsigned char *b = calloc(1, size);

	cr_assert(b);
	memcpy(b + off, "hsqs", 4);
	b[off + 28] = (unsigned char)major;
	for (int i = 0; i < 8; i++)
		b[off + 40 + i] = (unsigned char)(used >> (8 * i));
	put(name, b, size);
	free(b);
}

static int extent(const char *name, uint64_t off, uint64_t *len, struct fl_error *e)
{
	char p[4200];
	int fd, r;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = fl_test_open(p);
	r = fl_detect_sqfs_extent(fd, off, len, e);
	close(fd);
	return r;
}

Test(detect, sqfs_extent)
{
	struct fl_error e = { 0 };
	uint64_t len = 0;

	/* padded to 4 KiB, the padding inside the file */
	put_super("a", 0, 5000, 4, 8192);
	cr_assert_eq(extent("a", 0, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, 8192);
	/* trailing data after the padded image is not covered */
	put_super("b", 0, 4096, 4, 12288);
	cr_assert_eq(extent("b", 0, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, 4096);
	/* an unpadded image: up to the end of the file */
	put_super("c", 0, 5000, 4, 5000);
	cr_assert_eq(extent("c", 0, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, 5000);
	/* at an offset (ELF + squashfs) */
	put_super("d", 4096, 6000, 4, 4096 + 8192 + 100);
	cr_assert_eq(extent("d", 4096, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, 8192);
}

Test(detect, sqfs_extent_refusals)
{
	struct fl_error e = { 0 };
	uint64_t len = 0;

	put_super("trunc", 0, 9000, 4, 8192);
	cr_assert_eq(extent("trunc", 0, &len, &e), -EINVAL);
	cr_assert(strstr(e.msg, "truncated squashfs image (the superblock says 9000 bytes, the "
				"file has 8192 from offset 0)"),
		  "%s", e.msg);
	put_super("small", 0, 95, 4, 4096);
	cr_assert_eq(extent("small", 0, &len, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "squashfs superblock with bytes_used 95");
	put_super("v3", 0, 4096, 3, 4096);
	cr_assert_eq(extent("v3", 0, &len, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "squashfs version 3.0, not 4.0");
	put("short", "hsqs\0\0\0\0", 8);
	cr_assert_eq(extent("short", 0, &len, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "truncated squashfs superblock");
	put_super("off", 0, 4096, 4, 4096);
	cr_assert_eq(extent("off", 8192, &len, &e), -EINVAL);
	cr_assert_eq(extent("off", 100, &len, &e), -EINVAL, "no magic at the offset");
}

Test(detect, sqfs_extent_of_real_images)
{
	struct fl_detected d;
	struct fl_error e = { 0 };
	struct stat st;
	uint64_t len = 0;
	char p[4200];

	make_inputs();
	snprintf(p, sizeof(p), "%s/s.sqfs", dir);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(extent("s.sqfs", 0, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, (uint64_t)st.st_size, "mksquashfs pads to 4 KiB: the whole file");
	cr_assert_eq(detect_file("app", &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(extent("app", d.offset, &len, &e), 0, "%s", e.msg);
	cr_assert_eq(len, (uint64_t)st.st_size, "the appended image, exactly");
}
