/* SPDX-License-Identifier: MIT */
/* Unit tests for src/runpath.c (SPEC §2.3), on real directories. */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/runpath.h"
#include "tests/unit/helpers.h"

static char top[4096], a[4200], b[4200];
static struct fl_runpath_root roots[2];

static void mkexe(const char *path, mode_t mode)
{
	fl_test_write(path, "#!/bin/sh\n", 10);
	cr_assert_eq(chmod(path, mode), 0);
}

static void setup(void)
{
	snprintf(top, sizeof(top), "%s", fl_test_tmpdir());
	snprintf(a, sizeof(a), "%s/app", top);
	snprintf(b, sizeof(b), "%s/lib", top);
	cr_assert_eq(fl_test_sh("mkdir -p %s/bin %s/bin %s/app/bin %s/sub", a, b, b, a), 0);
	char p[4400];
	snprintf(p, sizeof(p), "%s/bin/server", a);
	mkexe(p, 0755);
	snprintf(p, sizeof(p), "%s/bin/both", a);
	mkexe(p, 0755);
	snprintf(p, sizeof(p), "%s/bin/both", b);
	mkexe(p, 0755);
	snprintf(p, sizeof(p), "%s/bin/noexec", a);
	mkexe(p, 0644);
	roots[0] = (struct fl_runpath_root){ "app", a };
	roots[1] = (struct fl_runpath_root){ "lib", b };
}

static void teardown(void)
{
	fl_test_rmtree(top);
}

TestSuite(runpath, .init = setup, .fini = teardown);

Test(runpath, prefix_form)
{
	char *got = NULL, want[4400];
	struct fl_error e = { 0 };

	cr_assert_eq(fl_runpath_resolve("app/bin/server", roots, 2, &got, &e), 0, "%s", e.msg);
	snprintf(want, sizeof(want), "%s/bin/server", a);
	cr_assert_str_eq(got, want);
	free(got);
}

Test(runpath, search_form)
{
	char *got = NULL, want[4400];
	struct fl_error e = { 0 };

	cr_assert_eq(fl_runpath_resolve("bin/server", roots, 2, &got, &e), 0, "%s", e.msg);
	snprintf(want, sizeof(want), "%s/bin/server", a);
	cr_assert_str_eq(got, want);
	free(got);
}

Test(runpath, ambiguous_lists_archives)
{
	char *got = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_runpath_resolve("bin/both", roots, 2, &got, &e), -EINVAL);
	cr_assert(strstr(e.msg, "ambiguous, found in archives app, lib"), "%s", e.msg);
}

Test(runpath, not_found_lists_candidates)
{
	char *got = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_runpath_resolve("bin/nope", roots, 2, &got, &e), -ENOENT);
	cr_assert(strstr(e.msg, "not found; looked for"), "%s", e.msg);
	cr_assert(strstr(e.msg, "/app/bin/nope"), "%s", e.msg);
	cr_assert(strstr(e.msg, "/lib/bin/nope"), "%s", e.msg);
}

Test(runpath, not_executable_and_directory)
{
	char *got = NULL;
	struct fl_error e = { 0 };

	if (geteuid() != 0) {
		cr_assert_eq(fl_runpath_resolve("bin/noexec", roots, 2, &got, &e), -EACCES);
		cr_assert(strstr(e.msg, "is not executable"), "%s", e.msg);
	}
	cr_assert_eq(fl_runpath_resolve("app/sub", roots, 2, &got, &e), -EACCES);
	cr_assert(strstr(e.msg, "is not a regular file"), "%s", e.msg);
}

Test(runpath, absolute_must_be_inside)
{
	char *got = NULL, p[4400];
	struct fl_error e = { 0 };

	snprintf(p, sizeof(p), "%s/bin/server", a);
	cr_assert_eq(fl_runpath_resolve(p, roots, 2, &got, &e), 0, "%s", e.msg);
	cr_assert_str_eq(got, p);
	free(got);
	cr_assert_eq(fl_runpath_resolve("/bin/sh", roots, 2, &got, &e), -EINVAL);
	cr_assert(strstr(e.msg, "must lie inside a served archive"), "%s", e.msg);
	snprintf(p, sizeof(p), "%s/../lib/bin/both", a);
	cr_assert_eq(fl_runpath_resolve(p, roots, 2, &got, &e), -EINVAL);
	cr_assert_eq(fl_runpath_resolve("app/../x", roots, 2, &got, &e), -EINVAL);
}

Test(runpath, prefix_must_match_whole_component)
{
	char *got = NULL;
	struct fl_error e = { 0 };

	/* "ap" is not the archive "app"; "ap/bin/server" exists nowhere. */
	cr_assert_eq(fl_runpath_resolve("ap/bin/server", roots, 2, &got, &e), -ENOENT);
}
