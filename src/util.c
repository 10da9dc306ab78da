/* SPDX-License-Identifier: MIT */
/* Helpers for the fuselage command (see util.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/util.h"

int fl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fl_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void fl_closep(int *fd)
{
	int e = errno;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = e;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void fl_close_all_except(const int *keep, size_t nkeep)
{
	int sorted[FL_KEEP_MAX];
	unsigned lo = 3;

	if (nkeep > FL_KEEP_MAX)
		nkeep = FL_KEEP_MAX;
	for (size_t i = 0; i < nkeep; i++)
		sorted[i] = keep[i];
	qsort(sorted, nkeep, sizeof(int), cmp_int);
	for (size_t i = 0; i < nkeep; i++) {
		if (sorted[i] < (int)lo)
			continue;
		if ((unsigned)sorted[i] > lo)
			close_range(lo, (unsigned)sorted[i] - 1, 0);
		lo = (unsigned)sorted[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

pid_t fl_fork_reporting(int *ret_fd, struct fl_error *err)
{
	int pfd[2], e;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return fl_error_set(err, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return fl_error_set(err, e, "fork: %s", strerror(e));
	}
	close(pfd[pid == 0 ? 0 : 1]);
	*ret_fd = pfd[pid == 0 ? 1 : 0];
	return pid;
}

void fl_detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i <= 2; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static bool verbose_on;
static struct timespec verbose_t0;

void fl_verbose_init(bool on)
{
	verbose_on = on;
	clock_gettime(CLOCK_MONOTONIC, &verbose_t0);
}

void fl_verbose(const char *fmt, ...)
{
	struct timespec now;
	va_list ap;
	double ms;

	if (!verbose_on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - verbose_t0.tv_sec) * 1e3 +
	     (double)(now.tv_nsec - verbose_t0.tv_nsec) / 1e6;
	fprintf(stderr, "fuselage: [%7.2f ms] ", ms);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool fl_verbose_on(void)
{
	return verbose_on;
}

void fl_note(const char *fmt, ...)
{
	va_list ap;

	fputs("fuselage: note: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}
