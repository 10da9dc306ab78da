/* SPDX-License-Identifier: MIT */
/* Unit tests for src/names.c (SPEC §2.1). */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "src/names.h"

static bool none_exist(const char *p)
{
	(void)p;
	return false;
}

static bool colon_file_exists(const char *p)
{
	return strcmp(p, "odd:name.zip") == 0;
}

static void check_derive(const char *file, const char *want)
{
	char *got = fl_names_derive(file);

	cr_assert_str_eq(got, want, "derive(%s)", file);
	free(got);
}

Test(names, derive)
{
	check_derive("data.zip", "data");
	check_derive("tools.zip.b64", "tools.zip");
	check_derive("app", "app");
	check_derive("/a/b/img.sfs", "img");
	check_derive("img.sqfs", "img");
	check_derive("img.squashfs", "img");
	check_derive("x.sfs.zip", "x.sfs");
	check_derive("dir/.zip", "");
	check_derive("a.tar.gz", "a.tar.gz");
}

/* Resolve one option; returns the error (0 on success) and the option. */
static int resolve1(enum fl_kind kind, const char *arg, fl_names_exists_fn ex,
		    struct fl_options *o, struct fl_error *e)
{
	static struct fl_mount_opt m;

	m = (struct fl_mount_opt){ .kind = kind, .option = "--static", .arg = arg };
	*o = (struct fl_options){ .mounts = &m, .nmounts = 1 };
	return fl_names_resolve(o, ex, e);
}

Test(names, name_colon_file)
{
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(resolve1(FL_KIND_STATIC, "sdk:path/to/tool:chain.zip", none_exist, &o, &e), 0);
	cr_assert_str_eq(o.mounts[0].name, "sdk");
	cr_assert_str_eq(o.mounts[0].file, "path/to/tool:chain.zip");
	cr_assert_not(o.mounts[0].fixed);
	free(o.mounts[0].name);
	free(o.mounts[0].file);
}

Test(names, existing_file_with_colon_wins)
{
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(resolve1(FL_KIND_STATIC, "odd:name.zip", colon_file_exists, &o, &e), 0);
	cr_assert_str_eq(o.mounts[0].name, "odd:name");
	cr_assert_str_eq(o.mounts[0].file, "odd:name.zip");
	free(o.mounts[0].name);
	free(o.mounts[0].file);
}

Test(names, fixed_path)
{
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(resolve1(FL_KIND_STATIC, "/run/fuselage/app:app.sfs", none_exist, &o, &e), 0,
		     "%s", e.msg);
	cr_assert_str_eq(o.mounts[0].name, "app");
	cr_assert(o.mounts[0].fixed);
	free(o.mounts[0].name);
	free(o.mounts[0].file);
}

static void refused(enum fl_kind kind, const char *arg, const char *needle)
{
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(resolve1(kind, arg, none_exist, &o, &e), -EINVAL, "%s accepted", arg);
	cr_assert(strstr(e.msg, needle), "'%s' not in '%s'", needle, e.msg);
	free(o.mounts[0].name);
	free(o.mounts[0].file);
}

Test(names, bad_names)
{
	refused(FL_KIND_STATIC, "/tmp/x:a.zip", "an absolute NAME must be /run/fuselage/NAME");
	refused(FL_KIND_STATIC, "/run/fuselage/../x:a.zip", "invalid name '../x': contains '/'");
	refused(FL_KIND_STATIC, "/run/fuselage/..:a.zip", "invalid name '..'");
	refused(FL_KIND_STATIC, "/run/fuselage/a/b:a.zip", "contains '/'");
	refused(FL_KIND_STATIC, "/run/fuselage/:a.zip", "empty name");
	refused(FL_KIND_STATIC, "/run/fuselage:a.zip", "an absolute NAME");
	refused(FL_KIND_STATIC, "..:a.zip", "invalid name '..'");
	refused(FL_KIND_STATIC, ".:a.zip", "invalid name '.'");
	refused(FL_KIND_STATIC, ":a.zip", "empty name");
	refused(FL_KIND_STATIC, "a\nb:a.zip", "control character");
	refused(FL_KIND_STATIC, "x:", "no FILE after ':'");
	refused(FL_KIND_STATIC, "dir/.zip", "use --static=NAME:FILE");
	refused(FL_KIND_DYNAMIC_EMPTY, "a/b", "contains '/'");
	refused(FL_KIND_DYNAMIC_EMPTY, "/run/x", "an absolute NAME");
}

Test(names, duplicates_name_both_arguments)
{
	struct fl_mount_opt m[3] = {
		{ .kind = FL_KIND_STATIC, .option = "--static", .arg = "a.zip" },
		{ .kind = FL_KIND_STATIC, .option = "--static", .arg = "other/b.sfs" },
		{ .kind = FL_KIND_DYNAMIC_EMPTY, .option = "--dynamic-empty", .arg = "/run/fuselage/a" },
	};
	struct fl_options o = { .mounts = m, .nmounts = 3 };
	struct fl_error e = { 0 };

	cr_assert_eq(fl_names_resolve(&o, none_exist, &e), -EINVAL);
	cr_assert(strstr(e.msg, "--static=a.zip and --dynamic-empty=/run/fuselage/a both use the "
				"name 'a'"),
		  "%s", e.msg);
	cr_assert(strstr(e.msg, "NAME:FILE"), "%s", e.msg);
	for (int i = 0; i < 3; i++) {
		free(m[i].name);
		free(m[i].file);
	}
}
