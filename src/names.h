/* SPDX-License-Identifier: MIT */
/*
 * Names of archives and directories (SPEC §2.1): splitting NAME:FILE,
 * deriving a name from a file name, validating names and fixed paths
 * (/run/fuselage/NAME), and refusing duplicates.
 */
#ifndef FL_NAMES_H
#define FL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "fusefs/error.h"
#include "src/options.h"

#define FL_FIXED_PREFIX "/run/fuselage/"

/* Answers "is @path an existing file?" as the caller would see it. */
typedef bool (*fl_names_exists_fn)(const char *path);

/*
 * fl_names_derive() - the name derived from FILE: its last path component
 * with at most one of .sfs .sqfs .squashfs .zip .b64 removed (tried in that
 * order).  Returns a malloc'd string (possibly empty) or NULL on ENOMEM.
 */
char *fl_names_derive(const char *file);

/*
 * fl_names_check() - validate a NAME (not a fixed path): not empty, ".",
 * "..", no '/', no control characters.  Returns 0 or -EINVAL with a reason.
 */
int fl_names_check(const char *name, struct fl_error *err);

/*
 * fl_names_resolve() - fill name, file and fixed of every mount in @opts,
 * then check uniqueness.  @exists decides whether a whole argument is an
 * existing file (which wins over a NAME: split).  Returns 0 or -errno with a
 * one-line message (and hint) in @err.
 */
int fl_names_resolve(struct fl_options *opts, fl_names_exists_fn exists, struct fl_error *err);

#endif
