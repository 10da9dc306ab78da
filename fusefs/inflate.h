/* SPDX-License-Identifier: MIT */
/*
 * Raw deflate (zip method 8) decompression of one entry read with pread():
 * whole-entry inflation with size and CRC-32 checks, and random access into
 * large entries through per-handle cursors that share zran-style checkpoints
 * (bit position in the input + the 32 KiB window, about every 1 MiB of
 * output), recorded lazily as data is inflated.  Nothing here knows about zip
 * headers; nothing here prints.
 */
#ifndef FL_INFLATE_H
#define FL_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Default distance between checkpoints, in bytes of output. */
#define FL_INFLATE_SPAN ((uint64_t)1 << 20)
/* A span that disables checkpoints (every backward seek restarts at 0). */
#define FL_INFLATE_NO_CHECKPOINTS UINT64_MAX

/* Where a deflate stream lies.  The caller has checked that [off, off+csize)
 * is inside the file; usize and crc are what the entry claims (untrusted:
 * output beyond usize or a different CRC is -EIO, never an overflow). */
struct fl_inflate_src {
	int fd;          /* read with pread() only; not owned */
	uint64_t off;    /* file offset of the first compressed byte */
	uint64_t csize;  /* compressed bytes */
	uint64_t usize;  /* uncompressed bytes */
	uint32_t crc;    /* CRC-32 of the uncompressed bytes */
};

/*
 * fl_inflate_whole() - inflate the whole stream into @out (@src->usize
 * bytes, caller-owned).  Returns 0, -EIO when the data is damaged, shorter or
 * longer than usize, or fails the CRC, -ENOMEM.  Thread-safe.
 */
int fl_inflate_whole(const struct fl_inflate_src *src, void *out);

struct fl_inflate_index;

/*
 * fl_inflate_index_new() - the shared checkpoint set of one stream, empty at
 * first.  @span is the wanted distance between checkpoints (0 for
 * FL_INFLATE_SPAN; FL_INFLATE_NO_CHECKPOINTS to record none).  The index
 * copies @src; its fd must outlive the index.  Caller frees with
 * fl_inflate_index_free() after every cursor on it is freed.  Thread-safe.
 * Returns 0 or -ENOMEM.
 */
int fl_inflate_index_new(const struct fl_inflate_src *src, uint64_t span,
			 struct fl_inflate_index **ret_idx);

/* fl_inflate_index_free() - free an index; NULL is allowed. */
void fl_inflate_index_free(struct fl_inflate_index *idx);

/* fl_inflate_index_points() - how many checkpoints are recorded (tests). */
size_t fl_inflate_index_points(struct fl_inflate_index *idx);

/* fl_inflate_index_memory() - bytes the checkpoints hold (tests, stats). */
size_t fl_inflate_index_memory(struct fl_inflate_index *idx);

struct fl_inflate_cursor;

/*
 * fl_inflate_cursor_new() - a read position in @idx's stream (one per open
 * file handle).  Caller frees with fl_inflate_cursor_free() before freeing
 * @idx.  Returns 0 or -ENOMEM.
 */
int fl_inflate_cursor_new(struct fl_inflate_index *idx, struct fl_inflate_cursor **ret_cur);

/* fl_inflate_cursor_free() - free a cursor; NULL is allowed. */
void fl_inflate_cursor_free(struct fl_inflate_cursor *cur);

/*
 * fl_inflate_cursor_read() - copy up to @size bytes at output offset @off
 * into @buf.  Continues from the cursor's position when @off is at or after
 * it (and no checkpoint is closer), otherwise resumes from the nearest
 * checkpoint at or before @off (or from the start), recording checkpoints as
 * it goes.  A read that reaches the end of a stream inflated from its start
 * checks the CRC.  Returns the byte count (short only at usize), -EIO for
 * damaged data, -ENOMEM.  Calls on one cursor are serialised internally.
 */
ssize_t fl_inflate_cursor_read(struct fl_inflate_cursor *cur, void *buf, size_t size,
			       uint64_t off);

/*
 * fl_inflate_cursor_produced() - how many bytes @cur has inflated since it
 * was made, counting those skipped on the way to a read's offset: the work
 * its reads cost (tests, stats).
 */
uint64_t fl_inflate_cursor_produced(struct fl_inflate_cursor *cur);

#endif
