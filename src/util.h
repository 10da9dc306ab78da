/* SPDX-License-Identifier: MIT */
/* Small helpers for the fuselage command: whole reads/writes, descriptors,
 * verbose output with timings. */
#ifndef FL_UTIL_H
#define FL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fusefs/error.h"

/* Write/read exactly @len bytes, retrying on EINTR and short transfers.
 * Return 0, or -errno (-EPIPE for end of file on read). */
int fl_write_all(int fd, const void *buf, size_t len);
int fl_read_all(int fd, void *buf, size_t len);

/* close() that keeps errno and ignores -1; sets *fd to -1. */
void fl_closep(int *fd);
#define _cleanup_close_ __attribute__((cleanup(fl_closep)))

/* Close every descriptor >= 3 except those in @keep (any order; at most
 * FL_KEEP_MAX are looked at, negative ones are ignored). */
#define FL_KEEP_MAX 256
void fl_close_all_except(const int *keep, size_t nkeep);

/* fork() with a report pipe (both ends close-on-exec): returns 0 in the
 * child, with *ret_fd the write end; the child's pid in the parent, with
 * *ret_fd the read end; or -errno with @err set and nothing forked. */
pid_t fl_fork_reporting(int *ret_fd, struct fl_error *err);

/* Point fds 0-2 at /dev/null (for processes that must not hold the
 * caller's terminal or pipes). */
void fl_detach_stdio(void);

/* Verbose messages on stderr, prefixed "fuselage: " and with the time in ms
 * since fl_verbose_init(). */
void fl_verbose_init(bool on);
void fl_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool fl_verbose_on(void);

/* One line "fuselage: note: ..." on stderr: something the user should know
 * that does not stop the run (a fallback). */
void fl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
