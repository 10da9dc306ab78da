/* SPDX-License-Identifier: MIT */
/*
 * --dynamic (SPEC §5): how an archive is made writable.  The one place that
 * decides between kernel overlayfs over the read-only FUSE mount and the
 * copy-on-write tree inside the server, by a probe that really copies up,
 * renames and removes on an overlay of the run's own tmpfs.  It never
 * guesses from a kernel version.
 */
#ifndef FL_DYNAMIC_H
#define FL_DYNAMIC_H

#include "fusefs/error.h"
#include "src/run.h"

/*
 * fl_dynamic_choose() - after the layout, before the FUSE mounts: set
 * run->dynamic_backend and run->dynamic_why.  FUSELAGE_DYNAMIC_BACKEND in
 * the caller's environment forces "overlay" (a failed probe is then an error)
 * or "fuse"; it is honoured in every mode because either choice needs no
 * more privilege than the automatic one.  Returns 0 or -errno.
 */
int fl_dynamic_choose(struct fl_run *run, struct fl_error *err);

/*
 * fl_dynamic_mount() - after the server answers: mount each --dynamic
 * archive's overlay on top of its FUSE mount.  A no-op for the other
 * backends.
 */
int fl_dynamic_mount(struct fl_run *run, struct fl_error *err);

#endif
