/* SPDX-License-Identifier: MIT */
/*
 * Archive format detection by content, never by file name (SPEC §4).
 */
#ifndef FL_DETECT_H
#define FL_DETECT_H

#include <stdint.h>

#include "fusefs/error.h"

enum fl_format {
	FL_FORMAT_ZIP,   /* a zip archive, possibly with data in front */
	FL_FORMAT_SQFS,  /* a squashfs 4.0 image at .offset */
};

struct fl_detected {
	enum fl_format format;
	uint64_t offset;  /* where the image starts (squashfs) */
};

/*
 * fl_detect() - look at @fd's content: "hsqs" at 0 is squashfs; "PK\3\4" or
 * "PK\5\6" at 0 is zip; otherwise a zip end-of-central-directory record near
 * the end is a zip with data in front.  Returns 0, or -EINVAL with a message
 * saying what was tried (-errno for read errors).
 */
int fl_detect(int fd, struct fl_detected *ret, struct fl_error *err);

/* fl_format_name() - "zip" or "squashfs". */
const char *fl_format_name(enum fl_format f);

#endif
