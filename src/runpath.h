/* SPDX-License-Identifier: MIT */
/*
 * --run PATH resolution (SPEC §2.3): find the one executable that PATH names
 * inside the served archives.  Runs after the archives are served and after
 * privilege is dropped, so every check is the caller's own.
 */
#ifndef FL_RUNPATH_H
#define FL_RUNPATH_H

#include <stddef.h>

#include "fusefs/error.h"

struct fl_runpath_root {
	const char *name;  /* the archive's NAME */
	const char *dir;   /* where it is served (absolute) */
};

/*
 * fl_runpath_resolve() - resolve @path against @roots.  Relative: the
 * candidates are DIR/rest when the first component of @path is an archive
 * NAME, and DIR/@path for every archive; exactly one may exist.  Absolute:
 * must lie inside one of the roots (no ".." components).  The result must be
 * a regular file the real user may execute.  Returns 0 and a malloc'd path in
 * *@ret_path, or -errno with a one-line message.
 */
int fl_runpath_resolve(const char *path, const struct fl_runpath_root *roots, size_t nroots,
		       char **ret_path, struct fl_error *err);

#endif
