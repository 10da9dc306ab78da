/* SPDX-License-Identifier: MIT */
/*
 * Our own reader of a zip archive's central directory: finds the end record
 * at the end of the file (zip64 locator and record included), works out how
 * many bytes stand in front of the archive, and lists every entry with the
 * fields fuselage needs.  Everything read from the file is untrusted: every
 * offset and length is checked against the real file before use.
 */
#ifndef FL_ZIP_CD_H
#define FL_ZIP_CD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fusefs/error.h"

#define FL_ZIPCD_METHOD_STORE 0
#define FL_ZIPCD_METHOD_DEFLATE 8
#define FL_ZIPCD_FLAG_ENCRYPTED 0x0001u
#define FL_ZIPCD_FLAG_DESCRIPTOR 0x0008u
#define FL_ZIPCD_FLAG_STRONG_ENC 0x0040u
#define FL_ZIPCD_MADE_BY_UNIX 3

struct fl_zipcd_entry {
	const char *name;    /* raw name, NUL-terminated; may contain a NUL itself */
	size_t name_len;     /* bytes of the stored name (compare with strlen) */
	uint8_t made_by;     /* host system: high byte of "version made by" */
	uint16_t flags;      /* general purpose bit flags */
	uint16_t method;     /* compression method */
	uint16_t dos_time, dos_date;
	uint32_t crc;
	uint32_t ext_attr;   /* external attributes (Unix mode in the top 16 bits) */
	uint64_t csize;      /* compressed size (zip64 extra applied) */
	uint64_t usize;      /* uncompressed size (zip64 extra applied) */
	uint64_t lho;        /* local header offset in the file, prefix included */
	bool has_xtime;      /* extended timestamp 0x5455 carried an mtime */
	int64_t xtime;       /* that mtime, seconds since the epoch, UTC */
};

struct fl_zipcd {
	uint64_t file_size;  /* size of the file when it was read */
	uint64_t prefix;     /* bytes in front of the archive (0 for a plain zip) */
	uint64_t cd_start;   /* file offset of the central directory */
	size_t count;        /* number of entries */
	struct fl_zipcd_entry *entries; /* in central-directory order */
	char *names;         /* storage of every entry's name */
};

/*
 * fl_zipcd_read() - read the central directory of the zip archive in @fd.
 * The end record is searched in the last 64 KiB + 22 bytes (the last one that
 * leads to a consistent directory wins); data in front of the archive is
 * allowed and measured the way Python's zipfile does: prefix = end of the
 * central directory as found - (its stored offset + size).  The entry count
 * of the end record is a minimum: entries are read until the directory's
 * bytes end, so writers that wrapped the 16-bit count are read whole.
 * @fd is only read with pread() and stays the caller's.
 * On success *@ret_cd is set (caller frees with fl_zipcd_free()); on failure
 * returns -EINVAL (not a zip / damaged directory), -EIO, -ENOMEM, with @err
 * saying why.
 */
int fl_zipcd_read(int fd, struct fl_zipcd **ret_cd, struct fl_error *err);

/* fl_zipcd_free() - free a directory from fl_zipcd_read(); NULL is allowed. */
void fl_zipcd_free(struct fl_zipcd *cd);

/*
 * fl_zipcd_data_offset() - read @e's local header in @fd and return in
 * *@ret_off the file offset of its data.  Fails with -EIO when the header is
 * missing or when the data (csize bytes, and usize bytes for stored entries)
 * would not lie inside the file of @cd->file_size bytes.  Thread-safe
 * (one pread()).
 */
int fl_zipcd_data_offset(int fd, const struct fl_zipcd *cd, const struct fl_zipcd_entry *e,
			 uint64_t *ret_off);

/*
 * fl_zipcd_mtime() - @e's modification time: the extended timestamp (exact,
 * UTC) when present, otherwise the DOS date and time read as local time, as
 * Info-ZIP unzip does (mktime() with tm_isdst = -1).  An impossible DOS date
 * gives what mktime() normalises it to.
 */
time_t fl_zipcd_mtime(const struct fl_zipcd_entry *e);

#endif
