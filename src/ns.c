/* SPDX-License-Identifier: MIT */
/*
 * Namespaces and mounts (see ns.h).  Privileged syscalls live here and in
 * priv.c only.  Every mount is nosuid,nodev: a setuid file inside an archive
 * or a device node must never give anything to anyone.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/ns.h"

/* Read a small /proc file into @buf (trailing newline removed); false when
 * it cannot be read. */
static bool read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return true;
}

static bool proc_is(const char *path, const char *value)
{
	char buf[32];

	return read_proc(path, buf, sizeof(buf)) && strcmp(buf, value) == 0;
}

/* Is this process under a seccomp filter (Seccomp: 2 in its status)? */
static bool under_seccomp(void)
{
	char buf[4096], *p;

	if (!read_proc("/proc/self/status", buf, sizeof(buf)))
		return false;
	p = strstr(buf, "\nSeccomp:");
	return p && strtol(p + 9, NULL, 10) == 2;
}

/* Why unshare() of a user namespace failed with @e: the cause, as far as the
 * kernel lets us see it (SPEC §8 diagnostics). */
static const char *userns_cause(int e)
{
	if (proc_is("/proc/sys/kernel/unprivileged_userns_clone", "0"))
		return "user namespaces are disabled for ordinary users "
		       "(sysctl kernel.unprivileged_userns_clone=0)";
	if (proc_is("/proc/sys/user/max_user_namespaces", "0"))
		return "user namespaces are disabled (sysctl user.max_user_namespaces=0)";
	if (e == ENOSPC)
		return "the limit on user namespaces is reached (sysctl user.max_user_namespaces)";
	if (e == EPERM && under_seccomp())
		return "unshare() is blocked by a seccomp filter (as container runtimes do by "
		       "default)";
	if (e == EPERM && proc_is("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"))
		return "an AppArmor policy restricts user namespaces "
		       "(sysctl kernel.apparmor_restrict_unprivileged_userns=1)";
	return "a security policy (seccomp, AppArmor, SELinux) or the kernel configuration "
	       "forbids them";
}

/* Why mounting failed with @e right after a namespace was made. */
static const char *mount_cause(int e)
{
	if (e == EPERM && under_seccomp())
		return "mounting is blocked by a seccomp filter";
	if (proc_is("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"))
		return "the namespace was made but mounting in it is denied, as Ubuntu's AppArmor "
		       "policy does (sysctl kernel.apparmor_restrict_unprivileged_userns=1)";
	return "the namespace was made but mounting in it is denied (a policy such as "
	       "AppArmor's restriction of unprivileged user namespaces, or seccomp)";
}

static int write_file(const char *path, const char *text, struct fl_error *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0)
		return fl_error_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len) {
		int e = errno;

		close(fd);
		return fl_error_set(err, e, "cannot write %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static int map_ids(const struct fl_creds *c, struct fl_error *err)
{
	char line[64];
	int r;

	/* An unprivileged process may map only its own ids, and only after
	 * giving up setgroups() in the namespace. */
	r = write_file("/proc/self/setgroups", "deny", err);
	if (r < 0)
		return r;
	snprintf(line, sizeof(line), "%u %u 1\n", (unsigned)c->inner_uid, (unsigned)c->uid);
	r = write_file("/proc/self/uid_map", line, err);
	if (r < 0)
		return r;
	snprintf(line, sizeof(line), "%u %u 1\n", (unsigned)c->inner_gid, (unsigned)c->gid);
	return write_file("/proc/self/gid_map", line, err);
}

int fl_ns_enter(const struct fl_creds *c, struct fl_error *err)
{
	int r;

	int e;

	if (c->mode == FL_MODE_UNPRIV) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			e = errno;
			return fl_error_set(err, e, "cannot create a user namespace: %s: %s",
					    strerror(e), userns_cause(e));
		}
		r = map_ids(c, err);
		if (r < 0)
			return fl_error_prefix(err, "cannot set up the user namespace (%s)",
					       mount_cause(err->errnum));
	} else if (unshare(CLONE_NEWNS) < 0) {
		e = errno;
		if (e == ENOSPC)
			return fl_error_set(err, e,
					    "cannot create a mount namespace: %s: the limit is "
					    "reached (sysctl user.max_mnt_namespaces)",
					    strerror(e));
		return fl_error_set(err, e, "cannot create a mount namespace: %s%s", strerror(e),
				    e == EPERM && under_seccomp()
					    ? ": unshare() is blocked by a seccomp filter"
					    : "");
	}
	/* Before anything is mounted: nothing of ours may propagate to the
	 * host's mount namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		e = errno;
		return fl_error_set(err, e, "cannot make the mount namespace private: %s: %s",
				    strerror(e), mount_cause(e));
	}
	return 0;
}

static int cfg(int fsfd, const char *key, const char *value)
{
	if (value)
		return fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0);
	return fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
}

/* fsmount the configured context @fsfd and attach it on @target_fd. */
static int attach(int fsfd, unsigned attrs, int target_fd, int *ret_root_fd)
{
	int mfd;

	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		return -errno;
	if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0) {
		int e = errno;

		close(mfd);
		return -e;
	}
	if (ret_root_fd)
		*ret_root_fd = mfd;
	else
		close(mfd);
	return 0;
}

