/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/cache.c: cache keys (compared with sha256sum, base64
 * text keyed like the zip it decodes to, formats that are never cached),
 * entry names, FUSELAGE_CACHE_MAX_AGE_DAYS, the reaper table with every
 * rule at its boundaries, and the reaper on a real directory with symlinks.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/cache.h"
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

TestSuite(cache, .init = setup, .fini = teardown);

/* The first 16 hex digits sha256sum prints for @path. */
static void sha256sum16(const char *path, char out[17])
{
	char cmd[8300];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	p = popen(cmd, "r");
	cr_assert(p);
	cr_assert_eq(fread(out, 1, 16, p), 16);
	out[16] = '\0';
	pclose(p);
}

/* fl_cache_key() of the file @name in dir: its return value, key in @key. */
static int key_of(const char *name, char key[17])
{
	struct fl_error err = { 0 };
	char path[8192];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = fl_test_open(path);
	strcpy(key, "untouched");
	r = fl_cache_key(fd, key, &err);
	close(fd);
	cr_assert_geq(r, 0, "fl_cache_key(%s): %s", name, err.msg);
	return r;
}

static void expect_key_is_sha256sum(const char *name)
{
	char key[17], want[17], path[8192];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(key_of(name, key), 1, "%s: a zip is cacheable", name);
	sha256sum16(path, want);
	cr_assert_str_eq(key, want, "%s: key %s, sha256sum %s", name, key, want);
}

/* A zip of a few files, one of 3 MB of random bytes stored (several read
 * chunks), made with Info-ZIP. */
static void make_zip(void)
{
	if (!fl_test_have("zip"))
		cr_skip_test("zip is not installed");
	cr_assert_eq(fl_test_sh("cd '%s' && mkdir -p t/sub && echo hello > t/hello.txt && "
				"head -c 3000000 /dev/urandom > t/sub/big && "
				"cd t && zip -q -r -0 ../a.zip .",
				dir),
		     0);
}

Test(cache, key_of_a_zip_is_its_sha256_prefix)
{
	make_zip();
	expect_key_is_sha256sum("a.zip");
}

Test(cache, key_of_an_empty_zip)
{
	static const unsigned char empty[22] = { 'P', 'K', 5, 6 };
	char path[8192];

	snprintf(path, sizeof(path), "%s/empty.zip", dir);
	fl_test_write(path, empty, sizeof(empty));
	expect_key_is_sha256sum("empty.zip");
}

Test(cache, key_of_a_zip_with_data_in_front_covers_the_whole_file)
{
	make_zip();
	cr_assert_eq(
	    fl_test_sh("cd '%s' && { printf '#!/bin/sh\\nexit 0\\n'; cat a.zip; } > front.bin",
		       dir),
	    0);
	expect_key_is_sha256sum("front.bin");
}

Test(cache, key_of_base64_text_is_the_key_of_the_decoded_zip)
{
	char want[17], key[17];

	make_zip();
	cr_assert_eq(key_of("a.zip", want), 1);
	/* a #! line, comment lines anywhere, 76 columns, CRLF endings */
	cr_assert_eq(fl_test_sh("cd '%s' && { printf '#!/usr/bin/env fuselage\\n'; "
				"base64 -w 76 a.zip | sed -e '3i#: a comment' -e 's/$/\\r/'; "
				"printf '# the end\\n'; } > a.zip.b64",
				dir),
		     0);
	cr_assert_eq(key_of("a.zip.b64", key), 1, "base64 of a zip is cacheable");
	cr_assert_str_eq(key, want);
	/* one long line */
	cr_assert_eq(fl_test_sh("cd '%s' && base64 -w 0 a.zip > one.b64", dir), 0);
	cr_assert_eq(key_of("one.b64", key), 1);
	cr_assert_str_eq(key, want);
}

Test(cache, only_zips_are_keyed)
{
	char key[17], path[8192];

	snprintf(path, sizeof(path), "%s/text", dir);
	fl_test_write(path, "not an archive\n", 15);
	cr_assert_eq(key_of("text", key), 0, "not an archive");
	cr_assert_str_eq(key, "untouched");
	/* base64 of something that is not a zip, and invalid base64 */
	cr_assert_eq(fl_test_sh("cd '%s' && printf 'hello world, not a zip' | base64 > t.b64 && "
				"printf 'QUJD\\nQ===\\n' > bad.b64",
				dir),
		     0);
	cr_assert_eq(key_of("t.b64", key), 0, "base64 of text");
	cr_assert_eq(key_of("bad.b64", key), 0, "invalid base64: the server says why");
	if (!fl_test_have("mksquashfs"))
		cr_skip_test("mksquashfs is not installed");
	cr_assert_eq(fl_test_sh("cd '%s' && mkdir -p s && echo x > s/x && "
				"mksquashfs s a.sfs -quiet -no-progress >/dev/null && "
				"base64 a.sfs > a.sfs.b64",
				dir),
		     0);
	cr_assert_eq(key_of("a.sfs", key), 0, "squashfs needs no conversion");
	cr_assert_eq(key_of("a.sfs.b64", key), 0, "nor base64 of squashfs");
	cr_assert_str_eq(key, "untouched");
}

