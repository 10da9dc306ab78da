/* SPDX-License-Identifier: MIT */
/*
 * Base64 text decoding (see b64.h).  A byte-at-a-time state machine, so that
 * chunks may split anywhere; decode_fd() streams through fixed buffers into
 * a memfd, which lives in memory only (like any anonymous memory it may be
 * swapped, but no file is ever created).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fusefs/b64.h"

enum { AT_LINE_START, IN_DATA, IN_COMMENT, IN_TRAILING_SPACE };

#define BAD 0xff
#define PAD 0xfe

/* RFC 4648 §4 alphabet; '=' is PAD, everything else BAD. */
static unsigned char value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (unsigned char)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (unsigned char)(c - '0' + 52);
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return c == '=' ? PAD : BAD;
}

void fl_b64_init(struct fl_b64 *s)
{
	*s = (struct fl_b64){ .line = 1, .where = AT_LINE_START };
}

static int bad_char(const struct fl_b64 *s, unsigned char c, struct fl_error *err)
{
	if (c > 0x20 && c < 0x7f)
		return fl_error_set(err, EINVAL,
				    "invalid base64 on line %" PRIu64 ": bad character '%c'",
				    s->line, c);
	return fl_error_set(err, EINVAL, "invalid base64 on line %" PRIu64 ": bad character 0x%02x",
			    s->line, c);
}

/* One base64 character (value @v, or PAD); appends to @out when a quantum
 * completes.  Returns the bytes written or -EINVAL. */
static int quantum_char(struct fl_b64 *s, unsigned char v, unsigned char *out, struct fl_error *err)
{
	if (s->ended)
		return fl_error_set(
		    err, EINVAL, "invalid base64 on line %" PRIu64 ": data after the '=' padding",
		    s->line);
	if (v == PAD) {
		if (s->nq < 2)
			return fl_error_set(
			    err, EINVAL,
			    "invalid base64 on line %" PRIu64 ": misplaced '=' padding", s->line);
		s->npad++;
		v = 0;
	} else if (s->npad) {
		return fl_error_set(
		    err, EINVAL, "invalid base64 on line %" PRIu64 ": data after the '=' padding",
		    s->line);
	}
	s->nchars++;
	s->bits = s->bits << 6 | v;
	if (++s->nq < 4)
		return 0;
	out[0] = (unsigned char)(s->bits >> 16);
	out[1] = (unsigned char)(s->bits >> 8);
	out[2] = (unsigned char)s->bits;
	int n = 3 - (int)s->npad;
	s->ended = s->npad > 0;
	s->bits = 0;
	s->nq = 0;
	s->npad = 0;
	return n;
}

ssize_t fl_b64_feed(struct fl_b64 *s, const void *in, size_t len, void *out, struct fl_error *err)
{
	const unsigned char *p = in;
	unsigned char *o = out;
	size_t w = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i], v;
		int n;

		if (c == '\n') {
			s->line++;
			s->where = AT_LINE_START;
			continue;
		}
		if (s->where == IN_COMMENT)
			continue;
		if (s->where == AT_LINE_START && c == '#') {
			s->where = IN_COMMENT;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			s->where = IN_TRAILING_SPACE;
			continue;
		}
		if (s->where == IN_TRAILING_SPACE)
			return fl_error_set(err, EINVAL,
					    "invalid base64 on line %" PRIu64
					    ": whitespace inside the line",
					    s->line);
		v = value_of(c);
		if (v == BAD)
			return bad_char(s, c, err);
		n = quantum_char(s, v, o + w, err);
		if (n < 0)
			return n;
		w += (size_t)n;
		s->where = IN_DATA;
	}
	return (ssize_t)w;
}

int fl_b64_finish(const struct fl_b64 *s, struct fl_error *err)
{
	if (s->nq != 0)
		return fl_error_set(err, EINVAL,
				    "truncated base64: %" PRIu64
				    " characters, not a multiple of 4 (line %" PRIu64 ")",
				    s->nchars, s->line);
	return 0;
}

bool fl_b64_sniff(const void *buf, size_t len, bool whole, bool strict)
{
	unsigned char out[FL_B64_OUT_MAX(512)];
	const unsigned char *p = buf;
	struct fl_b64 s;

	fl_b64_init(&s);
	for (size_t off = 0; off < len; off += 512) {
		size_t n = len - off < 512 ? len - off : 512;

		if (fl_b64_feed(&s, p + off, n, out, NULL) < 0)
			return !strict && s.nchars >= FL_B64_SNIFF_MIN;
	}
	if (!whole)
		return true;
	if (strict)
		return s.nchars >= 4 && fl_b64_finish(&s, NULL) == 0;
	return s.nchars > 0;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
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

#define CHUNK (64 * 1024)

/* Read @fd from offset 0 to the end, decoding into @mfd through the
 * caller's @in (CHUNK bytes) and @out (FL_B64_OUT_MAX(CHUNK) bytes). */
static int decode_into(int fd, int mfd, unsigned char *in, unsigned char *out, struct fl_error *err)
{
	struct fl_b64 s;
	uint64_t off = 0;

	fl_b64_init(&s);
	for (;;) {
		ssize_t n = pread(fd, in, CHUNK, (off_t)off), w;
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fl_error_set(err, errno, "cannot read: %s", strerror(errno));
		if (n == 0)
			return fl_b64_finish(&s, err);
		off += (uint64_t)n;
		w = fl_b64_feed(&s, in, (size_t)n, out, err);
		if (w < 0)
			return (int)w;
		r = write_all(mfd, out, (size_t)w);
		if (r < 0)
			return fl_error_set(
			    err, -r, "cannot write the decoded base64 to memory: %s", strerror(-r));
	}
}

int fl_b64_decode_fd(int fd, int *ret_memfd, struct fl_error *err)
{
	unsigned char *buf;
	int mfd, r;

	buf = malloc(CHUNK + FL_B64_OUT_MAX(CHUNK));
	if (!buf)
		return fl_error_set(err, ENOMEM, "decoding base64: out of memory");
	mfd = memfd_create("fuselage-b64", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		r = fl_error_set(err, errno, "memfd_create: %s", strerror(errno));
		goto free_buf;
	}
	r = decode_into(fd, mfd, buf, buf + CHUNK, err);
	free(buf);
	buf = NULL;
	if (r < 0)
		goto close_mfd;
	/* The served bytes can no longer change under the backends' caches. */
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		r = fl_error_set(err, errno, "sealing the decoded base64: %s", strerror(errno));
		goto close_mfd;
	}
	*ret_memfd = mfd;
	return 0;
close_mfd:
	close(mfd);
free_buf:
	free(buf);
	return r;
}
