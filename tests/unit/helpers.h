/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the unit tests: scratch directories, files, and
 * running external tools (zip, mksquashfs, python3) to make real inputs.
 * Every helper aborts the test (cr_assert) on failure.
 */
#ifndef FL_TEST_HELPERS_H
#define FL_TEST_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh scratch directory under $TMPDIR (or /tmp); static storage, valid
 * until the next call.  Removed by fl_test_rmtree(). */
const char *fl_test_tmpdir(void);

/* Remove a directory tree (rm -rf). */
void fl_test_rmtree(const char *dir);

/* Write @len bytes of @data to @path (created 0644, parents must exist). */
void fl_test_write(const char *path, const void *data, size_t len);

/* mkdir -p */
void fl_test_mkdirs(const char *path);

/* Run a shell command line with /bin/sh -c; returns its exit status.
 * printf-style. */
int fl_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when the program is on PATH (or /usr/sbin, /sbin). */
int fl_test_have(const char *prog);

/* Open @path read-only (O_CLOEXEC); asserts success. */
int fl_test_open(const char *path);

#endif
