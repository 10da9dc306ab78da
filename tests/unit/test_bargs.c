/* SPDX-License-Identifier: MIT */
/* Unit tests for bundle/bargs.c: baked arguments round-trip exactly, damaged
 * blobs are refused, and the launcher's exec vector follows SPEC §9. */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bargs.h"

static void roundtrip(char *const *args, size_t n)
{
	unsigned char *blob = NULL;
	size_t len = 0, got_n = 0;
	char **got = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_bargs_encode(args, n, &blob, &len, &e), 0);
	cr_assert_eq(fl_bargs_decode(blob, len, &got, &got_n, &e), 0, "%s", e.msg);
	cr_assert_eq(got_n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(got[i], args[i], "argument %zu", i);
	cr_assert_null(got[n]);
	fl_bargs_free(got);
	free(blob);
}

Test(bargs, roundtrip_any_bytes)
{
	char *args[] = { "--static=/run/fuselage/app:/proc/self/exe",
			 "",
			 "with space",
			 "'single' \"double\" `back`",
			 "back\\slash\\",
			 "new\nline\r\n",
			 "tab\there",
			 "ünïcödé 名前 🚀",
			 "\x01\x7f\xff\xfe high and control bytes",
			 "--",
			 "-",
			 "$HOME ${X} $(id) ; | & > <",
			 "*?[a-z]" };

	roundtrip(args, sizeof(args) / sizeof(args[0]));
}

Test(bargs, roundtrip_empty_and_long)
{
	char *big = malloc(200001);
	char *args[] = { big, "" };

	memset(big, 'x', 200000);
	big[200000] = '\0';
	roundtrip(NULL, 0);
	roundtrip(args, 2);
	free(big);
}

Test(bargs, encoding_is_length_prefixed_little_endian)
{
	char *args[] = { "ab", "" };
	unsigned char *blob = NULL;
	size_t len = 0;
	const unsigned char want[] = { 'F', 'L', 'B', 'A', 'R', 'G', 'S', '1', 2, 0, 0,
				       0,   2,	 0,   0,   0,	'a', 'b', 0,   0, 0, 0 };

	cr_assert_eq(fl_bargs_encode(args, 2, &blob, &len, NULL), 0);
	cr_assert_eq(len, sizeof(want));
	cr_assert_arr_eq(blob, want, sizeof(want));
	free(blob);
}

Test(bargs, every_truncation_is_refused)
{
	char *args[] = { "one", "two", "three" };
	unsigned char *blob = NULL;
	size_t len = 0, n;
	char **got;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_bargs_encode(args, 3, &blob, &len, NULL), 0);
	for (size_t cut = 0; cut < len; cut++) {
		cr_assert_eq(fl_bargs_decode(blob, cut, &got, &n, &e), -EINVAL, "cut at %zu", cut);
		cr_assert_neq(e.msg[0], '\0');
	}
	free(blob);
}

