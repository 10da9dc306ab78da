/* SPDX-License-Identifier: MIT */
/* Unit tests for fusefs/error.c: the fixed-size error object. */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fusefs/error.h"

Test(error, set_returns_negative_errno)
{
	struct fl_error e = { 0 };

	cr_assert_eq(fl_error_set(&e, ENOENT, "open %s", "x"), -ENOENT);
	cr_assert_eq(e.errnum, ENOENT);
	cr_assert_str_eq(e.msg, "open x");
}

Test(error, null_object_is_allowed)
{
	cr_assert_eq(fl_error_set(NULL, EINVAL, "whatever"), -EINVAL);
}

Test(error, nonpositive_errno_becomes_eio)
{
	struct fl_error e = { 0 };

	cr_assert_eq(fl_error_set(&e, 0, "odd"), -EIO);
	cr_assert_eq(e.errnum, EIO);
}

Test(error, long_messages_truncate)
{
	struct fl_error e = { 0 };
	char big[2 * FL_ERROR_MSG_MAX];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fl_error_set(&e, EIO, "%s", big);
	cr_assert_eq(strlen(e.msg), FL_ERROR_MSG_MAX - 1);
}

Test(error, prefix_adds_context)
{
	struct fl_error e = { 0 };

	fl_error_set(&e, EACCES, "permission denied");
	cr_assert_eq(fl_error_prefix(&e, "%s", "a.zip"), -EACCES);
	cr_assert_str_eq(e.msg, "a.zip: permission denied");
	fl_error_clear(&e);
	cr_assert_eq(e.errnum, 0);
	cr_assert_str_eq(e.msg, "");
}

Test(error, control_characters_never_split_the_line)
{
	struct fl_error e = { 0 };

	fl_error_set(&e, EINVAL, "name '%s'", "a\nb\033[2J\x7f");
	cr_assert_str_eq(e.msg, "name 'a?b?[2J?'");
	fl_error_prefix(&e, "--static=%s", "x\ry");
	cr_assert_str_eq(e.msg, "--static=x?y: name 'a?b?[2J?'");
}
