/* SPDX-License-Identifier: MIT */
/*
 * Baked arguments of a fuselage-bundle output: their byte encoding, and the
 * argument vector the launcher execs (SPEC §9).  Shared by fuselage-bundle and
 * the launcher stub, so it uses libc only and never prints or exits.
 *
 * Layout of a bundle (offsets in the file):
 *
 *   [0, S)        the launcher stub, unchanged except e_shoff
 *   [S, B)        the blob: FL_BARGS_MAGIC, u32 count, then per argument a u32
 *                 length and that many bytes (no terminator; any byte allowed)
 *   [B, B+24)     the footer, 8-aligned: u64 blob offset S, u64 blob length,
 *                 FL_BARGS_END
 *   [B+24, E)     a copy of the stub's section header table; e_shoff points
 *                 here, so the ELF's on-disk extent (SPEC §4) ends at E
 *   [E, I)        zeros, I = E rounded up to 4096
 *   [I, end)      the squashfs image, unchanged
 *
 * All integers are little-endian, whatever the host.
 */
#ifndef FL_BARGS_H
#define FL_BARGS_H

#include <stddef.h>
#include <stdint.h>

#include "fusefs/error.h"

#define FL_BARGS_MAGIC	    "FLBARGS1"
#define FL_BARGS_END	    "FLBAREND"
#define FL_BARGS_FOOTER_LEN 24
/* Generous bounds that no sane invocation reaches (ARG_MAX is 2 MiB here). */
#define FL_BARGS_MAX_BYTES (4u << 20)
#define FL_BARGS_MAX_COUNT 65536u

/* The word the launcher replaces by the bundle's own absolute path. */
#define FL_BARGS_SELF "/proc/self/exe"

/*
 * fl_bargs_encode() - encode @argc strings of @argv into a new blob.
 * On success *@ret_blob (caller frees with free()) and *@ret_len are set.
 * -E2BIG when the bounds above are exceeded, -ENOMEM.
 */
int fl_bargs_encode(char *const *argv, size_t argc, unsigned char **ret_blob, size_t *ret_len,
		    struct fl_error *err);

/*
 * fl_bargs_decode() - decode a blob of @len bytes into a NULL-terminated
 * vector of new strings (*@ret_argv, free with fl_bargs_free()) and its count
 * (*@ret_argc).  Every length is checked against the blob: -EINVAL with a
 * reason for a malformed blob, trailing bytes, or a NUL inside an argument
 * (which exec could not pass on).
 */
int fl_bargs_decode(const unsigned char *blob, size_t len, char ***ret_argv, size_t *ret_argc,
		    struct fl_error *err);

/* fl_bargs_free() - free a vector from fl_bargs_decode/fl_bargs_exec_argv; NULL is fine. */
void fl_bargs_free(char **argv);

/*
 * fl_bargs_footer() - fill the 24-byte footer for a blob at @blob_off of
 * @blob_len bytes.  fl_bargs_parse_footer() - the reverse: 0 and the two
 * values when @footer is one, -ENOENT when the end magic is absent (a bare
 * stub), -EINVAL when the blob it names does not end where the footer begins
 * (at @footer_off).
 */
void fl_bargs_footer(unsigned char footer[FL_BARGS_FOOTER_LEN], uint64_t blob_off,
		     uint64_t blob_len);
int fl_bargs_parse_footer(const unsigned char footer[FL_BARGS_FOOTER_LEN], uint64_t footer_off,
			  uint64_t *ret_blob_off, uint64_t *ret_blob_len, struct fl_error *err);

/*
 * fl_bargs_exec_argv() - the vector the launcher execs:
 *   @fuselage, BAKED (each FL_BARGS_SELF replaced by @self), "--" unless a
 *   baked argument is exactly "--", then @user verbatim.
 * NULL-terminated, new strings; free with fl_bargs_free().  -ENOMEM.
 */
int fl_bargs_exec_argv(const char *fuselage, char *const *baked, size_t nbaked, const char *self,
		       char *const *user, size_t nuser, char ***ret_argv, struct fl_error *err);

/* fl_bargs_replace() - a new copy of @s with every FL_BARGS_SELF replaced by
 * @self; NULL when out of memory. */
char *fl_bargs_replace(const char *s, const char *self);

#endif
