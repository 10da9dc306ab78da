/* SPDX-License-Identifier: MIT */
/*
 * Format detection (see detect.h).  Reads at most the first 64 bytes and the
 * last 64 KiB + 22 bytes of the file; trusts nothing it reads.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/detect.h"

#define EOCD_SIZE 22
#define EOCD_SEARCH (65535 + EOCD_SIZE)

const char *fl_format_name(enum fl_format f)
{
	return f == FL_FORMAT_SQFS ? "squashfs" : "zip";
}

static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *ret_len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_len = got;
	return 0;
}

/* Is there an end-of-central-directory record whose comment length reaches
 * exactly to the end of the file? */
static int has_eocd(int fd, uint64_t size, bool *ret)
{
	size_t len = size < EOCD_SEARCH ? (size_t)size : EOCD_SEARCH;
	uint64_t start = size - len;
	unsigned char *buf;
	size_t got;
	int r;

	*ret = false;
	if (len < EOCD_SIZE)
		return 0;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	r = read_at(fd, buf, len, start, &got);
	if (r == 0 && got == len) {
		for (size_t i = len - EOCD_SIZE + 1; i-- > 0;) {
			if (memcmp(buf + i, "PK\5\6", 4) != 0)
				continue;
			size_t clen = (size_t)buf[i + 20] | (size_t)buf[i + 21] << 8;
			if (i + EOCD_SIZE + clen == len) {
				*ret = true;
				break;
			}
		}
	}
	free(buf);
	return r;
}

int fl_detect(int fd, struct fl_detected *ret, struct fl_error *err)
{
	unsigned char head[64];
	struct stat st;
	size_t got;
	bool eocd;
	int r;

	if (fstat(fd, &st) < 0)
		return fl_error_set(err, errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return fl_error_set(err, EINVAL, "not a regular file");
	r = read_at(fd, head, sizeof(head), 0, &got);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
	if (got >= 4 && memcmp(head, "hsqs", 4) == 0) {
		*ret = (struct fl_detected){ .format = FL_FORMAT_SQFS, .offset = 0 };
		return 0;
	}
	if (got >= 4 && (memcmp(head, "PK\3\4", 4) == 0 || memcmp(head, "PK\5\6", 4) == 0)) {
		*ret = (struct fl_detected){ .format = FL_FORMAT_ZIP, .offset = 0 };
		return 0;
	}
	r = has_eocd(fd, (uint64_t)st.st_size, &eocd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
	if (eocd) {
		*ret = (struct fl_detected){ .format = FL_FORMAT_ZIP, .offset = 0 };
		return 0;
	}
	if (got == 0)
		return fl_error_set(err, EINVAL, "empty file, not an archive");
	return fl_error_set(err, EINVAL,
			    "not a recognised archive (tried: squashfs and zip signatures at "
			    "the start, a zip end record at the end)");
}
