/* SPDX-License-Identifier: MIT */
/*
 * Data of zip entries compressed with a method other than stored and
 * deflate (bzip2, and whatever else the installed libzip decodes), read
 * through libzip.  The only file that includes <zip.h>.  The archive is
 * opened with libzip lazily, once, read-only, on a close-on-exec duplicate of
 * the tree's descriptor; every libzip call runs under one mutex (a zip_t is
 * not thread-safe).  Never trusts libzip's directory over ours: an entry is
 * read only when libzip's entry of the same index has our name, sizes,
 * method and CRC.  Nothing here prints.
 */
#ifndef FL_ZIP_OTHER_H
#define FL_ZIP_OTHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fusefs/zip_cd.h"

/*
 * fl_zip_other_supported() - whether the libzip we run with can decode
 * @method (asked at run time: Debian 12's libzip 1.7.3 decodes bzip2 (12)
 * only; lzma (14) and zstd (93) need libzip 1.8, xz (95) a build with
 * liblzma).  False for stored and deflate: those never go through libzip.
 */
bool fl_zip_other_supported(uint16_t method);

struct fl_zip_other;

/*
 * fl_zip_other_new() - a libzip reader of the archive in @fd whose directory
 * @cd was read by fl_zipcd_read().  Cheap: libzip opens the archive on first
 * use only, seeing the file from @cd->prefix on, so data in front of the
 * archive is allowed.  @fd and @cd stay the caller's and must outlive the
 * reader.  Caller frees with fl_zip_other_free().  Returns 0 or -ENOMEM.
 */
int fl_zip_other_new(int fd, const struct fl_zipcd *cd, struct fl_zip_other **ret_zo);

/* fl_zip_other_free() - free a reader after every cursor on it; NULL is allowed. */
void fl_zip_other_free(struct fl_zip_other *zo);

/*
 * fl_zip_other_whole() - decompress entry @index of the directory into @out
 * (its usize bytes, caller-owned).  Returns 0; -EIO when libzip cannot open
 * the archive or the entry, disagrees with our directory, or the data is
 * damaged, shorter or longer than usize or fails the CRC; -ENOMEM.  The
 * caller has checked that the entry is not encrypted and that its method is
 * supported.  Thread-safe (serialised with every other call on @zo).
 */
int fl_zip_other_whole(struct fl_zip_other *zo, uint32_t index, void *out);

struct fl_zip_other_cursor;

/*
 * fl_zip_other_cursor_new() - a sequential read position in entry @index
 * (one per open file handle of a large entry).  Opens nothing yet.  Caller
 * frees with fl_zip_other_cursor_free() before freeing @zo.  Returns 0 or
 * -ENOMEM.
 */
int fl_zip_other_cursor_new(struct fl_zip_other *zo, uint32_t index,
			    struct fl_zip_other_cursor **ret_cur);

/* fl_zip_other_cursor_free() - free a cursor; NULL is allowed. */
void fl_zip_other_cursor_free(struct fl_zip_other_cursor *cur);

/*
 * fl_zip_other_cursor_read() - copy up to @size bytes at output offset @off
 * into @buf.  Continues from the cursor's position when @off is at or after
 * it, otherwise restarts the entry from its first byte (libzip cannot seek
 * in compressed data).  A read that reaches usize checks that the data ends
 * there and the CRC, then lets the decoder go.  Returns the byte count
 * (short only at usize) or the errors of fl_zip_other_whole().  Thread-safe.
 */
ssize_t fl_zip_other_cursor_read(struct fl_zip_other_cursor *cur, void *buf, size_t size,
				 uint64_t off);

#endif
