/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of fusefs/inflate.c: whole-stream inflation with its size and
 * CRC checks, cursors with lazily recorded checkpoints (random reads compared
 * byte for byte with the source), damaged streams, concurrency, and the
 * checkpoint-vs-restart measurement on a 256 MiB+ stream (figures on stderr).
 */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fusefs/inflate.h"
#include "tests/unit/helpers.h"

#define PREFIX 1000 /* bytes in front of the stream in the test file */

struct stream {
	unsigned char *data;   /* the uncompressed source */
	size_t len;
	char path[4200];
	int fd;
	struct fl_inflate_src src;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Compressible but not trivial text: numbered lines with random words. */
static unsigned char *make_text(size_t len)
{
	static const char *words[] = { "alpha ", "beta ", "gamma ", "delta ", "epsilon ",
				       "zeta ", "eta ", "theta ", "iota ", "kappa " };
	unsigned char *p = malloc(len);
	size_t n = 0, line = 0;

	cr_assert_not_null(p);
	while (n < len) {
		char tmp[128];
		int k = snprintf(tmp, sizeof(tmp), "%08zu %s%s%s%u\n", line++,
				 words[rng() % 10], words[rng() % 10], words[rng() % 10],
				 (unsigned)(rng() % 100000));

		for (int i = 0; i < k && n < len; i++)
			p[n++] = (unsigned char)tmp[i];
	}
	return p;
}

/* Deflate @s->data raw into a file, after PREFIX junk bytes. */
static void write_stream(struct stream *s, int level)
{
	z_stream zs = { 0 };
	size_t cap = compressBound(s->len) + 1024, total;
	unsigned char *out = malloc(cap + PREFIX);
	const char *dir = fl_test_tmpdir();

	cr_assert_not_null(out);
	memset(out, 'J', PREFIX);
	cr_assert_eq(deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = s->data;
	zs.next_out = out + PREFIX;
	total = 0;
	for (int ret = Z_OK; ret != Z_STREAM_END;) {
		size_t chunk = s->len - total > (1u << 30) ? (1u << 30) : s->len - total;

		zs.avail_in = (uInt)chunk;
		zs.avail_out = (uInt)(cap - zs.total_out > (1u << 30) ? (1u << 30) : cap - zs.total_out);
		ret = deflate(&zs, total + chunk == s->len ? Z_FINISH : Z_NO_FLUSH);
		cr_assert(ret == Z_OK || ret == Z_STREAM_END || ret == Z_BUF_ERROR);
		total = zs.total_in;
	}
	snprintf(s->path, sizeof(s->path), "%s/stream.bin", dir);
	fl_test_write(s->path, out, PREFIX + zs.total_out);
	s->src.csize = zs.total_out;
	deflateEnd(&zs);
	free(out);
	s->fd = fl_test_open(s->path);
	s->src.fd = s->fd;
	s->src.off = PREFIX;
	s->src.usize = s->len;
	s->src.crc = (uint32_t)crc32_z(0, s->data, s->len);
}

static void stream_init(struct stream *s, size_t len, int level)
{
	memset(s, 0, sizeof(*s));
	s->len = len;
	s->data = make_text(len);
	write_stream(s, level);
}

static void stream_done(struct stream *s)
{
	char dir[4200];

	close(s->fd);
	snprintf(dir, sizeof(dir), "%s", s->path);
	*strrchr(dir, '/') = '\0';
	fl_test_rmtree(dir);
	free(s->data);
}

Test(inflate, whole_ok_and_checks)
{
	struct stream s;
	struct fl_inflate_src bad;
	unsigned char *out;

	stream_init(&s, 3 << 20, 6);
	out = malloc(s.len + 16);
	cr_assert_eq(fl_inflate_whole(&s.src, out), 0);
	cr_assert_eq(memcmp(out, s.data, s.len), 0);
	bad = s.src;
	bad.crc ^= 1;
	cr_assert_eq(fl_inflate_whole(&bad, out), -EIO, "CRC mismatch must be EIO");
	bad = s.src;
	bad.usize -= 1;
	cr_assert_eq(fl_inflate_whole(&bad, out), -EIO, "longer data than usize must be EIO");
	bad = s.src;
	bad.usize += 1;
	cr_assert_eq(fl_inflate_whole(&bad, out), -EIO, "shorter data than usize must be EIO");
	bad = s.src;
	bad.csize /= 2;
	cr_assert_eq(fl_inflate_whole(&bad, out), -EIO, "truncated input must be EIO");
	bad = s.src;
	bad.off = 0; /* the junk prefix is not deflate data */
	cr_assert_eq(fl_inflate_whole(&bad, out), -EIO);
	free(out);
	stream_done(&s);
}

Test(inflate, whole_empty_stream)
{
	struct stream s;
	unsigned char b;

	stream_init(&s, 0, 6);
	cr_assert_eq(fl_inflate_whole(&s.src, &b), 0);
	stream_done(&s);
}

static void check_read(struct fl_inflate_cursor *c, const struct stream *s, uint64_t off,
		       size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	size_t want = off >= s->len ? 0 : (s->len - off < size ? s->len - off : size);
	ssize_t n = fl_inflate_cursor_read(c, buf, size, off);

	cr_assert_eq(n, (ssize_t)want, "read at %llu: %zd, want %zu", (unsigned long long)off, n,
		     want);
	cr_assert_eq(memcmp(buf, s->data + off, want), 0, "bytes differ at %llu",
		     (unsigned long long)off);
	free(buf);
}

Test(inflate, cursor_sequential_then_random)
{
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *c;
	struct stream s;

	stream_init(&s, 9 << 20, 6);
	cr_assert_eq(fl_inflate_index_new(&s.src, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	for (uint64_t off = 0; off < s.len; off += 131072)
		check_read(c, &s, off, 131072);
	/* ~9 MiB at one checkpoint per MiB (block boundaries are not exact). */
	cr_assert_geq(fl_inflate_index_points(idx), 6);
	cr_assert_leq(fl_inflate_index_points(idx), 9);
	cr_assert_lt(fl_inflate_index_memory(idx), 9 * 32768, "windows are stored deflated");
	for (int i = 0; i < 300; i++)
		check_read(c, &s, rng() % (s.len + 100), 1 + rng() % 70000);
	check_read(c, &s, s.len - 1, 100);
	check_read(c, &s, s.len, 100);
	check_read(c, &s, 0, 0);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}

Test(inflate, cursor_random_on_fresh_index)
{
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *c;
	struct stream s;

	stream_init(&s, 6 << 20, 1);
	cr_assert_eq(fl_inflate_index_new(&s.src, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	for (int i = 0; i < 200; i++)
		check_read(c, &s, rng() % s.len, 4096);
	fl_inflate_cursor_free(c);
	/* A second cursor starts from the checkpoints the first recorded. */
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	check_read(c, &s, s.len - 5000, 4096);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}

Test(inflate, no_checkpoints_mode)
{
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *c;
	struct stream s;

	stream_init(&s, 3 << 20, 6);
	cr_assert_eq(fl_inflate_index_new(&s.src, FL_INFLATE_NO_CHECKPOINTS, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	for (int i = 0; i < 20; i++)
		check_read(c, &s, rng() % s.len, 4096);
	cr_assert_eq(fl_inflate_index_points(idx), 0);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}

Test(inflate, cursor_crc_and_truncation)
{
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *c;
	struct fl_inflate_src bad;
	struct stream s;
	unsigned char buf[65536];

	stream_init(&s, 2 << 20, 6);
	bad = s.src;
	bad.crc ^= 0x80;
	cr_assert_eq(fl_inflate_index_new(&bad, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	cr_assert_eq(fl_inflate_cursor_read(c, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	cr_assert_eq(fl_inflate_cursor_read(c, buf, sizeof(buf), s.len - 10), -EIO,
		     "the read reaching the end from offset 0 checks the CRC");
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);

	bad = s.src;
	bad.csize = s.src.csize / 3;
	cr_assert_eq(fl_inflate_index_new(&bad, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	cr_assert_eq(fl_inflate_cursor_read(c, buf, 4096, s.len - 8192), -EIO);
	cr_assert_eq(fl_inflate_cursor_read(c, buf, 4096, 0), 4096, "still usable before the damage");
	cr_assert_eq(memcmp(buf, s.data, 4096), 0);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);

	bad = s.src;
	bad.usize = s.len + 100000; /* claims more than the stream holds */
	cr_assert_eq(fl_inflate_index_new(&bad, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	cr_assert_eq(fl_inflate_cursor_read(c, buf, 4096, s.len + 50000), -EIO);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}

struct worker {
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *shared;
	const struct stream *s;
	uint64_t seed;
	int bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fl_inflate_cursor *own = NULL;
	unsigned char buf[8192];

	if (fl_inflate_cursor_new(w->idx, &own) < 0)
		return NULL;
	for (int i = 0; i < 150; i++) {
		uint64_t off;

		w->seed = w->seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (w->seed >> 20) % w->s->len;
		struct fl_inflate_cursor *c = (i & 1) ? own : w->shared;
		ssize_t n = fl_inflate_cursor_read(c, buf, sizeof(buf), off);
		size_t want = w->s->len - off < sizeof(buf) ? w->s->len - off : sizeof(buf);

		if (n != (ssize_t)want || memcmp(buf, w->s->data + off, want) != 0)
			w->bad++;
	}
	fl_inflate_cursor_free(own);
	return NULL;
}

Test(inflate, concurrent_cursors)
{
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *shared;
	struct worker w[4];
	pthread_t th[4];
	struct stream s;

	stream_init(&s, 8 << 20, 6);
	cr_assert_eq(fl_inflate_index_new(&s.src, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &shared), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .idx = idx, .shared = shared, .s = &s, .seed = 17u + i };
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].bad, 0, "thread %d saw %d bad reads", i, w[i].bad);
	}
	fl_inflate_cursor_free(shared);
	fl_inflate_index_free(idx);
	stream_done(&s);
}

/* @n random 4 KiB reads (checking every byte); returns the bytes the
 * cursor inflated for them, and the largest amount one read cost. */
static uint64_t random_reads(struct fl_inflate_cursor *c, const struct stream *s, int n,
			     uint64_t seed, uint64_t *ret_max)
{
	uint64_t start = fl_inflate_cursor_produced(c), max = 0;
	unsigned char buf[4096];

	for (int i = 0; i < n; i++) {
		uint64_t off, before = fl_inflate_cursor_produced(c), cost;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (seed >> 16) % (s->len - sizeof(buf));
		cr_assert_eq(fl_inflate_cursor_read(c, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
		cr_assert_eq(memcmp(buf, s->data + off, sizeof(buf)), 0, "bytes differ at %llu",
			     (unsigned long long)off);
		cost = fl_inflate_cursor_produced(c) - before;
		if (cost > max)
			max = cost;
	}
	*ret_max = max;
	return fl_inflate_cursor_produced(c) - start;
}

/*
 * What checkpoints buy, counted in bytes inflated rather than timed (the
 * timings are bench/run.sh row 4's): random 4 KiB reads in a 48 MiB
 * deflated stream.  Once the index is warm, no read inflates more than one
 * span plus one deflate block and the read itself; re-inflating from zero
 * costs, on average, half the stream per backwards read.
 */
Test(inflate, checkpoints_bound_the_work_of_random_reads, .timeout = 300)
{
	const uint64_t bound = 2 * FL_INFLATE_SPAN + 4096;
	struct fl_inflate_index *idx, *idx0;
	struct fl_inflate_cursor *c, *c0;
	uint64_t cold, warm, slow, max_cold, max_warm, max_slow;
	unsigned char buf[64 << 10];
	struct stream s;
	size_t points;

	stream_init(&s, (size_t)48 << 20, 6);
	cr_assert_eq(fl_inflate_index_new(&s.src, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	/* cold: checkpoints are taken on the way, so the stream is inflated
	 * about once in all, plus at most a bounded amount per read */
	cold = random_reads(c, &s, 200, 1, &max_cold);
	cr_assert_leq(cold, s.len + 200 * bound, "cold: %llu bytes inflated for 200 reads",
		      (unsigned long long)cold);
	/* one sequential pass makes the index complete */
	for (uint64_t off = 0; off < s.len; off += sizeof(buf))
		cr_assert_gt(fl_inflate_cursor_read(c, buf, sizeof(buf), off), 0);
	points = fl_inflate_index_points(idx);
	cr_assert_geq(points, s.len / (2 * FL_INFLATE_SPAN), "%zu checkpoints for %zu MiB", points,
		      s.len >> 20);
	cr_assert_leq(points, s.len / FL_INFLATE_SPAN + 1, "%zu checkpoints for %zu MiB", points,
		      s.len >> 20);
	warm = random_reads(c, &s, 1000, 2, &max_warm);
	cr_assert_leq(max_warm, bound, "warm: one read inflated %llu bytes (bound %llu)",
		      (unsigned long long)max_warm, (unsigned long long)bound);

	cr_assert_eq(fl_inflate_index_new(&s.src, FL_INFLATE_NO_CHECKPOINTS, &idx0), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx0, &c0), 0);
	cr_assert_eq(fl_inflate_index_points(idx0), 0);
	slow = random_reads(c0, &s, 20, 2, &max_slow);
	fprintf(stderr,
		"inflate work: %zu MiB stream, %zu checkpoints (%zu KiB held); bytes inflated per "
		"4 KiB read: cold %llu, warm %llu (max %llu), from zero %llu (max %llu)\n",
		s.len >> 20, points, fl_inflate_index_memory(idx) >> 10,
		(unsigned long long)(cold / 200), (unsigned long long)(warm / 1000),
		(unsigned long long)max_warm, (unsigned long long)(slow / 20),
		(unsigned long long)max_slow);
	/* the target, as work: at least 10x less than from zero */
	cr_assert_geq(slow / 20, 10 * (warm / 1000), "warm %llu vs from zero %llu bytes per read",
		      (unsigned long long)(warm / 1000), (unsigned long long)(slow / 20));
	fl_inflate_cursor_free(c0);
	fl_inflate_index_free(idx0);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}
