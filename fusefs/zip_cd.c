/* SPDX-License-Identifier: MIT */
/*
 * Zip central-directory reader (see zip_cd.h).  Reference: PKWARE APPNOTE.TXT
 * 6.3.x sections 4.3.6-4.3.16 and 4.5; the prefix rule follows CPython's
 * Lib/zipfile.py (_RealGetContents, "concat").  Never trusts a size or offset
 * from the file: each is checked against the real file size before any read
 * or allocation, so a crafted archive cannot make us read outside the file.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/zip_cd.h"

#define EOCD_SIZE 22
#define EOCD_MAX_COMMENT 65535
#define Z64_LOC_SIZE 20
#define Z64_REC_SIZE 56
#define CDH_SIZE 46
#define LFH_SIZE 30

struct eocd_info {
	uint64_t count;
	uint64_t cd_size;
	uint64_t cd_end;    /* where the directory actually ends in the file */
	uint64_t prefix;
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool is_sig(const unsigned char *p, unsigned char a, unsigned char b)
{
	return p[0] == 'P' && p[1] == 'K' && p[2] == a && p[3] == b;
}

/* pread() all of @len bytes at @off: 0, -EIO on a short file, -errno. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Find the zip64 end record that belongs to the locator in front of the end
 * record at @eocd_pos.  Like zipfile.py, first look right before the locator
 * (where every writer puts it, and where it is even when data was prepended
 * without fixing offsets), then where the locator says.
 */
static int find_zip64(int fd, uint64_t eocd_pos, unsigned char rec[Z64_REC_SIZE], uint64_t *ret_pos)
{
	unsigned char loc[Z64_LOC_SIZE];
	uint64_t pos;
	int r;

	if (eocd_pos < Z64_LOC_SIZE)
		return 0;
	r = read_at(fd, loc, sizeof(loc), eocd_pos - Z64_LOC_SIZE);
	if (r < 0)
		return r;
	if (!is_sig(loc, 6, 7))
		return 0;
	if (get32(loc + 16) > 1)
		return -EINVAL; /* spans several disks */
	if (eocd_pos >= Z64_LOC_SIZE + Z64_REC_SIZE) {
		pos = eocd_pos - Z64_LOC_SIZE - Z64_REC_SIZE;
		r = read_at(fd, rec, Z64_REC_SIZE, pos);
		if (r == 0 && is_sig(rec, 6, 6)) {
			*ret_pos = pos;
			return 1;
		}
	}
	pos = get64(loc + 8);
	if (pos > eocd_pos - Z64_LOC_SIZE || eocd_pos - Z64_LOC_SIZE - pos < Z64_REC_SIZE)
		return -EINVAL;
	r = read_at(fd, rec, Z64_REC_SIZE, pos);
	if (r < 0)
		return r;
	if (!is_sig(rec, 6, 6))
		return -EINVAL;
	*ret_pos = pos;
	return 1;
}

/* Check one end-record candidate at @pos (@rec holds its 22 bytes). */
static int parse_eocd(int fd, uint64_t pos, const unsigned char *rec, struct eocd_info *ret)
{
	unsigned char z64[Z64_REC_SIZE];
	uint64_t z64_pos = 0, cd_off;
	struct eocd_info info = { 0 };
	int r;

	info.count = get16(rec + 10);
	info.cd_size = get32(rec + 12);
	cd_off = get32(rec + 16);
	info.cd_end = pos;
	r = find_zip64(fd, pos, z64, &z64_pos);
	if (r < 0)
		return r;
	if (r > 0) {
		info.count = get64(z64 + 32);
		info.cd_size = get64(z64 + 40);
		cd_off = get64(z64 + 48);
		info.cd_end = z64_pos;
	}
	if (info.cd_size > info.cd_end || cd_off > info.cd_end - info.cd_size)
		return -EINVAL;
	if (info.count > info.cd_size / CDH_SIZE)
		return -EINVAL;
	if (info.cd_size >= CDH_SIZE) {
		/* A signature inside a comment rarely points at a real header. */
		r = read_at(fd, z64, 4, info.cd_end - info.cd_size);
		if (r < 0 || !is_sig(z64, 1, 2))
			return r < 0 ? r : -EINVAL;
	}
	info.prefix = info.cd_end - info.cd_size - cd_off;
	*ret = info;
	return 0;
}

/*
 * Search the end record backwards from the end of the file.  Pass 0: only
 * records whose comment ends exactly at the end of the file; pass 1: any
 * non-empty directory (trailing junk, bad comment length); pass 2: any.  The
 * first candidate whose directory fits the file (and starts with a header)
 * wins, so a signature inside a comment, which at best looks like an empty
 * archive, loses.
 */
