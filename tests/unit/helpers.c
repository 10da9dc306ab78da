/* SPDX-License-Identifier: MIT */
/* Shared unit-test helpers (see helpers.h). */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/helpers.h"

const char *fl_test_tmpdir(void)
{
	static char path[PATH_MAX];
	const char *base = getenv("TMPDIR");

	if (!base || !*base)
		base = "/tmp";
	snprintf(path, sizeof(path), "%s/fl-unit-XXXXXX", base);
	cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
	return path;
}

void fl_test_rmtree(const char *dir)
{
	if (dir && *dir)
		fl_test_sh("rm -rf '%s'", dir);
}

void fl_test_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		cr_assert(n > 0, "write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	cr_assert_eq(close(fd), 0);
}

void fl_test_mkdirs(const char *path)
{
	cr_assert_eq(fl_test_sh("mkdir -p '%s'", path), 0, "mkdir -p %s", path);
}

int fl_test_sh(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	cr_assert(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	st = system(cmd);
	free(cmd);
	cr_assert(st != -1);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int fl_test_have(const char *prog)
{
	return fl_test_sh("PATH=$PATH:/usr/sbin:/sbin command -v '%s' >/dev/null 2>&1", prog) == 0;
}

int fl_test_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}
