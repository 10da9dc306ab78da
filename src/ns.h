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
#include <stdint.h>
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
 * the caller's inner ids, at most @size bytes, or the kernel's default when
 * NULL) on the directory @target_fd (an O_PATH descriptor opened in this
 * namespace).  Returns 0 and a descriptor of the new mount's root in
 * *@ret_root_fd.
 */
int fl_ns_mount_tmpfs(const struct fl_creds *c, int target_fd, mode_t mode, const char *size,
		      int *ret_root_fd, struct fl_error *err);

/*
 * fl_ns_probe() - can fl_ns_enter() and a mount succeed here?  Tried in a
 * short-lived child, because a half-made user namespace cannot be left again
 * (unshare succeeded, mounting refused): the caller stays where it is and
 * can still run without a namespace.  Returns 0, or -errno with the cause.
 */
int fl_ns_probe(const struct fl_creds *c, struct fl_error *err);

/*
 * fl_ns_bind_readonly() - bind-mount directory @target_fd on itself
 * read-only, nosuid, nodev (an extracted --static archive inside the
 * namespace when FUSE is unavailable).
 */
int fl_ns_bind_readonly(int target_fd, struct fl_error *err);

/* fl_ns_open_fuse() - open /dev/fuse (as root in setuid mode: the device is
 * not the caller's file).  Must be called inside the namespace. */
int fl_ns_open_fuse(const struct fl_creds *c, int *ret_fd, struct fl_error *err);

/*
 * fl_ns_mount_fuse() - mount a FUSE filesystem spoken through @fuse_fd on
 * @target_fd: allow_other (root inside, e.g. sudo, can read it),
 * default_permissions, owned by the caller, nosuid, nodev, and read-only when
 * @readonly.  *@ret_root_fd, when not NULL, receives the mount's root (the
 * lower layer of a --dynamic overlay).  No request is sent until the server
 * answers INIT, so this never waits for the server.
 */
int fl_ns_mount_fuse(const struct fl_creds *c, int fuse_fd, int target_fd, bool readonly,
		     int *ret_root_fd, struct fl_error *err);

/* The layers and flavour of one overlay mount (see src/dynamic.c). */
struct fl_ns_overlay {
	int lower_fd;    /* directory descriptors, all in this namespace */
	int upper_fd;
	int work_fd;     /* same filesystem as upper_fd */
	bool userxattr;  /* user namespace: user.overlay.* xattrs; else redirect_dir=on */
};

/*
 * fl_ns_mount_overlay() - mount overlayfs (nosuid, nodev, index=off,
 * metacopy=off) over the layers of @ov.  With @target_fd >= 0 it is attached
 * there (on top of whatever is mounted on it); otherwise it stays detached
 * and vanishes when the descriptor is closed.  *@ret_mnt_fd, when not NULL,
 * receives the mount's root.  The mounter's credentials are what overlayfs
 * later uses to reach the layers: in setuid mode root's capabilities with
 * root's filesystem ids too.  Where the kernel says why it refused, the
 * error says it too.
 */
int fl_ns_mount_overlay(const struct fl_creds *c, const struct fl_ns_overlay *ov, int target_fd,
			int *ret_mnt_fd, struct fl_error *err);

/*
 * fl_ns_bind() - bind-mount @name in the directory @dirfd (not followed if
 * it is a symlink; with everything mounted below it) onto @target_fd.
 */
int fl_ns_bind(const struct fl_creds *c, int dirfd, const char *name, int target_fd,
	       struct fl_error *err);

/*
 * fl_ns_mount_loop() - SPEC §7.4: attach the open file @file_fd to a free
 * loop device (LOOP_CONFIGURE: bytes @offset to @offset + @size of it,
 * read-only, autoclear; a device another run takes first is skipped) and
 * mount it with the kernel's squashfs driver on @target_fd: ro, nosuid,
 * nodev.  The device's own descriptor is closed before returning, so the
 * mount holds the only reference and the device detaches itself when the
 * mount goes with the namespace.  *@ret_dev is the device's number (N of
 * /dev/loopN).  In setuid mode the loop devices, being the system's, are
 * opened with root's filesystem ids; the file was opened as the caller and
 * is never re-opened.  The caller decides whether the file may be handed to
 * the kernel (src/loop.c).
 */
int fl_ns_mount_loop(const struct fl_creds *c, int file_fd, uint64_t offset, uint64_t size,
		     const char *name, int target_fd, int *ret_dev, struct fl_error *err);

#endif