Test(cache, names)
{
	char key[17];

	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.sfs", key), FL_CACHE_IMAGE);
	cr_assert_str_eq(key, "0123456789abcdef");
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.complete", NULL), FL_CACHE_MARKER);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.sfs.tmp.123.abcd", NULL), FL_CACHE_TEMP);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.sfs.tmp.", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789ABCDEF.sfs", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcde.sfs", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef0.sfs", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.sfsx", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.id", key), FL_CACHE_ID);
	cr_assert_str_eq(key, "0123456789abcdef");
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.id.tmp.77", NULL), FL_CACHE_TEMP);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.id.tmp.", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.idx", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("0123456789abcdef.id~", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("notes.txt", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind("", NULL), FL_CACHE_UNKNOWN);
	cr_assert_eq(fl_cache_name_kind(".", NULL), FL_CACHE_UNKNOWN);
}

Test(cache, max_age_setting)
{
	bool bad;

	cr_assert_eq(fl_cache_max_age_days(NULL, &bad), 30);
	cr_assert(!bad);
	cr_assert_eq(fl_cache_max_age_days("", &bad), 30);
	cr_assert(!bad);
	cr_assert_eq(fl_cache_max_age_days("0", &bad), 0);
	cr_assert(!bad);
	cr_assert_eq(fl_cache_max_age_days("7", &bad), 7);
	cr_assert(!bad);
	cr_assert_eq(fl_cache_max_age_days("36500", &bad), 36500);
	cr_assert(!bad);
	const char *invalid[] = { "-1", "+3",	 "3 ",
				  " 3", "1.5",	 "abc",
				  "3d", "36501", "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		cr_assert_eq(fl_cache_max_age_days(invalid[i], &bad), 30, "%s", invalid[i]);
		cr_assert(bad, "%s is invalid", invalid[i]);
	}
}

#define NOW ((time_t)1700000000)
#define DAY 86400

/* The table takes the maximum age in seconds (0: never). */
static bool decide_s(const char *name, mode_t type, time_t age, bool has_pair, time_t pair_age,
		     int64_t max_age)
{
	struct fl_cache_item it = { .name = name,
				    .type = type,
				    .mtime = NOW - age,
				    .has_pair = has_pair,
				    .pair_mtime = NOW - pair_age };

	return fl_cache_reap_decide(&it, NOW, max_age);
}

static bool decide(const char *name, mode_t type, time_t age, bool has_pair, time_t pair_age,
		   long max_days)
{
	return decide_s(name, type, age, has_pair, pair_age, (int64_t)max_days * DAY);
}

#define IMG "0123456789abcdef.sfs"
#define MRK "0123456789abcdef.complete"
#define TMP "0123456789abcdef.sfs.tmp.42.deadbeef"

Test(cache, reaper_markers_by_max_age)
{
	/* older than max age: removed; exactly max age or younger: kept */
	cr_assert(decide(MRK, S_IFREG, DAY + 1, true, 0, 1));
	cr_assert(!decide(MRK, S_IFREG, DAY, true, 0, 1));
	cr_assert(!decide(MRK, S_IFREG, DAY - 1, true, 0, 1));
	cr_assert(decide(MRK, S_IFREG, 31 * DAY, true, 0, 30));
	cr_assert(!decide(MRK, S_IFREG, 29 * DAY, true, 0, 30));
	/* 0 = never */
	cr_assert(!decide(MRK, S_IFREG, 10000 * DAY, true, 0, 0));
	/* a marker from the future (clock skew) is young */
	cr_assert(!decide(MRK, S_IFREG, -5 * DAY, true, 0, 1));
}

Test(cache, reaper_images_follow_their_marker)
{
	/* the image's own age does not matter while it has a marker */
	cr_assert(decide(IMG, S_IFREG, 0, true, DAY + 1, 1));
	cr_assert(!decide(IMG, S_IFREG, 100 * DAY, true, DAY, 1));
	cr_assert(!decide(IMG, S_IFREG, 100 * DAY, true, 10, 1));
	cr_assert(!decide(IMG, S_IFREG, 100 * DAY, true, 100 * DAY, 0));
}

