/* SPDX-License-Identifier: MIT */
/* Unit tests for src/options.c (SPEC §2 command line). */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "src/options.h"

static int parse(int argc, char **argv, struct fl_options *o, struct fl_error *e)
{
	memset(o, 0, sizeof(*o));
	return fl_options_parse(argc, argv, o, e);
}

Test(options, equals_and_separate_values)
{
	char *v[] = { "fuselage", "--static=a.zip", "--static", "b.sfs", "-s", "c.zip",
		      "-sd.zip", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(8, v, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(o.nmounts, 4);
	cr_assert_str_eq(o.mounts[0].arg, "a.zip");
	cr_assert_str_eq(o.mounts[1].arg, "b.sfs");
	cr_assert_str_eq(o.mounts[2].arg, "c.zip");
	cr_assert_str_eq(o.mounts[3].arg, "d.zip");
	cr_assert_eq(o.mounts[0].kind, FL_KIND_STATIC);
	cr_assert_eq(o.ncommand, 1);
	cr_assert_str_eq(o.command[0], "true");
	fl_options_done(&o);
}

Test(options, words_after_command_belong_to_it)
{
	char *v[] = { "fuselage", "-v", "ls", "-v", "--static=x", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(5, v, &o, &e), 0);
	cr_assert(o.verbose);
	cr_assert_eq(o.nmounts, 0);
	cr_assert_eq(o.ncommand, 3);
	cr_assert_str_eq(o.command[1], "-v");
	cr_assert_str_eq(o.command[2], "--static=x");
	fl_options_done(&o);
}

Test(options, double_dash_starts_command)
{
	char *v[] = { "fuselage", "--map-root", "--", "--static=x", "y", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(5, v, &o, &e), 0);
	cr_assert(o.map_root);
	cr_assert_eq(o.ncommand, 2);
	cr_assert_str_eq(o.command[0], "--static=x");
	fl_options_done(&o);
}

Test(options, run_takes_following_words)
{
	char *v[] = { "fuselage", "-s", "a.zip", "--run", "bin/x", "--", "-h", "z", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(8, v, &o, &e), 0, "%s", e.msg);
	cr_assert_str_eq(o.run_path, "bin/x");
	cr_assert_not(o.help);
	cr_assert_eq(o.ncommand, 2);
	cr_assert_str_eq(o.command[0], "-h");
	fl_options_done(&o);
}

Test(options, run_with_no_args_is_fine)
{
	char *v[] = { "fuselage", "--static=a.zip", "--run=bin/x", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(o.ncommand, 0);
	fl_options_done(&o);
}

Test(options, run_needs_an_archive)
{
	char *v[] = { "fuselage", "--run", "bin/x", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert(strstr(e.msg, "--run needs at least one archive"), "%s", e.msg);
}

Test(options, unknown_long_option)
{
	char *v[] = { "fuselage", "--frobnicate", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "unrecognized option '--frobnicate'");
}

Test(options, unknown_short_option)
{
	char *v[] = { "fuselage", "-x", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "invalid option -- 'x'");
}

Test(options, missing_argument)
{
	char *v[] = { "fuselage", "--static", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(2, v, &o, &e), -EINVAL);
	cr_assert(strstr(e.msg, "requires an argument"), "%s", e.msg);
}

Test(options, no_command)
{
	char *v[] = { "fuselage", "-s", "a.zip", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "no command given");
}

Test(options, help_and_version_need_no_command)
{
	char *v[] = { "fuselage", "--help", NULL };
	char *w[] = { "fuselage", "-V", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(2, v, &o, &e), 0);
	cr_assert(o.help);
	fl_options_done(&o);
	cr_assert_eq(parse(2, w, &o, &e), 0);
	cr_assert(o.version);
	fl_options_done(&o);
	cr_assert(strstr(fl_options_usage(), "--static=[NAME:]FILE"));
}

Test(options, empty_values_refused)
{
	char *v[] = { "fuselage", "--static=", "true", NULL };
	char *w[] = { "fuselage", "-s", "a", "--run=", "x", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "--static: empty argument");
	cr_assert_eq(parse(5, w, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "--run: empty path");
}

Test(options, dynamic_empty_kind)
{
	char *v[] = { "fuselage", "--dynamic-empty=work", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), 0);
	cr_assert_eq(o.mounts[0].kind, FL_KIND_DYNAMIC_EMPTY);
	fl_options_done(&o);
}

Test(options, dynamic_kind)
{
	char *v[] = { "fuselage", "-dx.zip", "--dynamic", "y:y.sfs", "--dynamic=z.zip", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(6, v, &o, &e), 0);
	cr_assert_eq(o.nmounts, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(o.mounts[i].kind, FL_KIND_DYNAMIC);
		cr_assert_str_eq(o.mounts[i].option, "--dynamic");
	}
	cr_assert_str_eq(o.mounts[0].arg, "x.zip");
	cr_assert_str_eq(o.mounts[1].arg, "y:y.sfs");
	cr_assert_str_eq(o.mounts[2].arg, "z.zip");
	cr_assert_str_eq(o.command[0], "true");
	fl_options_done(&o);
}

Test(options, value_for_flag_option)
{
	char *v[] = { "fuselage", "--map-root=yes", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "option '--map-root' doesn't allow an argument");
}

Test(options, abbreviations_refused)
{
	char *v[] = { "fuselage", "--dyn=x.zip", "true", NULL };
	char *w[] = { "fuselage", "--stat", "x.zip", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(3, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "unrecognized option '--dyn'");
	cr_assert_eq(parse(4, w, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "unrecognized option '--stat'");
}

Test(options, words_after_run_path_are_the_programs)
{
	char *v[] = { "fuselage", "-s", "a.zip", "--run", "bin/x", "-v", "--static=y", NULL };
	char *w[] = { "fuselage", "-s", "a.zip", "--run=bin/x", "--", "--", "-v", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(7, v, &o, &e), 0, "%s", e.msg);
	cr_assert_not(o.verbose);
	cr_assert_eq(o.nmounts, 1);
	cr_assert_eq(o.ncommand, 2);
	cr_assert_str_eq(o.command[0], "-v");
	cr_assert_str_eq(o.command[1], "--static=y");
	fl_options_done(&o);
	cr_assert_eq(parse(7, w, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(o.ncommand, 2);
	cr_assert_str_eq(o.command[0], "--");
	fl_options_done(&o);
}

Test(options, missing_arguments_worded)
{
	char *v[] = { "fuselage", "--run", NULL };
	char *w[] = { "fuselage", "-s", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(2, v, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "option '--run' requires an argument");
	cr_assert_eq(parse(2, w, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "option requires an argument -- 's'");
}

Test(options, cache_static)
{
	char *v[] = { "fuselage", "--cache-static", "-s", "a.zip", "true", NULL };
	char *w[] = { "fuselage", "--cache-static=yes", "true", NULL };
	char *x[] = { "fuselage", "-s", "a.zip", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(5, v, &o, &e), 0, "%s", e.msg);
	cr_assert(o.cache_static);
	fl_options_done(&o);
	cr_assert_eq(parse(4, x, &o, &e), 0, "%s", e.msg);
	cr_assert(!o.cache_static, "off by default");
	fl_options_done(&o);
	cr_assert_eq(parse(3, w, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "option '--cache-static' doesn't allow an argument");
	cr_assert(strstr(fl_options_usage(), "--cache-static"));
}

Test(options, loop_flag)
{
	char *v[] = { "fuselage", "--loop", "-s", "a.sqfs", "true", NULL };
	char *w[] = { "fuselage", "--loop=yes", "true", NULL };
	char *x[] = { "fuselage", "-s", "a.sqfs", "true", NULL };
	char *y[] = { "fuselage", "--lo", "-s", "a.sqfs", "true", NULL };
	struct fl_options o;
	struct fl_error e = { 0 };

	cr_assert_eq(parse(5, v, &o, &e), 0, "%s", e.msg);
	cr_assert(o.loop);
	cr_assert_eq(o.nmounts, 1);
	fl_options_done(&o);
	cr_assert_eq(parse(4, x, &o, &e), 0, "%s", e.msg);
	cr_assert(!o.loop, "off by default");
	fl_options_done(&o);
	cr_assert_eq(parse(3, w, &o, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "option '--loop' doesn't allow an argument");
	cr_assert_eq(parse(5, y, &o, &e), -EINVAL, "no abbreviation");
	cr_assert(strstr(fl_options_usage(), "--loop"));
}
