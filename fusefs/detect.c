/* SPDX-License-Identifier: MIT */
/*
 * Format detection (see detect.h).  Reads at most the first 4 KiB, the last
 * 64 KiB + 22 bytes, and for ELF files their headers (elf.c); trusts nothing
 * it reads and allocates nothing in proportion to what it reads.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/b64.h"
#include "fusefs/detect.h"
#include "fusefs/elf.h"

#define EOCD_SIZE   22
#define EOCD_SEARCH (65535 + EOCD_SIZE)
#define HEAD_SIZE   4096 /* what is looked at for base64 */

const char *fl_format_name(enum fl_format f)
{
	switch (f) {
	case FL_FORMAT_SQFS:
		return "squashfs";
	case FL_FORMAT_BASE64:
		return "base64";
	default:
		return "zip";
	}
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

/* A regular file's size, or a block device's. */
static int file_size(int fd, uint64_t *ret, struct fl_error *err)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return fl_error_set(err, errno, "%s", strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*ret = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return fl_error_set(err, EINVAL, "not a regular file");
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return fl_error_set(err, errno, "%s", strerror(errno));
	*ret = (uint64_t)end;
	return 0;
}

/*
 * An ELF file: squashfs at the extent rule's offset, else (a self-extracting
 * zip with an ELF stub) a zip end record at the end, else the ELF's error.
 */
static int detect_elf(int fd, uint64_t size, struct fl_detected *ret, struct fl_error *err)
{
	struct fl_error elf_err = { 0 };
	unsigned char magic[4];
	uint64_t off;
	size_t got = 0;
	bool eocd;
	int r;

	r = fl_elf_image_offset(fd, size, &off, &elf_err);
	if (r == 0) {
		r = read_at(fd, magic, sizeof(magic), off, &got);
		if (r < 0)
			return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
		if (got == sizeof(magic) && memcmp(magic, "hsqs", 4) == 0) {
			*ret = (struct fl_detected){ .format = FL_FORMAT_SQFS,
						     .offset = off,
						     .elf = true };
			return 0;
		}
		fl_error_set(&elf_err, EINVAL, "ELF file with no squashfs image at offset %" PRIu64,
			     off);
	} else if (r != -EINVAL) {
		if (err)
			*err = elf_err;
		return r;
	}
	r = has_eocd(fd, size, &eocd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
	if (eocd) {
		*ret = (struct fl_detected){ .format = FL_FORMAT_ZIP, .offset = 0 };
		return 0;
	}
	if (err)
		*err = elf_err;
	return -elf_err.errnum;
}

static int detect(int fd, bool decoded, struct fl_detected *ret, struct fl_error *err)
{
	unsigned char head[HEAD_SIZE];
	uint64_t size = 0;
	size_t got;
	bool eocd;
	int r;

	r = file_size(fd, &size, err);
	if (r < 0)
		return r;
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
	if (fl_elf_is_elf(head, got)) {
		r = detect_elf(fd, size, ret, err);
		if (r < 0 && decoded)
			fl_error_prefix(err, "decoded from base64");
		return r;
	}
	r = has_eocd(fd, size, &eocd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
	if (eocd) {
		*ret = (struct fl_detected){ .format = FL_FORMAT_ZIP, .offset = 0 };
		return 0;
	}
	if (got > 0 && fl_b64_sniff(head, got, got == size, decoded)) {
		if (decoded)
			return fl_error_set(err, EINVAL,
					    "base64 text that decodes to base64 text again (only "
					    "one level of base64 is decoded)");
		*ret = (struct fl_detected){ .format = FL_FORMAT_BASE64, .offset = 0 };
		return 0;
	}
	if (decoded && got == 0)
		return fl_error_set(err, EINVAL, "base64 text that decodes to nothing");
	if (decoded)
		return fl_error_set(err, EINVAL,
				    "base64 text that decodes to something that is not an archive");
	if (got == 0)
		return fl_error_set(err, EINVAL, "empty file, not an archive");
	return fl_error_set(err, EINVAL,
			    "not a recognised archive (tried: squashfs, zip and ELF signatures at "
			    "the start, a zip end record at the end, base64 text)");
}

/* Little-endian fields of the squashfs 4.0 superblock (96 bytes). */
#define SQFS_SUPER_SIZE	 96
#define SQFS_MAJOR_AT	 28
#define SQFS_MINOR_AT	 30
#define SQFS_BYTES_USED_AT 40

static uint64_t le(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

int fl_detect_sqfs_extent(int fd, uint64_t offset, uint64_t *ret_len, struct fl_error *err)
{
	unsigned char sb[SQFS_SUPER_SIZE];
	uint64_t size = 0, used, avail, len;
	size_t got;
	int r;

	r = file_size(fd, &size, err);
	if (r < 0)
		return r;
	if (offset > size)
		return fl_error_set(err, EINVAL, "the squashfs image starts past the end of the file");
	r = read_at(fd, sb, sizeof(sb), offset, &got);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read: %s", strerror(-r));
	if (got < sizeof(sb) || memcmp(sb, "hsqs", 4) != 0)
		return fl_error_set(err, EINVAL, "truncated squashfs superblock");
	if (le(sb + SQFS_MAJOR_AT, 2) != 4 || le(sb + SQFS_MINOR_AT, 2) != 0)
		return fl_error_set(err, EINVAL, "squashfs version %u.%u, not 4.0",
				    (unsigned)le(sb + SQFS_MAJOR_AT, 2),
				    (unsigned)le(sb + SQFS_MINOR_AT, 2));
	used = le(sb + SQFS_BYTES_USED_AT, 8);
	avail = size - offset;
	if (used < SQFS_SUPER_SIZE)
		return fl_error_set(err, EINVAL, "squashfs superblock with bytes_used %" PRIu64,
				    used);
	if (used > avail)
		return fl_error_set(err, EINVAL,
				    "truncated squashfs image (the superblock says %" PRIu64
				    " bytes, the file has %" PRIu64 " from offset %" PRIu64 ")",
				    used, avail, offset);
	/* No overflow: used <= avail <= UINT64_MAX - offset. */
	len = used + (FL_SQFS_PAD - used % FL_SQFS_PAD) % FL_SQFS_PAD;
	*ret_len = len < avail ? len : avail;
	return 0;
}

int fl_detect(int fd, struct fl_detected *ret, struct fl_error *err)
{
	return detect(fd, false, ret, err);
}

int fl_detect_decoded(int fd, struct fl_detected *ret, struct fl_error *err)
{
	return detect(fd, true, ret, err);
}
