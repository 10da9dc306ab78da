/* SPDX-License-Identifier: MIT */
/*
 * Checkpointed raw inflate (see inflate.h).  The checkpoint technique is
 * Mark Adler's zran (zlib examples/zran.c): at a deflate block boundary the
 * decoder state is just the bit position in the input plus the last 32 KiB of
 * output, so inflation can later restart there with inflatePrime() and
 * inflateSetDictionary().  We take the window with inflateGetDictionary()
 * and keep it deflated (level 1) to hold memory down.  Never reads outside
 * [off, off + csize) and never writes more than usize bytes of output.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fusefs/inflate.h"

#define WINSIZE 32768u
#define IN_CHUNK 65536u
#define SKIP_CHUNK 65536u

struct point {
	uint64_t out;          /* output offset at the block boundary */
	uint64_t in;           /* input bytes consumed (relative to src.off) */
	int bits;              /* unused bits of the last consumed byte (0-7) */
	unsigned win_len;      /* uncompressed window length */
	unsigned zlen;         /* stored window length (compressed if < win_len) */
	unsigned char *win;
};

struct fl_inflate_index {
	struct fl_inflate_src src;
	uint64_t span;
	pthread_mutex_t lock;  /* guards the points array */
	struct point *points;  /* sorted by out */
	size_t n, cap;
	size_t mem;
};

struct fl_inflate_cursor {
	pthread_mutex_t lock;  /* one handle may be read by two threads */
	struct fl_inflate_index *idx;
	z_stream zs;
	bool live;             /* zs initialised */
	bool ended;            /* Z_STREAM_END seen */
	bool from_start;       /* crc covers everything from offset 0 */
	uint32_t crc;
	uint64_t out;          /* output offset of the next byte */
	uint64_t in;           /* input bytes fed to zs (relative to src.off) */
	uint64_t next_rec;     /* record a checkpoint at a boundary past this */
	uint64_t produced;     /* bytes inflated since the cursor was made */
	unsigned char inbuf[IN_CHUNK];
	unsigned char skip[SKIP_CHUNK];
};

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Feed the next input chunk when zs has none left and input remains.  At the
 * end of the input this is a no-op: inflate() may still have output in hand,
 * and says Z_BUF_ERROR when it truly needs more. */
static int refill(const struct fl_inflate_src *src, z_stream *zs, unsigned char *buf,
		  uint64_t *in)
{
	size_t n;
	int r;

	if (zs->avail_in > 0 || *in >= src->csize)
		return 0;
	n = src->csize - *in < IN_CHUNK ? (size_t)(src->csize - *in) : IN_CHUNK;
	r = read_at(src->fd, buf, n, src->off + *in);
	if (r < 0)
		return r;
	zs->next_in = buf;
	zs->avail_in = (uInt)n;
	*in += n;
	return 0;
}

static int zerr(int ret)
{
	return ret == Z_MEM_ERROR ? -ENOMEM : -EIO;
}

/*
 * Run inflate until the stream ends or avail_out is exhausted; the caller
 * sets next_out/avail_out.  Returns 1 at stream end, 0 when out of space,
 * -EIO when the input ends first or is damaged.
 */
