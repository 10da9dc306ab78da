/* SPDX-License-Identifier: MIT */
/*
 * --loop (see loop.h): who may hand which file to the kernel's squashfs
 * driver.  The privileged part, attaching a loop device and mounting it,
 * is fl_ns_mount_loop() in ns.c.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fusefs/detect.h"
#include "src/loop.h"
#include "src/ns.h"
#include "src/util.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

#define SETUID_RULE                                                                        \
	"in setuid mode the kernel mounts only images owned by root that you cannot write; " \
	"drop --loop to serve it with FUSE"

static bool in_group(const struct fl_creds *c, gid_t gid)
{
	if (gid == c->gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/*
 * Setuid mode: may the kernel parse this file for the caller?  Only if it is
 * root's and stays root's to change: owned by uid 0, not writable by the
 * caller by any route (the mode's other or group bits through one of the
 * caller's groups, or an ACL: faccessat2 with the real ids and no
 * capabilities, exactly the caller), and on a filesystem whose owners the
 * kernel itself trusts: not one mounted nosuid (removable media a desktop
 * mounts for the user, every FUSE mount of a user: an owner there says
 * nothing about who wrote the bytes) and not FUSE at all, whose server makes
 * up the owner, the mode and the bytes as it likes.  The descriptor is the
 * one opened as the caller, so this is the file that will be attached.
 */
static int check_trusted(const struct fl_run *run, const struct fl_run_mount *m,
			 struct fl_error *err)
{
	const char *file = m->opt->file;
	struct statvfs svfs;
	struct statfs sfs;
	struct stat st;
	mode_t mode;

	if (fstat(m->archive_fd, &st) < 0 || fstatfs(m->archive_fd, &sfs) < 0 ||
	    fstatvfs(m->archive_fd, &svfs) < 0)
		return fl_error_set(err, errno, "--loop: %s: %s", file, strerror(errno));
	mode = st.st_mode & 07777;
	if (st.st_uid != 0)
		return fl_error_set(err, EPERM, "--loop: %s is owned by uid %u, not root; " SETUID_RULE,
				    file, (unsigned)st.st_uid);
	if (sfs.f_type == FUSE_SUPER_MAGIC)
		return fl_error_set(err, EPERM,
				    "--loop: %s is on a FUSE filesystem, whose server can change "
				    "its owner and bytes at any time; " SETUID_RULE,
				    file);
	if (svfs.f_flag & ST_NOSUID)
		return fl_error_set(err, EPERM,
				    "--loop: %s is on a filesystem mounted nosuid, where the kernel "
				    "does not trust its owners either; " SETUID_RULE,
				    file);
	if (mode & S_IWOTH)
		return fl_error_set(err, EPERM,
				    "--loop: %s is writable by you (mode %04o: by everyone); " SETUID_RULE,
				    file, (unsigned)mode);
	if ((mode & S_IWGRP) && in_group(run->creds, st.st_gid))
		return fl_error_set(err, EPERM,
				    "--loop: %s is writable by you (mode %04o, and its group %u is one "
				    "of yours); " SETUID_RULE,
				    file, (unsigned)mode, (unsigned)st.st_gid);
	/* The real ids are the caller's: the kernel checks as the caller,
	 * without our capabilities, ACLs included.  Only a clear "no" counts. */
	if (syscall(SYS_faccessat2, m->archive_fd, "", W_OK, AT_EMPTY_PATH) == 0)
		return fl_error_set(err, EPERM,
				    "--loop: %s is writable by you (mode %04o; an ACL or another "
				    "grant lets you write it); " SETUID_RULE,
				    file, (unsigned)mode);
	if (errno != EACCES && errno != EROFS && errno != EPERM)
		return fl_error_set(err, errno,
				    "--loop: cannot tell whether you can write %s: %s; " SETUID_RULE,
				    file, strerror(errno));
	return 0;
}

/* What the inspecting child found about one --static archive. */
struct inspect_msg {
	struct fl_detected d;
	uint64_t len;
	struct fl_error err;
};

/* The child: no privilege while the file's bytes are read (the same drop as
 * the server's: setuid and root mode become the caller or nobody). */