static int find_eocd(int fd, uint64_t size, struct eocd_info *ret)
{
	size_t tail = size < EOCD_SIZE + EOCD_MAX_COMMENT ? (size_t)size : EOCD_SIZE + EOCD_MAX_COMMENT;
	unsigned char *buf = malloc(tail);
	int r, first = -EINVAL;

	if (!buf)
		return -ENOMEM;
	r = read_at(fd, buf, tail, size - tail);
	if (r < 0)
		goto out;
	r = -EINVAL;
	for (int pass = 0; pass < 3 && r < 0; pass++) {
		for (size_t i = tail - EOCD_SIZE + 1; i-- > 0;) {
			if (!is_sig(buf + i, 5, 6))
				continue;
			if (pass == 0 && i + EOCD_SIZE + get16(buf + i + 20) != tail)
				continue;
			r = parse_eocd(fd, size - tail + i, buf + i, ret);
			if (r == 0 && (pass != 1 || ret->cd_size > 0))
				break;
			r = r == 0 ? -EINVAL : r;
			if (first == -EINVAL)
				first = r;
			r = first;
		}
	}
out:
	free(buf);
	return r;
}

/* Apply the zip64 extended-information extra field (APPNOTE 4.5.3). */
static void parse_zip64_extra(struct fl_zipcd_entry *e, const unsigned char *p, size_t len,
			      bool big_u, bool big_c, bool big_o)
{
	if (big_u && len >= 8) {
		e->usize = get64(p);
		p += 8;
		len -= 8;
	}
	if (big_c && len >= 8) {
		e->csize = get64(p);
		p += 8;
		len -= 8;
	}
	if (big_o && len >= 8)
		e->lho = get64(p);
}

/*
 * Walk the extra fields: zip64 sizes/offset, and the Info-ZIP extended
 * timestamp 0x5455 (in the central directory it holds at most the mtime).
 * A malformed trailing field is ignored, as unzip does.
 */
static void parse_extra(struct fl_zipcd_entry *e, const unsigned char *p, size_t len)
{
	bool big_u = e->usize == 0xffffffffu, big_c = e->csize == 0xffffffffu;
	bool big_o = e->lho == 0xffffffffu;

	while (len >= 4) {
		uint16_t id = get16(p), flen = get16(p + 2);

		if (flen > len - 4)
			break;
		if (id == 0x0001)
			parse_zip64_extra(e, p + 4, flen, big_u, big_c, big_o);
		else if (id == 0x5455 && flen >= 5 && (p[4] & 1)) {
			e->has_xtime = true;
			e->xtime = (int32_t)get32(p + 5);
		}
		p += 4 + flen;
		len -= 4 + (size_t)flen;
	}
}

/*
 * Parse the central-directory header at @p (@avail bytes left in the
 * directory) into @e, copying its name into *@names.  Returns the header's
 * length, 0 at a non-header (end of directory), -EINVAL when it overruns.
 */
static long parse_cdh(const unsigned char *p, size_t avail, uint64_t prefix,
		      struct fl_zipcd_entry *e, char **names)
{
	size_t n, m, k;

	if (avail < CDH_SIZE || !is_sig(p, 1, 2))
		return 0;
	n = get16(p + 28);
	m = get16(p + 30);
	k = get16(p + 32);
	if (CDH_SIZE + n + m + k > avail)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->made_by = p[5];
	e->flags = get16(p + 8);
	e->method = get16(p + 10);
	e->dos_time = get16(p + 12);
	e->dos_date = get16(p + 14);
	e->crc = get32(p + 16);
	e->csize = get32(p + 20);
	e->usize = get32(p + 24);
	e->ext_attr = get32(p + 38);
	e->lho = get32(p + 42);
	parse_extra(e, p + CDH_SIZE + n, m);
	/* An offset that overflows is left pointing past any file: reads fail. */
	e->lho = e->lho > UINT64_MAX - prefix ? UINT64_MAX : e->lho + prefix;
	memcpy(*names, p + CDH_SIZE, n);
	(*names)[n] = '\0';
	e->name = *names;
	e->name_len = n;
	*names += n + 1;
	return (long)(CDH_SIZE + n + m + k);
}

/*
 * Parse every header of the directory in @buf.  The name storage needs at
 * most cd_size bytes: each name of n bytes comes with a 46-byte header.
 */
