/* SPDX-License-Identifier: MIT */
/* Unit tests for src/env.c (SPEC §2.2). */
#include <config.h>

#include <criterion/criterion.h>

#include "src/env.h"

static size_t count(char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	return n;
}

Test(env, sets_ours_and_keeps_the_rest_in_order)
{
	char *base[] = { "PATH=/bin", "FUSELAGE_STATIC=/old", "HOME=/h", "FUSELAGE_TMPDIR=/x",
			 "FUSELAGE_HOME=/fh", "FUSELAGE_DYNAMICX=keep", NULL };
	char **env = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_env_build(base, "/t", NULL, NULL, &env, &e), 0);
	cr_assert_str_eq(env[0], "PATH=/bin");
	cr_assert_str_eq(env[1], "HOME=/h");
	cr_assert_str_eq(env[2], "FUSELAGE_HOME=/fh");
	cr_assert_str_eq(env[3], "FUSELAGE_DYNAMICX=keep");
	cr_assert_str_eq(env[4], "FUSELAGE_TMPDIR=/t");
	cr_assert_eq(count(env), 5);
	cr_assert_null(fl_env_get(env, "FUSELAGE_STATIC"));
	cr_assert_str_eq(fl_env_get(env, "FUSELAGE_TMPDIR"), "/t");
	fl_env_free(env);
}

Test(env, all_three)
{
	char *base[] = { "FUSELAGE_DYNAMIC=/d0", NULL };
	char **env = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_env_build(base, "/t", "/d", "/s", &env, &e), 0);
	cr_assert_eq(count(env), 3);
	cr_assert_str_eq(fl_env_get(env, "FUSELAGE_DYNAMIC"), "/d");
	cr_assert_str_eq(fl_env_get(env, "FUSELAGE_STATIC"), "/s");
	fl_env_free(env);
}

Test(env, empty_base)
{
	char **env = NULL;
	struct fl_error e = { 0 };

	cr_assert_eq(fl_env_build(NULL, "/t", NULL, NULL, &env, &e), 0);
	cr_assert_eq(count(env), 1);
	fl_env_free(env);
	fl_env_free(NULL);
}

Test(env, get_needs_exact_name)
{
	char *base[] = { "AB=1", "A=2", NULL };

	cr_assert_str_eq(fl_env_get(base, "A"), "2");
	cr_assert_null(fl_env_get(base, "B"));
}