Test(bargs, damaged_blobs_are_refused)
{
	char *args[] = { "abc" };
	unsigned char *blob = NULL, *longer;
	size_t len = 0, n;
	char **got;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_bargs_encode(args, 1, &blob, &len, NULL), 0);
	/* a NUL inside an argument could not be passed to exec */
	blob[17] = '\0';
	cr_assert_eq(fl_bargs_decode(blob, len, &got, &n, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "baked argument 1 contains a NUL byte");
	blob[17] = 'b';
	/* stray bytes after the last argument */
	longer = calloc(1, len + 1);
	memcpy(longer, blob, len);
	cr_assert_eq(fl_bargs_decode(longer, len + 1, &got, &n, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "1 stray bytes after the baked arguments");
	/* an impossible count, an impossible length */
	blob[8] = 0xff, blob[9] = 0xff, blob[10] = 0xff, blob[11] = 0x7f;
	cr_assert_eq(fl_bargs_decode(blob, len, &got, &n, &e), -EINVAL);
	blob[8] = 1, blob[9] = 0, blob[10] = 0, blob[11] = 0;
	blob[12] = 0xff, blob[15] = 0xff;
	cr_assert_eq(fl_bargs_decode(blob, len, &got, &n, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "the baked arguments are truncated");
	/* a bad magic */
	blob[0] = 'X';
	cr_assert_eq(fl_bargs_decode(blob, len, &got, &n, &e), -EINVAL);
	free(longer);
	free(blob);
}

Test(bargs, footer)
{
	unsigned char f[FL_BARGS_FOOTER_LEN];
	uint64_t off = 0, len = 0;
	struct fl_error e = { 0 };

	fl_bargs_footer(f, 20000, 100);
	cr_assert_eq(fl_bargs_parse_footer(f, 20104, &off, &len, &e), 0);
	cr_assert_eq(off, 20000);
	cr_assert_eq(len, 100);
	cr_assert_eq(fl_bargs_parse_footer(f, 20100, &off, &len, &e), 0, "no padding");
	cr_assert_eq(fl_bargs_parse_footer(f, 20108, &off, &len, &e), -EINVAL, "8 bytes of gap");
	cr_assert_eq(fl_bargs_parse_footer(f, 20099, &off, &len, &e), -EINVAL, "overlaps");
	fl_bargs_footer(f, UINT64_MAX - 10, 100);
	cr_assert_eq(fl_bargs_parse_footer(f, 20104, &off, &len, &e), -EINVAL, "overflow");
	memset(f, 0, sizeof(f));
	cr_assert_eq(fl_bargs_parse_footer(f, 20104, &off, &len, &e), -ENOENT, "bare stub");
}

Test(bargs, replace_every_self)
{
	char *r = fl_bargs_replace("a:/proc/self/exe,/proc/self/exe/proc/self/exex", "/b 1");

	cr_assert_str_eq(r, "a:/b 1,/b 1/b 1x");
	free(r);
	r = fl_bargs_replace("/proc/self/ex /proc/self/exe", "/p");
	cr_assert_str_eq(r, "/proc/self/ex /p");
	free(r);
	r = fl_bargs_replace("", "/p");
	cr_assert_str_eq(r, "");
	free(r);
}

static void check_argv(char **got, char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(got[i], want[i], "argv[%zu]", i);
	cr_assert_null(got[n]);
}

Test(bargs, exec_argv_adds_dashdash_when_absent)
{
	char *baked[] = { "--static=/run/fuselage/a:/proc/self/exe", "--run", "/run/fuselage/a/x" };
	char *user[] = { "--help", "" };
	char *want[] = { "/usr/bin/fuselage",
			 "--static=/run/fuselage/a:/srv/my app",
			 "--run",
			 "/run/fuselage/a/x",
			 "--",
			 "--help",
			 "" };
	char **got = NULL;

	cr_assert_eq(
	    fl_bargs_exec_argv("/usr/bin/fuselage", baked, 3, "/srv/my app", user, 2, &got, NULL),
	    0);
	check_argv(got, want, 7);
	fl_bargs_free(got);
}

Test(bargs, exec_argv_keeps_a_baked_dashdash)
{
	char *baked[] = { "-s", "/proc/self/exe", "--run", "p", "--", "-m", "mod" };
	char *user[] = { "--", "x" };
	char *want[] = { "f", "-s", "/x", "--run", "p", "--", "-m", "mod", "--", "x" };
	char **got = NULL;

	cr_assert_eq(fl_bargs_exec_argv("f", baked, 7, "/x", user, 2, &got, NULL), 0);
	check_argv(got, want, 10);
	fl_bargs_free(got);
}

Test(bargs, exec_argv_no_user_args)
{
	char *baked[] = { "--dynamic=app:/proc/self/exe" };
	char *want[] = { "f", "--dynamic=app:/b", "--" };
	char **got = NULL;

	cr_assert_eq(fl_bargs_exec_argv("f", baked, 1, "/b", NULL, 0, &got, NULL), 0);
	check_argv(got, want, 3);
	fl_bargs_free(got);
}