static int parse_cd(struct fl_zipcd *cd, const unsigned char *buf, uint64_t cd_size,
		    uint64_t min_count)
{
	size_t cap = (size_t)(cd_size / CDH_SIZE), pos = 0;
	char *names;

	cd->entries = calloc(cap ? cap : 1, sizeof(*cd->entries));
	cd->names = malloc(cd_size ? (size_t)cd_size : 1);
	if (!cd->entries || !cd->names)
		return -ENOMEM;
	names = cd->names;
	while (cd->count < cap) {
		long len = parse_cdh(buf + pos, (size_t)cd_size - pos, cd->prefix,
				     &cd->entries[cd->count], &names);

		if (len < 0)
			return (int)len;
		if (len == 0)
			break;
		pos += (size_t)len;
		cd->count++;
	}
	return cd->count < min_count ? -EINVAL : 0;
}

int fl_zipcd_read(int fd, struct fl_zipcd **ret_cd, struct fl_error *err)
{
	struct fl_zipcd *cd = NULL;
	unsigned char *buf = NULL;
	struct eocd_info info = { 0 };
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return fl_error_set(err, errno, "cannot stat the archive: %s", strerror(errno));
	if (st.st_size < EOCD_SIZE)
		return fl_error_set(err, EINVAL, "not a zip archive (too short)");
	r = find_eocd(fd, (uint64_t)st.st_size, &info);
	if (r == -EINVAL)
		return fl_error_set(err, EINVAL, "not a zip archive (no valid end of central directory)");
	if (r < 0)
		return fl_error_set(err, -r, "cannot read the zip end record: %s", strerror(-r));
	if (info.cd_size > SIZE_MAX / 2)
		return fl_error_set(err, ENOMEM, "zip central directory too large");
	cd = calloc(1, sizeof(*cd));
	buf = malloc(info.cd_size ? (size_t)info.cd_size : 1);
	if (!cd || !buf) {
		r = fl_error_set(err, ENOMEM, "out of memory reading the zip central directory");
		goto fail;
	}
	cd->file_size = (uint64_t)st.st_size;
	cd->prefix = info.prefix;
	cd->cd_start = info.cd_end - info.cd_size;
	r = read_at(fd, buf, (size_t)info.cd_size, cd->cd_start);
	if (r < 0) {
		fl_error_set(err, -r, "cannot read the zip central directory: %s", strerror(-r));
		goto fail;
	}
	r = parse_cd(cd, buf, info.cd_size, info.count);
	if (r < 0) {
		fl_error_set(err, -r, "damaged zip central directory (%zu of %llu entries readable)",
			     cd->count, (unsigned long long)info.count);
		goto fail;
	}
	free(buf);
	*ret_cd = cd;
	return 0;
fail:
	free(buf);
	fl_zipcd_free(cd);
	return r;
}

void fl_zipcd_free(struct fl_zipcd *cd)
{
	if (!cd)
		return;
	free(cd->entries);
	free(cd->names);
	free(cd);
}

int fl_zipcd_data_offset(int fd, const struct fl_zipcd *cd, const struct fl_zipcd_entry *e,
			 uint64_t *ret_off)
{
	unsigned char h[LFH_SIZE];
	uint64_t off, need;
	int r;

	if (e->lho > cd->file_size || cd->file_size - e->lho < LFH_SIZE)
		return -EIO;
	r = read_at(fd, h, sizeof(h), e->lho);
	if (r < 0)
		return r;
	if (!is_sig(h, 3, 4))
		return -EIO;
	off = e->lho + LFH_SIZE + get16(h + 26) + get16(h + 28);
	need = e->csize;
	if (e->method == FL_ZIPCD_METHOD_STORE && e->usize > need)
		need = e->usize;
	if (off > cd->file_size || need > cd->file_size - off)
		return -EIO;
	*ret_off = off;
	return 0;
}

time_t fl_zipcd_mtime(const struct fl_zipcd_entry *e)
{
	struct tm tm = {
		.tm_year = ((e->dos_date >> 9) & 0x7f) + 80,
		.tm_mon = ((e->dos_date >> 5) & 0x0f) - 1,
		.tm_mday = e->dos_date & 0x1f,
		.tm_hour = (e->dos_time >> 11) & 0x1f,
		.tm_min = (e->dos_time >> 5) & 0x3f,
		.tm_sec = (e->dos_time & 0x1f) * 2,
		.tm_isdst = -1,
	};
	time_t t;

	if (e->has_xtime)
		return (time_t)e->xtime;
	t = mktime(&tm);
	return t == (time_t)-1 ? 0 : t;
}
