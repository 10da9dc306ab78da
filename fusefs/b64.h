/* SPDX-License-Identifier: MIT */
/*
 * Base64 text inputs (SPEC §4): a streaming decoder and the decoding of a
 * whole file into an anonymous memory file.  The text: lines starting with
 * '#' are comments, skipped anywhere; every other line holds standard base64
 * (RFC 4648 §4: A-Z a-z 0-9 + /, '=' padding) of any width, and may end in
 * spaces, tabs or CR (CRLF files).  Decoded bytes never touch a disk.
 */
#ifndef FL_B64_H
#define FL_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fusefs/error.h"

/* Output room fl_b64_feed() needs for @n input bytes. */
#define FL_B64_OUT_MAX(n) (((n) / 4 + 1) * 3)

/* Decoder state; set up with fl_b64_init(), no resources to free. */
struct fl_b64 {
	uint64_t line;	 /* current line, 1-based */
	uint64_t nchars; /* base64 characters (incl. '=') seen */
	uint32_t bits;	 /* sextets of the current quantum */
	unsigned nq;	 /* characters in the current quantum, 0-3 */
	unsigned npad;	 /* '=' in the current quantum */
	bool ended;	 /* a padded quantum ended the data */
	int where;	 /* line state (b64.c) */
};

void fl_b64_init(struct fl_b64 *s);

/*
 * fl_b64_feed() - decode the next @len bytes of text (any split, even inside
 * a line or a CRLF) into @out, which has room for FL_B64_OUT_MAX(@len) bytes.
 * Returns the number of bytes written, or -EINVAL with a one-line message
 * naming the line ("invalid base64 on line N: bad character 'x'", misplaced
 * or early padding, data after the padding, whitespace inside a line).
 * After an error the state must not be fed again.
 */
ssize_t fl_b64_feed(struct fl_b64 *s, const void *in, size_t len, void *out, struct fl_error *err);

/*
 * fl_b64_finish() - the input has ended: 0 if the base64 characters came in
 * whole quanta of 4 (empty input included), else -EINVAL ("truncated
 * base64: ...").
 */
int fl_b64_finish(const struct fl_b64 *s, struct fl_error *err);

/* Base64 characters that make damaged text count as base64 (see sniff). */
#define FL_B64_SNIFF_MIN 64

/*
 * fl_b64_sniff() - does @buf, the first @len bytes of a file (@whole: the
 * entire file), look like base64 text?  Cheap: for a first few KiB.
 *  - Not @strict (a file given to us): true when the decoder accepts all of
 *    @buf (for a whole file: with at least one base64 character; a file of
 *    comments alone is not base64), or when it fails only after
 *    FL_B64_SNIFF_MIN base64 characters: damaged base64, whose decoding
 *    then reports the bad line.
 *  - @strict (bytes that base64 decoded to, to refuse a second level): the
 *    decoder accepts all of @buf, and a whole file is complete quanta of at
 *    least 4 characters.
 */
bool fl_b64_sniff(const void *buf, size_t len, bool whole, bool strict);

/*
 * fl_b64_decode_fd() - decode all of @fd (from offset 0, with pread; @fd's
 * file position is not used) into a new sealed memory file
 * (memfd_create("fuselage-b64", MFD_CLOEXEC)).  Buffers are fixed-size; the
 * memory file holds exactly the decoded bytes.  On success *@ret_memfd is
 * the caller's (close it); on failure nothing is left open and @err has one
 * line.
 */
int fl_b64_decode_fd(int fd, int *ret_memfd, struct fl_error *err);

#endif