static int inflate_into(const struct fl_inflate_src *src, z_stream *zs, unsigned char *inbuf,
			uint64_t *in)
{
	for (;;) {
		int r = refill(src, zs, inbuf, in), ret;

		if (r < 0)
			return r;
		ret = inflate(zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			return 1;
		if (zs->avail_out == 0 && (ret == Z_OK || ret == Z_BUF_ERROR))
			return 0;
		if (ret != Z_OK)
			return zerr(ret == Z_BUF_ERROR ? Z_DATA_ERROR : ret);
	}
}

/* After exactly usize bytes: the stream must end without another byte. */
static int expect_end(const struct fl_inflate_src *src, z_stream *zs, unsigned char *inbuf,
		      uint64_t *in)
{
	unsigned char sink;
	int r;

	zs->next_out = &sink;
	zs->avail_out = 1;
	r = inflate_into(src, zs, inbuf, in);
	if (r < 0)
		return r;
	return r == 1 && zs->avail_out == 1 ? 0 : -EIO;
}

int fl_inflate_whole(const struct fl_inflate_src *src, void *out)
{
	unsigned char *inbuf = malloc(IN_CHUNK), *p = out;
	uint64_t in = 0, left = src->usize;
	z_stream zs = { 0 };
	int r = -ENOMEM;

	if (!inbuf)
		return -ENOMEM;
	if (inflateInit2(&zs, -15) != Z_OK)
		goto out_buf;
	do {
		zs.next_out = p;
		zs.avail_out = left > (1u << 30) ? (1u << 30) : (uInt)left;
		p += zs.avail_out;
		left -= zs.avail_out;
		r = inflate_into(src, &zs, inbuf, &in);
	} while (r == 0 && left > 0);
	if (r == 1)
		r = left > 0 || zs.avail_out > 0 ? -EIO : 0; /* short, or exact */
	else if (r == 0)
		r = expect_end(src, &zs, inbuf, &in);
	if (r == 0 && crc32_z(0, out, (size_t)src->usize) != src->crc)
		r = -EIO;
	inflateEnd(&zs);
out_buf:
	free(inbuf);
	return r;
}

int fl_inflate_index_new(const struct fl_inflate_src *src, uint64_t span,
			 struct fl_inflate_index **ret_idx)
{
	struct fl_inflate_index *idx = calloc(1, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	idx->src = *src;
	idx->span = span ? span : FL_INFLATE_SPAN;
	pthread_mutex_init(&idx->lock, NULL);
	*ret_idx = idx;
	return 0;
}

void fl_inflate_index_free(struct fl_inflate_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->n; i++)
		free(idx->points[i].win);
	free(idx->points);
	pthread_mutex_destroy(&idx->lock);
	free(idx);
}

size_t fl_inflate_index_points(struct fl_inflate_index *idx)
{
	size_t n;

	pthread_mutex_lock(&idx->lock);
	n = idx->n;
	pthread_mutex_unlock(&idx->lock);
	return n;
}

size_t fl_inflate_index_memory(struct fl_inflate_index *idx)
{
	size_t n;

	pthread_mutex_lock(&idx->lock);
	n = idx->mem + idx->cap * sizeof(*idx->points);
	pthread_mutex_unlock(&idx->lock);
	return n;
}

/* Index of the last point with out <= @off, or -1; caller holds the lock. */
static long floor_point(const struct fl_inflate_index *idx, uint64_t off)
{
	size_t lo = 0, hi = idx->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (idx->points[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

/* Store @win deflated when that is smaller; returns 0 or -ENOMEM. */
static int pack_window(struct point *p, const unsigned char *win, unsigned len)
{
	uLongf zlen = compressBound(len);
	unsigned char *shrunk;

	p->win = malloc(zlen);
	if (!p->win)
		return -ENOMEM;
	p->win_len = len;
	if (compress2(p->win, &zlen, win, len, 1) == Z_OK && zlen < len) {
		p->zlen = (unsigned)zlen;
	} else {
		memcpy(p->win, win, len);
		p->zlen = len;
	}
	shrunk = realloc(p->win, p->zlen ? p->zlen : 1);

	if (shrunk)
		p->win = shrunk;
	return 0;
}

/* Insert @p at its place unless a point lies within span before it. */
static void add_point(struct fl_inflate_index *idx, struct point *p, uint64_t *next_rec)
{
	long f;

	pthread_mutex_lock(&idx->lock);
	f = floor_point(idx, p->out);
	if (f >= 0 && idx->points[f].out + idx->span > p->out) {
		*next_rec = idx->points[f].out + idx->span;
		goto out;
	}
	if (idx->n == idx->cap) {
		size_t cap = idx->cap ? idx->cap * 2 : 16;
		struct point *np = realloc(idx->points, cap * sizeof(*np));

		if (!np)
			goto out;
		idx->points = np;
		idx->cap = cap;
	}
	memmove(&idx->points[f + 2], &idx->points[f + 1],
		(idx->n - (size_t)(f + 1)) * sizeof(*idx->points));
	idx->points[f + 1] = *p;
	idx->n++;
	idx->mem += p->zlen;
	p->win = NULL;
	*next_rec = p->out + idx->span;
out:
	pthread_mutex_unlock(&idx->lock);
}

/* At a block boundary: record a checkpoint if none is near (best effort). */
static void maybe_checkpoint(struct fl_inflate_cursor *c)
{
	unsigned char win[WINSIZE];
	struct point p = { .out = c->out };
	uInt len = 0;

	if (c->idx->span == FL_INFLATE_NO_CHECKPOINTS || c->out < c->next_rec || c->out == 0)
		return;
	if ((c->zs.data_type & 128) == 0 || (c->zs.data_type & 64) != 0)
		return;
	if (inflateGetDictionary(&c->zs, win, &len) != Z_OK)
		return;
	p.in = c->in - c->zs.avail_in;
	p.bits = c->zs.data_type & 7;
	if (pack_window(&p, win, len) < 0)
		return;
	add_point(c->idx, &p, &c->next_rec);
	free(p.win);
}

int fl_inflate_cursor_new(struct fl_inflate_index *idx, struct fl_inflate_cursor **ret_cur)
{
	struct fl_inflate_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->idx = idx;
	pthread_mutex_init(&c->lock, NULL);
	*ret_cur = c;
	return 0;
}

void fl_inflate_cursor_free(struct fl_inflate_cursor *c)
{
	if (!c)
		return;
	if (c->live)
		inflateEnd(&c->zs);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Restart the cursor at checkpoint @p (NULL: the start of the stream). */
static int cursor_reset(struct fl_inflate_cursor *c, const struct point *p)
{
	unsigned char win[WINSIZE], byte;
	uLongf len = WINSIZE;
	int r;

	if (!c->live) {
		if (inflateInit2(&c->zs, -15) != Z_OK)
			return -ENOMEM;
		c->live = true;
	} else if (inflateReset(&c->zs) != Z_OK) {
		return -EIO;
	}
	c->zs.avail_in = 0;
	c->ended = false;
	c->from_start = !p;
	c->crc = crc32(0, NULL, 0);
	c->out = p ? p->out : 0;
	c->in = p ? p->in - (p->bits ? 1 : 0) : 0;
	c->next_rec = c->out + (c->idx->span == FL_INFLATE_NO_CHECKPOINTS ? 0 : c->idx->span);
	if (!p)
		return 0;
	if (p->bits) {
		r = read_at(c->idx->src.fd, &byte, 1, c->idx->src.off + c->in);
		if (r < 0)
			return r;
		c->in++;
		if (inflatePrime(&c->zs, p->bits, byte >> (8 - p->bits)) != Z_OK)
			return -EIO;
	}
	if (p->zlen < p->win_len) {
		if (uncompress(win, &len, p->win, p->zlen) != Z_OK || len != p->win_len)
			return -EIO;
	} else {
		memcpy(win, p->win, p->win_len);
	}
	return inflateSetDictionary(&c->zs, win, p->win_len) == Z_OK ? 0 : -EIO;
}

/* Reset to the point nearest before @off when that beats the current spot. */
static int cursor_seek(struct fl_inflate_cursor *c, uint64_t off)
{
	struct fl_inflate_index *idx = c->idx;
	struct point p = { 0 };
	bool have = false;
	long f;
	int r;

	pthread_mutex_lock(&idx->lock);
	f = floor_point(idx, off);
	if (f >= 0 && (!c->live || c->out > off || idx->points[f].out > c->out)) {
		/* Copy the window out: the array may move once unlocked. */
		p = idx->points[f];
		p.win = malloc(p.zlen ? p.zlen : 1);
		have = p.win != NULL;
		if (have)
			memcpy(p.win, idx->points[f].win, p.zlen);
	}
	pthread_mutex_unlock(&idx->lock);
	if (have) {
		r = cursor_reset(c, &p);
		free(p.win);
		return r;
	}
	if (!c->live || c->out > off)
		return cursor_reset(c, NULL);
	return 0;
}

/*
 * Produce at least one byte (at most @len) into @dst, stopping at block
 * boundaries to take checkpoints.  Returns the count (0 only when the stream
 * has ended), or -EIO for damaged or truncated data.
 */
static ssize_t cursor_step(struct fl_inflate_cursor *c, unsigned char *dst, size_t len)
{
	size_t total = 0;
	int r, ret;

	c->zs.next_out = dst;
	c->zs.avail_out = len > (1u << 30) ? (1u << 30) : (uInt)len;
	while (total == 0 && !c->ended) {
		uInt before = c->zs.avail_out;
		size_t got;

		r = refill(&c->idx->src, &c->zs, c->inbuf, &c->in);
		if (r < 0)
			return r;
		ret = inflate(&c->zs, Z_BLOCK);
		if (ret == Z_STREAM_END)
			c->ended = true;
		else if (ret != Z_OK)
			return zerr(ret == Z_BUF_ERROR ? Z_DATA_ERROR : ret);
		got = before - c->zs.avail_out;
		if (c->from_start)
			c->crc = (uint32_t)crc32_z(c->crc, c->zs.next_out - got, got);
		c->out += got;
		c->produced += got;
		total += got;
		maybe_checkpoint(c);
	}
	return (ssize_t)total;
}

/* At usize after inflating from 0: the stream must end here, CRC right. */
static int cursor_finish(struct fl_inflate_cursor *c)
{
	unsigned char sink;
	ssize_t n;

	if (!c->from_start)
		return 0;
	if (!c->ended) {
		n = cursor_step(c, &sink, 1);
		if (n != 0)
			return n < 0 ? (int)n : -EIO; /* longer than the entry claims */
	}
	return c->crc == c->idx->src.crc ? 0 : -EIO;
}

static ssize_t cursor_read_locked(struct fl_inflate_cursor *c, unsigned char *buf, size_t size,
				  uint64_t off)
{
	uint64_t usize = c->idx->src.usize;
	size_t done = 0;
	ssize_t n;
	int r;

	if (off >= usize || size == 0)
		return 0;
	if (size > usize - off)
		size = (size_t)(usize - off);
	r = cursor_seek(c, off);
	if (r < 0)
		return r;
	while (c->out < off) {
		uint64_t gap = off - c->out;

		n = cursor_step(c, c->skip, gap < SKIP_CHUNK ? (size_t)gap : SKIP_CHUNK);
		if (n <= 0)
			return n < 0 ? n : -EIO;
	}
	while (done < size) {
		n = cursor_step(c, buf + done, size - done);
		if (n <= 0)
			return n < 0 ? n : -EIO;
		done += (size_t)n;
	}
	if (c->out == usize && (r = cursor_finish(c)) < 0)
		return r;
	return (ssize_t)done;
}

ssize_t fl_inflate_cursor_read(struct fl_inflate_cursor *c, void *buf, size_t size, uint64_t off)
{
	ssize_t n;

	pthread_mutex_lock(&c->lock);
	n = cursor_read_locked(c, buf, size, off);
	if (n < 0)
		c->out = UINT64_MAX; /* state unknown: the next read resets */
	pthread_mutex_unlock(&c->lock);
	return n;
}

uint64_t fl_inflate_cursor_produced(struct fl_inflate_cursor *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->produced;
	pthread_mutex_unlock(&c->lock);
	return n;
}