int fl_ns_mount_tmpfs(const struct fl_creds *c, int target_fd, mode_t mode, const char *size,
		      int *ret_root_fd, struct fl_error *err)
{
	char smode[16], suid[16], sgid[16];
	int fsfd, r;

	snprintf(smode, sizeof(smode), "%o", (unsigned)mode);
	snprintf(suid, sizeof(suid), "%u", (unsigned)c->inner_uid);
	snprintf(sgid, sizeof(sgid), "%u", (unsigned)c->inner_gid);
	fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return fl_error_set(err, errno, "cannot mount a tmpfs: %s", strerror(errno));
	r = 0;
	if (cfg(fsfd, "source", "fuselage") < 0 || cfg(fsfd, "mode", smode) < 0 ||
	    cfg(fsfd, "uid", suid) < 0 || cfg(fsfd, "gid", sgid) < 0 ||
	    (size && cfg(fsfd, "size", size) < 0))
		r = -errno;
	if (r == 0)
		r = attach(fsfd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, target_fd, ret_root_fd);
	close(fsfd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot mount a tmpfs: %s", strerror(-r));
	return 0;
}

int fl_ns_probe(const struct fl_creds *c, struct fl_error *err)
{
	struct fl_error child_err = { 0 };
	int pfd[2], st, fsfd, mfd;
	ssize_t n;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return fl_error_set(err, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return fl_error_set(err, errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* The child's namespaces die with it; it only reports. */
		close(pfd[0]);
		if (fl_ns_enter(c, &child_err) == 0) {
			fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
			mfd = -1;
			if (fsfd >= 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
				mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
			if (mfd < 0)
				fl_error_set(&child_err, errno, "cannot mount in the new namespace: "
								"%s: %s",
					     strerror(errno), mount_cause(errno));
		}
		n = write(pfd[1], &child_err, sizeof(child_err));
		_exit(n == (ssize_t)sizeof(child_err) ? 0 : 1);
	}
	close(pfd[1]);
	n = read(pfd[0], &child_err, sizeof(child_err));
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(child_err))
		return fl_error_set(err, EIO, "cannot probe for namespaces: the probe died");
	if (child_err.errnum != 0) {
		*err = child_err;
		return -child_err.errnum;
	}
	return 0;
}

int fl_ns_bind_readonly(int target_fd, struct fl_error *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					       MOUNT_ATTR_NODEV };
	int mfd, r = 0;

	mfd = open_tree(target_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (mfd < 0)
		return fl_error_set(err, errno, "cannot make a read-only bind mount: %s",
				    strerror(errno));
	if (mount_setattr(mfd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ||
	    move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
		    0)
		r = fl_error_set(err, errno, "cannot make a read-only bind mount: %s",
				 strerror(errno));
	close(mfd);
	return r;
}

int fl_ns_open_fuse(const struct fl_creds *c, int *ret_fd, struct fl_error *err)
{
	int fd, e;

	/* /dev/fuse is a system device, not a file the caller names; it is
	 * opened as root in setuid mode, and the descriptor is handed only to
	 * the unprivileged server. */
	fl_priv_fs_root(c);
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	e = errno;
	fl_priv_fs_caller(c);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	if (e == ENOENT)
		return fl_error_set(err, e,
				    "cannot use FUSE: /dev/fuse does not exist (load the fuse "
				    "module, or give the container the device)");
	if (e == EACCES || e == EPERM)
		return fl_error_set(err, e,
				    "cannot use FUSE: /dev/fuse is not accessible to you: %s "
				    "(it should be mode 0666; or install fuselage setuid-root)",
				    strerror(e));
	return fl_error_set(err, e, "cannot use FUSE: /dev/fuse: %s", strerror(e));
}

int fl_ns_mount_fuse(const struct fl_creds *c, int fuse_fd, int target_fd, bool readonly,
		     int *ret_root_fd, struct fl_error *err)
{
	char sfd[16], suid[16], sgid[16];
	unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	int fsfd, r = 0;

	snprintf(sfd, sizeof(sfd), "%d", fuse_fd);
	snprintf(suid, sizeof(suid), "%u", (unsigned)c->inner_uid);
	snprintf(sgid, sizeof(sgid), "%u", (unsigned)c->inner_gid);
	if (readonly)
		attrs |= MOUNT_ATTR_RDONLY;
	fsfd = fsopen("fuse", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return fl_error_set(err, errno, "cannot mount FUSE: %s%s", strerror(errno),
				    errno == ENODEV ? " (the fuse module is not loaded)" : "");
	if (cfg(fsfd, "source", "fuselage") < 0 || cfg(fsfd, "subtype", "fuselage") < 0 ||
	    cfg(fsfd, "fd", sfd) < 0 || cfg(fsfd, "rootmode", "40000") < 0 ||
	    cfg(fsfd, "user_id", suid) < 0 || cfg(fsfd, "group_id", sgid) < 0 ||
	    cfg(fsfd, "allow_other", NULL) < 0 || cfg(fsfd, "default_permissions", NULL) < 0)
		r = -errno;
	/*
	 * Read-only: the superblock too, not only the mount.  The kernel's FUSE
	 * client marks atime stale after every read and readdir unless the
	 * superblock is read-only, and the next stat of the file then asks the
	 * server again: 3 of the 35 round trips of a Python start-up
	 * (doc/decisions.md, "Start-up cost").
	 */
	if (r == 0 && readonly && cfg(fsfd, "ro", NULL) < 0)
		r = -errno;
	if (r == 0)
		r = attach(fsfd, attrs, target_fd, ret_root_fd);
	close(fsfd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot mount FUSE: %s", strerror(-r));
	return 0;
}

/* The last message the kernel left in the fs context log ("e overlay: ..."),
 * which says why a mount was refused far better than errno does. */
static void context_log(int fsfd, char *buf, size_t size)
{
	char line[512];
	ssize_t n;

	buf[0] = '\0';
	while ((n = read(fsfd, line, sizeof(line) - 1)) > 0) {
		line[n] = '\0';
		snprintf(buf, size, "%.*s", (int)size - 1, n > 2 && line[1] == ' ' ? line + 2 : line);
	}
}

int fl_ns_mount_overlay(const struct fl_creds *c, const struct fl_ns_overlay *ov, int target_fd,
			int *ret_mnt_fd, struct fl_error *err)
{
	char lower[40], upper[40], work[40], why[256];
	int fsfd, mfd = -1, r = 0;

	/* Layers are named through our own descriptors, never through a path
	 * under the caller's home that could be swapped while we look. */
	snprintf(lower, sizeof(lower), "/proc/self/fd/%d", ov->lower_fd);
	snprintf(upper, sizeof(upper), "/proc/self/fd/%d", ov->upper_fd);
	snprintf(work, sizeof(work), "/proc/self/fd/%d", ov->work_fd);
	/* Setuid mode: root's filesystem ids for this mount only.  A setuid
	 * process's /proc/self/fd is root's (it is not dumpable), and the
	 * mounter's credentials are what overlayfs keeps for its own work on
	 * the layers (whiteouts, trusted.overlay.* xattrs, copy-up), as in root
	 * mode.  The layers are our FUSE mount and our tmpfs, named by our own
	 * descriptors; the caller's access is still checked on every overlay
	 * inode with the caller's credentials. */
	fl_priv_fs_root(c);
	fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		r = errno;
		fl_priv_fs_caller(c);
		return fl_error_set(err, r, "cannot mount overlayfs: %s%s", strerror(r),
				    r == ENODEV ? " (the overlay module is not loaded)" : "");
	}
	if (cfg(fsfd, "source", "fuselage") < 0 || cfg(fsfd, "lowerdir", lower) < 0 ||
	    cfg(fsfd, "upperdir", upper) < 0 || cfg(fsfd, "workdir", work) < 0 ||
	    cfg(fsfd, "index", "off") < 0 || cfg(fsfd, "metacopy", "off") < 0 ||
	    (ov->userxattr && cfg(fsfd, "userxattr", NULL) < 0) ||
	    (!ov->userxattr && cfg(fsfd, "redirect_dir", "on") < 0) ||
	    fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		r = -errno;
	if (r == 0) {
		mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
		if (mfd < 0)
			r = -errno;
	}
	/* A detached mount (no target) is the probe's: it vanishes when its
	 * descriptor is closed. */
	if (r == 0 && target_fd >= 0 &&
	    move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
		    0) {
		r = -errno;
		close(mfd);
	}
	fl_priv_fs_caller(c);
	context_log(fsfd, why, sizeof(why));
	close(fsfd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot mount overlayfs: %s", why[0] ? why : strerror(-r));
	if (ret_mnt_fd)
		*ret_mnt_fd = mfd;
	else
		close(mfd);
	return 0;
}

int fl_ns_bind(const struct fl_creds *c, int dirfd, const char *name, int target_fd,
	       struct fl_error *err)
{
	int tfd, r = 0;

	(void)c;
	/* Recursive: what is mounted below @name comes along (and a locked
	 * subtree may only be cloned whole).  AT_SYMLINK_NOFOLLOW: @name itself
	 * is never followed. */
	tfd = open_tree(dirfd, name,
			OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
	if (tfd < 0)
		return fl_error_set(err, errno, "cannot bind-mount %s: %s", name, strerror(errno));
	if (move_mount(tfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		r = fl_error_set(err, errno, "cannot bind-mount %s: %s", name, strerror(errno));
	close(tfd);
	return r;
}

/* How many free devices to try when other runs keep taking the one
 * LOOP_CTL_GET_FREE offered (LOOP_CONFIGURE then says EBUSY). */
#define LOOP_TRIES 64

/* Configure a free loop device as @lc says: its descriptor (the device is
 * detached again when it is closed, unless something else holds it open),
 * or -errno with the reason in @err. */
static int loop_attach(const struct loop_config *lc, int *ret_nr, struct fl_error *err)
{
	char dev[32] = "";
	int ctl, fd = -1, nr = -1, e = 0;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		e = errno;
		return fl_error_set(err, e, "cannot use loop devices: /dev/loop-control: %s%s",
				    strerror(e),
				    e == ENOENT ? " (load the loop module, or give the container "
						  "the device)"
						: "");
	}
	for (int i = 0; i < LOOP_TRIES; i++) {
		nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			e = errno;
			snprintf(dev, sizeof(dev), "LOOP_CTL_GET_FREE");
			break;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			/* Removed since it was offered, or its node not made yet. */
			e = errno;
			if (e == ENOENT || e == ENXIO)
				continue;
			break;
		}
		if (ioctl(fd, LOOP_CONFIGURE, lc) == 0) {
			close(ctl);
			*ret_nr = nr;
			return fd;
		}
		/* EBUSY: another run configured this device first; ask again. */
		e = errno;
		close(fd);
		fd = -1;
		if (e != EBUSY)
			break;
	}
	close(ctl);
	if (e == EBUSY || e == ENOENT || e == ENXIO)
		return fl_error_set(err, e, "cannot get a free loop device (%d tries, the last %s: %s)",
				    LOOP_TRIES, dev, strerror(e));
	return fl_error_set(err, e, "cannot set up a loop device: %s: %s", dev, strerror(e));
}

int fl_ns_mount_loop(const struct fl_creds *c, int file_fd, uint64_t offset, uint64_t size,
		     const char *name, int target_fd, int *ret_dev, struct fl_error *err)
{
	struct loop_config lc = { .fd = (unsigned)file_fd };
	char dev[32], why[256] = "";
	struct stat lst, mst;
	int lfd, fsfd = -1, mfd = -1, nr = -1, r = 0;

	lc.info.lo_offset = offset;
	lc.info.lo_sizelimit = size;
	lc.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)lc.info.lo_file_name, sizeof(lc.info.lo_file_name), "%s", name);
	/* Setuid mode: /dev/loop-control, /dev/loopN and the mount's source are
	 * the system's devices, named by fixed paths under root's /dev: root's
	 * filesystem ids for them.  The file itself was opened as the caller
	 * and is handed over as that descriptor (no path, no re-open). */
	fl_priv_fs_root(c);
	lfd = loop_attach(&lc, &nr, err);
	if (lfd < 0) {
		fl_priv_fs_caller(c);
		return lfd;
	}
	snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
	fsfd = fsopen("squashfs", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		r = -errno;
		if (r == -ENODEV)
			snprintf(why, sizeof(why), "the squashfs module is not loaded");
	}
	if (r == 0 && (cfg(fsfd, "source", dev) < 0 || cfg(fsfd, "ro", NULL) < 0 ||
		       fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0))
		r = -errno;
	if (r == 0) {
		mfd = fsmount(fsfd, FSMOUNT_CLOEXEC,
			      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
		if (mfd < 0)
			r = -errno;
	}
	/* What was mounted is the device we configured, not whatever the path
	 * named by then. */
	if (r == 0 && (fstat(lfd, &lst) < 0 || fstat(mfd, &mst) < 0 || !S_ISBLK(lst.st_mode) ||
		       mst.st_dev != lst.st_rdev)) {
		r = -EIO;
		snprintf(why, sizeof(why), "%s is not the device that was mounted", dev);
	}
	if (r == 0 &&
	    move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = -errno;
	fl_priv_fs_caller(c);
	if (fsfd >= 0) {
		if (!why[0])
			context_log(fsfd, why, sizeof(why));
		close(fsfd);
	}
	if (mfd >= 0)
		close(mfd);
	/* From here the mount holds the device; without it (an error), this
	 * close detaches it again. */
	close(lfd);
	if (r < 0)
		return fl_error_set(err, -r, "cannot mount %s (kernel squashfs on %s): %s", name, dev,
				    why[0] ? why : strerror(-r));
	*ret_dev = nr;
	return 0;
}
