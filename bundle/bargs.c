/* SPDX-License-Identifier: MIT */
/*
 * Baked arguments (see bargs.h): a length-prefixed encoding, so that any
 * argument an exec could carry (quotes, backslashes, newlines, UTF-8, empty
 * strings) comes back byte for byte.  Decoding trusts nothing in the blob.
 * libc only: the launcher stub links this file and must stay small.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bargs.h"

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int fl_bargs_encode(char *const *argv, size_t argc, unsigned char **ret_blob, size_t *ret_len,
		    struct fl_error *err)
{
	size_t len = 8 + 4;
	unsigned char *blob, *p;

	if (argc > FL_BARGS_MAX_COUNT)
		return fl_error_set(err, E2BIG, "too many arguments to bake (%zu, at most %u)",
				    argc, FL_BARGS_MAX_COUNT);
	for (size_t i = 0; i < argc; i++) {
		len += 4 + strlen(argv[i]);
		if (len > FL_BARGS_MAX_BYTES)
			return fl_error_set(err, E2BIG, "the arguments to bake exceed %u bytes",
					    FL_BARGS_MAX_BYTES);
	}
	blob = malloc(len);
	if (!blob)
		return fl_error_set(err, ENOMEM, "out of memory");
	memcpy(blob, FL_BARGS_MAGIC, 8);
	put_u32(blob + 8, (uint32_t)argc);
	p = blob + 12;
	for (size_t i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		put_u32(p, (uint32_t)n);
		memcpy(p + 4, argv[i], n);
		p += 4 + n;
	}
	*ret_blob = blob;
	*ret_len = len;
	return 0;
}

void fl_bargs_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int fl_bargs_decode(const unsigned char *blob, size_t len, char ***ret_argv, size_t *ret_argc,
		    struct fl_error *err)
{
	size_t argc, pos = 12;
	char **argv;

	if (len < 12 || memcmp(blob, FL_BARGS_MAGIC, 8) != 0)
		return fl_error_set(err, EINVAL, "the baked arguments have no valid header");
	if (len > FL_BARGS_MAX_BYTES)
		return fl_error_set(err, EINVAL, "the baked arguments are too long (%zu bytes)",
				    len);
	argc = get_u32(blob + 8);
	if (argc > FL_BARGS_MAX_COUNT || argc > (len - 12) / 4)
		return fl_error_set(err, EINVAL, "the baked argument count %zu is impossible",
				    argc);
	argv = calloc(argc + 1, sizeof(*argv));
	if (!argv)
		return fl_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < argc; i++) {
		size_t n;

		if (len - pos < 4)
			goto truncated;
		n = get_u32(blob + pos);
		pos += 4;
		if (n > len - pos)
			goto truncated;
		if (memchr(blob + pos, '\0', n)) {
			fl_bargs_free(argv);
			return fl_error_set(err, EINVAL, "baked argument %zu contains a NUL byte",
					    i + 1);
		}
		argv[i] = malloc(n + 1);
		if (!argv[i]) {
			fl_bargs_free(argv);
			return fl_error_set(err, ENOMEM, "out of memory");
		}
		memcpy(argv[i], blob + pos, n);
		argv[i][n] = '\0';
		pos += n;
	}
	if (pos != len) {
		fl_bargs_free(argv);
		return fl_error_set(err, EINVAL, "%zu stray bytes after the baked arguments",
				    len - pos);
	}
	*ret_argv = argv;
	*ret_argc = argc;
	return 0;

truncated:
	fl_bargs_free(argv);
	return fl_error_set(err, EINVAL, "the baked arguments are truncated");
}

void fl_bargs_footer(unsigned char footer[FL_BARGS_FOOTER_LEN], uint64_t blob_off,
		     uint64_t blob_len)
{
	put_u64(footer, blob_off);
	put_u64(footer + 8, blob_len);
	memcpy(footer + 16, FL_BARGS_END, 8);
}

int fl_bargs_parse_footer(const unsigned char footer[FL_BARGS_FOOTER_LEN], uint64_t footer_off,
			  uint64_t *ret_blob_off, uint64_t *ret_blob_len, struct fl_error *err)
{
	uint64_t off = get_u64(footer), len = get_u64(footer + 8), end;

	if (memcmp(footer + 16, FL_BARGS_END, 8) != 0)
		return fl_error_set(err, ENOENT, "no baked arguments found");
	/* The blob ends at most 7 padding bytes before the footer. */
	if (__builtin_add_overflow(off, len, &end) || end > footer_off || footer_off - end > 7 ||
	    len > FL_BARGS_MAX_BYTES)
		return fl_error_set(err, EINVAL, "the baked arguments' footer is inconsistent");
	*ret_blob_off = off;
	*ret_blob_len = len;
	return 0;
}

char *fl_bargs_replace(const char *s, const char *self)
{
	size_t slen = strlen(FL_BARGS_SELF), n = 0, len;
	const char *p;
	char *out, *q;

	for (p = s; (p = strstr(p, FL_BARGS_SELF)); p += slen)
		n++;
	len = strlen(s) + n * strlen(self) - n * slen;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	q = out;
	for (p = s; *p;) {
		if (strncmp(p, FL_BARGS_SELF, slen) == 0) {
			q = stpcpy(q, self);
			p += slen;
		} else {
			*q++ = *p++;
		}
	}
	*q = '\0';
	return out;
}

int fl_bargs_exec_argv(const char *fuselage, char *const *baked, size_t nbaked, const char *self,
		       char *const *user, size_t nuser, char ***ret_argv, struct fl_error *err)
{
	bool has_dashdash = false;
	size_t n = 0;
	char **argv;

	for (size_t i = 0; i < nbaked; i++)
		has_dashdash |= strcmp(baked[i], "--") == 0;
	argv = calloc(1 + nbaked + 1 + nuser + 1, sizeof(*argv));
	if (!argv)
		return fl_error_set(err, ENOMEM, "out of memory");
	argv[n++] = strdup(fuselage);
	for (size_t i = 0; i < nbaked && argv[n - 1]; i++)
		argv[n++] = fl_bargs_replace(baked[i], self);
	if (argv[n - 1] && !has_dashdash)
		argv[n++] = strdup("--");
	for (size_t i = 0; i < nuser && argv[n - 1]; i++)
		argv[n++] = strdup(user[i]);
	if (!argv[n - 1]) {
		fl_bargs_free(argv);
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	*ret_argv = argv;
	return 0;
}
