/* SPDX-License-Identifier: MIT */
/*
 * Archive format detection by content, never by file name (SPEC §4).
 */
#ifndef FL_DETECT_H
#define FL_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "fusefs/error.h"

enum fl_format {
	FL_FORMAT_ZIP,	  /* a zip archive, possibly with data in front */
	FL_FORMAT_SQFS,	  /* a squashfs 4.0 image at .offset */
	FL_FORMAT_BASE64, /* base64 text: decode it (b64.h), then fl_detect_decoded() */
};

struct fl_detected {
	enum fl_format format;
	uint64_t offset; /* where the image starts (squashfs) */
	bool elf;	 /* the squashfs image is appended to an ELF file */
};

/*
 * fl_detect() - look at @fd's content, in this order:
 *  - "hsqs" at 0: squashfs; "PK\3\4" or "PK\5\6" at 0: zip;
 *  - an ELF header: squashfs at the offset of the ELF extent rule (elf.h),
 *    when "hsqs" is there; otherwise, if the file ends in a zip end record,
 *    a zip (self-extracting zips with an ELF stub); otherwise an error
 *    ("ELF file with no squashfs image at offset N", or what is wrong with
 *    the ELF headers);
 *  - a zip end-of-central-directory record ending the file: zip with data in
 *    front;
 *  - text made only of '#' comment lines and base64 lines, judged on the
 *    first 4 KiB by fl_b64_sniff() (damage after its first 64 base64
 *    characters still counts, so that decoding can name the bad line):
 *    FL_FORMAT_BASE64.  Decoding validates the rest.
 * Returns 0, or -EINVAL with a one-line message (an unrecognised file: what
 * was tried), or -errno for read errors.
 */
int fl_detect(int fd, struct fl_detected *ret, struct fl_error *err);

/*
 * fl_detect_decoded() - fl_detect() for the bytes that base64 text decoded
 * to: the same formats except base64 itself (only one level is decoded:
 * base64 inside base64 is refused), and messages that say so ("base64 text
 * that decodes to something that is not an archive").
 */
int fl_detect_decoded(int fd, struct fl_detected *ret, struct fl_error *err);

/*
 * fl_detect_sqfs_extent() - how many bytes of @fd, from @offset where
 * fl_detect() found a squashfs image, the image occupies: the superblock's
 * bytes_used rounded up to FL_SQFS_PAD (mksquashfs pads its output so; a
 * block device's size is counted in whole sectors), but never past the end
 * of the file.  For a loop device that covers exactly the image.  Returns 0,
 * or -EINVAL with a one-line reason (a short or truncated superblock, a
 * version other than 4.0, bytes_used smaller than the superblock or past
 * the end of the file), or -errno for read errors.
 */
#define FL_SQFS_PAD 4096
int fl_detect_sqfs_extent(int fd, uint64_t offset, uint64_t *ret_len, struct fl_error *err);

/* fl_format_name() - "zip", "squashfs" or "base64". */
const char *fl_format_name(enum fl_format f);

#endif