Test(cache, reaper_never_an_entry_used_in_the_last_minute)
{
	/* with a maximum age of a second, only the 60 s rule keeps them */
	for (time_t age = 0; age < 60; age++) {
		cr_assert(!decide_s(MRK, S_IFREG, age, true, 0, 1), "age %ld", (long)age);
		cr_assert(!decide_s(IMG, S_IFREG, 100 * DAY, true, age, 1), "age %ld", (long)age);
	}
	cr_assert(decide_s(MRK, S_IFREG, 60, true, 0, 1));
	cr_assert(decide_s(IMG, S_IFREG, 0, true, 60, 1));
	cr_assert(decide_s(MRK, S_IFREG, 61, true, 0, 59));
	cr_assert(!decide_s(MRK, S_IFREG, 59, true, 0, 0));
}

Test(cache, reaper_orphans_after_an_hour)
{
	/* an image without marker, a marker without image, a temporary file */
	cr_assert(decide(IMG, S_IFREG, 3601, false, 0, 30));
	cr_assert(!decide(IMG, S_IFREG, 3600, false, 0, 30));
	cr_assert(!decide(IMG, S_IFREG, 60, false, 0, 30));
	cr_assert(decide(TMP, S_IFREG, 3601, false, 0, 30));
	cr_assert(!decide(TMP, S_IFREG, 3600, false, 0, 30));
	cr_assert(!decide(TMP, S_IFREG, 10, false, 0, 30));
	cr_assert(decide(MRK, S_IFREG, 3601, false, 0, 30));
	cr_assert(!decide(MRK, S_IFREG, 3600, false, 0, 30));
	/* leftovers go even when entries never expire */
	cr_assert(decide(IMG, S_IFREG, 2 * 3600, false, 0, 0));
	cr_assert(decide(TMP, S_IFREG, 2 * 3600, false, 0, 0));
}

Test(cache, reaper_never_touches_unknown_names_or_non_files)
{
	const char *unknown[] = {
		"README", "0123456789abcdef",	  "0123456789abcdef.sfs~", "0123456789ABCDEF.sfs",
		"x.sfs",  ".0123456789abcdef.sfs"
	};
	const mode_t types[] = { S_IFLNK, S_IFDIR, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK };

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		cr_assert(!decide(unknown[i], S_IFREG, 1000 * DAY, false, 0, 1), "%s", unknown[i]);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		cr_assert(!decide(IMG, types[i], 1000 * DAY, false, 0, 1));
		cr_assert(!decide(IMG, types[i], 1000 * DAY, true, 1000 * DAY, 1));
		cr_assert(!decide(MRK, types[i], 1000 * DAY, false, 0, 1));
		cr_assert(!decide(TMP, types[i], 1000 * DAY, false, 0, 1));
	}
}

#define RID "0123456789abcdef.id"
#define RIDTMP "0123456789abcdef.id.tmp.42"

Test(cache, reaper_remembered_keys_by_max_age)
{
	/* a remembered key ages like a marker: by its own last use */
	cr_assert(decide(RID, S_IFREG, DAY + 1, false, 0, 1));
	cr_assert(!decide(RID, S_IFREG, DAY, false, 0, 1));
	cr_assert(!decide_s(RID, S_IFREG, 59, false, 0, 1));
	cr_assert(decide_s(RID, S_IFREG, 60, false, 0, 1));
	cr_assert(!decide(RID, S_IFREG, 10000 * DAY, false, 0, 0));
	cr_assert(!decide(RID, S_IFLNK, 10000 * DAY, false, 0, 1));
	/* one being written: a leftover after an hour */
	cr_assert(decide(RIDTMP, S_IFREG, 3601, false, 0, 0));
	cr_assert(!decide(RIDTMP, S_IFREG, 3600, false, 0, 30));
}

