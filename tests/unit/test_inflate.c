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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @n random 4 KiB reads; returns seconds.  Checks every byte. */
static double timed_reads(struct fl_inflate_cursor *c, const struct stream *s, int n,
			  uint64_t seed)
{
	unsigned char buf[4096];
	double t0 = now();

	for (int i = 0; i < n; i++) {
		uint64_t off;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (seed >> 16) % (s->len - sizeof(buf));
		cr_assert_eq(fl_inflate_cursor_read(c, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
		cr_assert_eq(memcmp(buf, s->data + off, sizeof(buf)), 0, "bytes differ at %llu",
			     (unsigned long long)off);
	}
	return now() - t0;
}

/*
 * The measurement of the brief: 1000 random 4 KiB reads in a 256 MiB+
 * deflated stream, with checkpoints (cold index, then warm) and re-inflating
 * from zero.  The restart path is slow: 20 reads unless FL_BENCH_FULL=1.
 */
Test(inflate, bench_checkpoints_vs_restart, .timeout = 900)
{
	int nslow = getenv("FL_BENCH_FULL") ? 1000 : 20;
	struct fl_inflate_index *idx, *idx0;
	struct fl_inflate_cursor *c, *c0;
	double cold, warm, slow;
	struct stream s;

	stream_init(&s, (size_t)288 << 20, 6);
	cr_assert_eq(fl_inflate_index_new(&s.src, 0, &idx), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx, &c), 0);
	cold = timed_reads(c, &s, 1000, 1);
	warm = timed_reads(c, &s, 1000, 2);
	cr_assert_eq(fl_inflate_index_new(&s.src, FL_INFLATE_NO_CHECKPOINTS, &idx0), 0);
	cr_assert_eq(fl_inflate_cursor_new(idx0, &c0), 0);
	slow = timed_reads(c0, &s, nslow, 3);
	fprintf(stderr,
		"inflate bench: %zu MiB -> %llu MiB deflated; 1000 random 4 KiB reads:\n"
		"  checkpoints, cold index: %.3f s (%.2f ms/read), %zu points, %zu KiB held\n"
		"  checkpoints, warm index: %.3f s (%.2f ms/read)\n"
		"  from zero (%d reads):    %.3f s (%.2f ms/read, ~%.0f s per 1000)\n",
		s.len >> 20, (unsigned long long)(s.src.csize >> 20), cold, cold,
		fl_inflate_index_points(idx), fl_inflate_index_memory(idx) >> 10, warm, warm, nslow,
		slow, slow * 1000 / nslow, slow * 1000 / nslow);
	cr_assert_lt(warm * 5, slow * 1000 / nslow, "checkpoints must beat restarting by far");
	fl_inflate_cursor_free(c0);
	fl_inflate_index_free(idx0);
	fl_inflate_cursor_free(c);
	fl_inflate_index_free(idx);
	stream_done(&s);
}
