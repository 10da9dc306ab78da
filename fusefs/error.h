/* SPDX-License-Identifier: MIT */
/*
 * The error object of fuselage's library layers: an errno plus a message with
 * context, fixed-size so that it can be filled after fork() and sent whole
 * over a pipe.  Library code fills it and returns -errno; it never prints.
 */
#ifndef FL_ERROR_H
#define FL_ERROR_H

#include <stdbool.h>

#define FL_ERROR_MSG_MAX 400

struct fl_error {
	int errnum;                  /* positive errno value, 0 when unset */
	char msg[FL_ERROR_MSG_MAX];  /* "<what failed>: <why>", NUL-terminated */
};

/*
 * fl_error_set() - record an error.
 * @err may be NULL (the error is then only returned).  The message is
 * printf-formatted and truncated to fit.  Returns -@errnum, so callers can
 * write "return fl_error_set(err, EINVAL, ...);".
 */
int fl_error_set(struct fl_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * fl_error_prefix() - prepend "<prefix>: " to an error's message (for adding
 * context such as a file name on the way up).  Returns -err->errnum.
 */
int fl_error_prefix(struct fl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* fl_error_clear() - reset to "no error". */
void fl_error_clear(struct fl_error *err);

#endif
