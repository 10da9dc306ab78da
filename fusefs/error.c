/* SPDX-License-Identifier: MIT */
/*
 * Fixed-size error objects (see error.h).  Must stay async-signal-tolerant in
 * spirit: no heap, usable in a forked child before exec.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include "fusefs/error.h"

/* A message is one line: file names and arguments may hold newlines or
 * terminal escapes, which would split it or drive the caller's terminal. */
static void one_line(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int fl_error_set(struct fl_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	if (err) {
		err->errnum = errnum;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		one_line(err->msg);
	}
	return -errnum;
}

int fl_error_prefix(struct fl_error *err, const char *fmt, ...)
{
	char old[FL_ERROR_MSG_MAX];
	size_t len, room = sizeof(err->msg);
	va_list ap;

	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, room, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	/* Append ": <old>", truncating; written by hand because snprintf with
	 * two full-size buffers trips -Wformat-truncation. */
	for (const char *p = ": "; *p && len + 1 < room; p++)
		err->msg[len++] = *p;
	for (const char *p = old; *p && len + 1 < room; p++)
		err->msg[len++] = *p;
	err->msg[len] = '\0';
	one_line(err->msg);
	return -err->errnum;
}

void fl_error_clear(struct fl_error *err)
{
	err->errnum = 0;
	err->msg[0] = '\0';
}
