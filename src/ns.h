/* SPDX-License-Identifier: MIT */
/*
 * Namespaces and mounts: the privileged half of setup, together with priv.c
 * the only file allowed to make privileged syscalls.  Mounts use the new
 * mount API (fsopen/fsmount/move_mount) onto directory descriptors, so no
 * mount ever follows a path the caller could swap under us.
 */
#ifndef FL_NS_H
#define FL_NS_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusefs/error.h"
#include "src/priv.h"

/*
 * fl_ns_enter() - a private mount namespace (and, unprivileged, a user
 * namespace mapping the caller to c->inner_uid/gid), with "/" made
 * recursively private at once so nothing propagates back to the host.
 */
int fl_ns_enter(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_ns_mount_tmpfs() - mount a fresh tmpfs (nosuid, nodev, @mode, owned by
 * the caller's inner ids) on the directory @target_fd (an O_PATH descriptor
 * opened in this namespace).  Returns 0 and a descriptor of the new mount's
 * root in *@ret_root_fd.
 */
int fl_ns_mount_tmpfs(const struct fl_creds *c, int target_fd, mode_t mode, int *ret_root_fd,
		      struct fl_error *err);

/* fl_ns_open_fuse() - open /dev/fuse (as root in setuid mode: the device is
 * not the caller's file).  Must be called inside the namespace. */
int fl_ns_open_fuse(const struct fl_creds *c, int *ret_fd, struct fl_error *err);

/*
 * fl_ns_mount_fuse() - mount a FUSE filesystem spoken through @fuse_fd on
 * @target_fd: allow_other (root inside, e.g. sudo, can read it),
 * default_permissions, owned by the caller, nosuid, nodev, and read-only when
 * @readonly.  No request is sent until the server answers INIT, so this
 * never waits for the server.
 */
int fl_ns_mount_fuse(const struct fl_creds *c, int fuse_fd, int target_fd, bool readonly,
		     struct fl_error *err);

#endif