static void inspect_main(struct fl_run *run, int report_fd)
{
	struct inspect_msg msg = { 0 };
	int keep[FL_KEEP_MAX], nkeep = 0;

	keep[nkeep++] = report_fd;
	for (size_t i = 0; i < run->nmounts && nkeep < FL_KEEP_MAX; i++)
		keep[nkeep++] = run->mounts[i].archive_fd;
	fl_close_all_except(keep, (size_t)nkeep);
	if (fl_priv_drop_for_server(run->creds, &msg.err) < 0) {
		fl_write_all(report_fd, &msg, sizeof(msg));
		_exit(1);
	}
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];

		if (m->opt->kind != FL_KIND_STATIC)
			continue;
		msg = (struct inspect_msg){ 0 };
		if (fl_detect(m->archive_fd, &msg.d, &msg.err) == 0 &&
		    msg.d.format == FL_FORMAT_SQFS)
			fl_detect_sqfs_extent(m->archive_fd, msg.d.offset, &msg.len, &msg.err);
		if (fl_write_all(report_fd, &msg, sizeof(msg)) < 0)
			_exit(1);
	}
	_exit(0);
}

static int take_inspection(struct fl_run_mount *m, const struct inspect_msg *msg,
			   struct fl_error *err)
{
	const char *file = m->opt->file;

	if (msg->err.errnum) {
		*err = msg->err;
		return fl_error_prefix(err, "--loop: %s", file);
	}
	if (msg->d.format == FL_FORMAT_ZIP)
		return fl_error_set(err, EINVAL,
				    "--loop: %s is a zip, not a squashfs image (the kernel mounts "
				    "squashfs only; drop --loop to serve it with FUSE)",
				    file);
	if (msg->d.format != FL_FORMAT_SQFS)
		return fl_error_set(err, EINVAL,
				    "--loop: %s is base64 text, not a squashfs image (the kernel "
				    "cannot decode it; decode it first, or drop --loop)",
				    file);
	m->loop = true;
	m->loop_offset = msg->d.offset;
	m->loop_size = msg->len;
	fl_verbose("--loop: %s: squashfs image at offset %" PRIu64 "%s, %" PRIu64 " bytes", file,
		   m->loop_offset, msg->d.elf ? " (after an ELF file)" : "", m->loop_size);
	return 0;
}

static int inspect(struct fl_run *run, struct fl_error *err)
{
	struct inspect_msg msg;
	int fd, st, r = 0;
	pid_t pid = fl_fork_reporting(&fd, err);

	if (pid < 0)
		return (int)pid;
	if (pid == 0)
		inspect_main(run, fd);
	for (size_t i = 0; i < run->nmounts && r == 0; i++) {
		if (run->mounts[i].opt->kind != FL_KIND_STATIC)
			continue;
		if (fl_read_all(fd, &msg, sizeof(msg)) < 0)
			r = fl_error_set(err, EIO, "--loop: the process inspecting the images died");
		else
			r = take_inspection(&run->mounts[i], &msg, err);
	}
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return r;
}

int fl_loop_check(struct fl_run *run, struct fl_error *err)
{
	int r;

	if (!run->opts->loop)
		return 0;
	if (run->creds->mode == FL_MODE_UNPRIV)
		return fl_error_set(err, EPERM,
				    "--loop: not possible without root: the kernel does not mount "
				    "block devices in an unprivileged user namespace (run as root, "
				    "install fuselage setuid-root, or drop --loop)");
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];

		if (m->opt->kind == FL_KIND_DYNAMIC)
			return fl_error_set(err, EINVAL,
					    "--loop: %s=%s: only --static archives can be mounted by "
					    "the kernel's squashfs driver (it is read-only); drop "
					    "--loop, or use --static",
					    m->opt->option, m->opt->arg);
		if (m->opt->kind == FL_KIND_STATIC && run->creds->mode == FL_MODE_SETUID) {
			r = check_trusted(run, m, err);
			if (r < 0)
				return r;
		}
	}
	return inspect(run, err);
}

int fl_loop_mount(struct fl_run *run, struct fl_error *err)
{
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		int nr, r;

		if (!m->loop)
			continue;
		r = fl_ns_mount_loop(run->creds, m->archive_fd, m->loop_offset, m->loop_size,
				     m->opt->file, m->target_fd, &nr, err);
		if (r < 0)
			return fl_error_prefix(err, "--loop");
		/* The loop device holds the file now. */
		fl_closep(&m->archive_fd);
		fl_verbose("serving %s (squashfs, kernel driver on a loop device) at %s: /dev/loop%d, "
			   "bytes %" PRIu64 "-%" PRIu64 " of the file, read-only, autoclear",
			   m->opt->file, m->dir, nr, m->loop_offset, m->loop_offset + m->loop_size);
	}
	return 0;
}