/* fl_cache_id(): every field of the identity counts, to the nanosecond. */
Test(cache, file_identity)
{
	struct stat a = { .st_dev = 2049, .st_ino = 1234, .st_size = 4096 }, b;
	char ia[17], ib[17];

	a.st_mtim = (struct timespec){ 1700000000, 5 };
	a.st_ctim = (struct timespec){ 1700000001, 7 };
	cr_assert(fl_cache_id(&a, ia), "libcrypto loads");
	cr_assert_eq(strlen(ia), 16);
	cr_assert_eq(fl_cache_name_kind(strcat(strcpy((char[32]){ 0 }, ia), ".id"), NULL),
		     FL_CACHE_ID, "%s is a valid id", ia);
	b = a;
	fl_cache_id(&b, ib);
	cr_assert_str_eq(ia, ib, "the same identity, the same id");
	struct stat v[7];
	const char *what[7] = { "dev", "ino", "size", "mtime ns", "mtime s", "ctime ns", "ctime s" };

	for (int i = 0; i < 7; i++)
		v[i] = a;
	v[0].st_dev++;
	v[1].st_ino++;
	v[2].st_size++;
	v[3].st_mtim.tv_nsec++;
	v[4].st_mtim.tv_sec++;
	v[5].st_ctim.tv_nsec++;
	v[6].st_ctim.tv_sec++;
	for (int i = 0; i < 7; i++) {
		fl_cache_id(&v[i], ib);
		cr_assert_str_neq(ia, ib, "a different %s, a different id", what[i]);
	}
	/* fields other than the identity do not count */
	b = a;
	b.st_atim.tv_sec++;
	b.st_mode = 0755;
	fl_cache_id(&b, ib);
	cr_assert_str_eq(ia, ib, "atime and mode are not identity");
}

/* --- the reaper on a real directory -------------------------------------------- */

static void make_aged(const char *name, time_t age, time_t now)
{
	char path[8192];
	struct timespec ts[2] = { { now - age, 0 }, { now - age, 0 } };

	snprintf(path, sizeof(path), "%s/cache/%s", dir, name);
	fl_test_write(path, "x", 1);
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static bool exists(const char *where, const char *name)
{
	char path[8192];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, where, name);
	return lstat(path, &st) == 0;
}

Test(cache, reaper_on_a_directory)
{
	time_t now = time(NULL);
	char path[8192], target[8192];
	int fd;

	snprintf(path, sizeof(path), "%s/cache", dir);
	fl_test_mkdirs(path);
	snprintf(path, sizeof(path), "%s/outside", dir);
	fl_test_mkdirs(path);
	/* old: removed */
	make_aged("aaaaaaaaaaaaaaaa.sfs", 5 * DAY, now);
	make_aged("aaaaaaaaaaaaaaaa.complete", 2 * DAY, now);
	/* recently used: kept */
	make_aged("bbbbbbbbbbbbbbbb.sfs", 5 * DAY, now);
	make_aged("bbbbbbbbbbbbbbbb.complete", 10, now);
	/* orphans */
	make_aged("cccccccccccccccc.sfs", 2 * 3600, now);
	make_aged("dddddddddddddddd.sfs", 60, now);
	make_aged("eeeeeeeeeeeeeeee.sfs.tmp.1.2", 2 * 3600, now);
	make_aged("ffffffffffffffff.sfs.tmp.1.2", 60, now);
	/* unknown */
	make_aged("notes.txt", 100 * DAY, now);
	/* symlinks to old files outside: neither the link nor the file goes */
	snprintf(target, sizeof(target), "%s/outside/victim", dir);
	fl_test_write(target, "keep", 4);
	struct timespec old[2] = { { now - 100 * DAY, 0 }, { now - 100 * DAY, 0 } };
	cr_assert_eq(utimensat(AT_FDCWD, target, old, 0), 0);
	const char *links[] = { "1111111111111111.sfs", "1111111111111111.complete",
				"2222222222222222.sfs.tmp.1.2" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/cache/%s", dir, links[i]);
		cr_assert_eq(symlink(target, path), 0);
		cr_assert_eq(utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW), 0);
	}
	/* a directory named like an image */
	snprintf(path, sizeof(path), "%s/cache/3333333333333333.sfs", dir);
	fl_test_mkdirs(path);

	snprintf(path, sizeof(path), "%s/cache", dir);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fl_cache_expire(fd, now, DAY), 4);
	close(fd);

	cr_assert(!exists("cache", "aaaaaaaaaaaaaaaa.sfs"));
	cr_assert(!exists("cache", "aaaaaaaaaaaaaaaa.complete"));
	cr_assert(exists("cache", "bbbbbbbbbbbbbbbb.sfs"));
	cr_assert(exists("cache", "bbbbbbbbbbbbbbbb.complete"));
	cr_assert(!exists("cache", "cccccccccccccccc.sfs"));
	cr_assert(exists("cache", "dddddddddddddddd.sfs"));
	cr_assert(!exists("cache", "eeeeeeeeeeeeeeee.sfs.tmp.1.2"));
	cr_assert(exists("cache", "ffffffffffffffff.sfs.tmp.1.2"));
	cr_assert(exists("cache", "notes.txt"));
	for (size_t i = 0; i < 3; i++)
		cr_assert(exists("cache", links[i]), "symlink %s kept", links[i]);
	cr_assert(exists("cache", "3333333333333333.sfs"));
	cr_assert(exists("outside", "victim"));
}
