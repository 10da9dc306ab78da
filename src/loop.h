/* SPDX-License-Identifier: MIT */
/*
 * --loop (SPEC §7.4): the squashfs --static images of a run mounted by the
 * kernel's squashfs driver on loop devices instead of served by FUSE.  The
 * kernel then parses the image itself, so --loop is all or nothing, and
 * only where that gives nobody anything new: the caller is root, or, in
 * setuid-root mode, every image is a file owned by root that the caller
 * cannot write.  Anything else refuses the whole run with the reason
 * (doc/decisions.md, "--loop").
 */
#ifndef FL_LOOP_H
#define FL_LOOP_H

#include "fusefs/error.h"
#include "src/run.h"

/*
 * fl_loop_check() - after the archives are open, before the namespace: with
 * --loop, refuse unprivileged mode, --dynamic archives and (setuid mode)
 * images not owned by root or writable by the caller; then find each
 * image's offset and size in a child that has given up privilege (the bytes
 * are the file's, not ours) and refuse anything that is not a squashfs
 * image.  Marks every --static mount m->loop.  A no-op without --loop.
 * Errors read "--loop: <why>".
 */
int fl_loop_check(struct fl_run *run, struct fl_error *err);

/*
 * fl_loop_mount() - inside the namespace, after the layout: attach and mount
 * every m->loop archive (src/ns.c), then close its descriptor (the loop
 * device holds the file).  -v names the device.
 */
int fl_loop_mount(struct fl_run *run, struct fl_error *err);

#endif
