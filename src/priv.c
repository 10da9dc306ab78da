/* SPDX-License-Identifier: MIT */
/*
 * Credentials (see priv.h).  Every transition here is commented with why it
 * is safe.  Nothing in this file reads a file the caller names.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/priv.h"


const char *fl_priv_mode_name(enum fl_mode mode)
{
	switch (mode) {
	case FL_MODE_SETUID:
		return "setuid-root";
	case FL_MODE_ROOT:
		return "root";
	default:
		return "unprivileged (user namespace)";
	}
}

/* A setuid program may be started with 0, 1 or 2 closed; the first files we
 * open would then become someone's stdout.  Fill the holes with /dev/null. */
static int fix_std_fds(struct fl_error *err)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n != fd) {
			if (n >= 0)
				close(n);
			return fl_error_set(err, EBADF, "cannot open /dev/null for fd %d", fd);
		}
	}
	return 0;
}

/*
 * Hostile limits must make the run fail before it starts, with the reason,
 * never half-way through it.  A tiny stack crashes the first deep libc call
 * (the kernel already resets RLIMIT_STACK for a setuid exec); a tiny
 * open-file limit would fail at whichever descriptor happens to be the
 * last one allowed.  RLIMIT_NPROC and RLIMIT_FSIZE need no floor: a refused
 * fork or thread is reported as such, a helper killed by SIGXFSZ is a failed
 * conversion, and nothing else fuselage writes has a size.
 */
static int check_limits(struct fl_error *err)
{
	static const struct {
		int resource;
		rlim_t floor;
		const char *what, *unit, *hint;
		rlim_t div;
	} need[] = {
		{ RLIMIT_STACK, FL_PRIV_MIN_STACK, "stack size", " KiB", "ulimit -s", 1024 },
		{ RLIMIT_NOFILE, FL_PRIV_MIN_NOFILE, "open-file", "", "ulimit -n", 1 },
	};

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		struct rlimit rl;

		if (getrlimit(need[i].resource, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
		    rl.rlim_cur >= need[i].floor)
			continue;
		return fl_error_set(err, EINVAL,
				    "the %s limit (%llu%s) is below the %llu%s fuselage needs (%s)",
				    need[i].what, (unsigned long long)(rl.rlim_cur / need[i].div),
				    need[i].unit, (unsigned long long)(need[i].floor / need[i].div),
				    need[i].unit, need[i].hint);
	}
	return 0;
}

static int classify(struct fl_creds *c, struct fl_error *err)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return fl_error_set(err, errno, "cannot read credentials: %s", strerror(errno));
	c->uid = ruid;
	c->gid = rgid;
	if (euid == 0 && ruid == 0) {
		c->mode = FL_MODE_ROOT;
	} else if (euid == 0) {
		c->mode = FL_MODE_SETUID;
	} else if (euid == ruid && egid == rgid) {
		c->mode = FL_MODE_UNPRIV;
	} else if (euid == ruid) {
		return fl_error_set(err, EPERM,
				    "refusing to run setgid (effective gid %u, real gid %u); "
				    "install fuselage setuid-root or without special bits",
				    (unsigned)egid, (unsigned)rgid);
	} else {
		return fl_error_set(err, EPERM,
				    "refusing to run with effective uid %u for user %u; "
				    "only setuid-root is supported",
				    (unsigned)euid, (unsigned)ruid);
	}
	return 0;
}

static int read_groups(struct fl_creds *c, struct fl_error *err)
{
	int n = getgroups(0, NULL);

	if (n < 0 || n > FL_MAX_GROUPS)
		return fl_error_set(err, EINVAL, "cannot read supplementary groups");
	c->groups = calloc((size_t)n + 1, sizeof(gid_t));
	if (!c->groups)
		return fl_error_set(err, ENOMEM, "out of memory");
	c->ngroups = getgroups(n, c->groups);
	if (c->ngroups < 0)
		return fl_error_set(err, errno, "cannot read supplementary groups: %s",
				    strerror(errno));
	return 0;
}

int fl_priv_init(struct fl_creds *c, bool map_root, struct fl_error *err)
{
	int r;

	*c = (struct fl_creds){ 0 };
	r = fix_std_fds(err);
	if (r < 0)
		return r;
	r = check_limits(err);
	if (r < 0)
		return r;
	r = classify(c, err);
	if (r < 0)
		return r;
	r = read_groups(c, err);
	if (r < 0)
		return r;
	/* Our own directories get explicit modes; the caller's umask is
	 * restored for the command. */
	c->umask = umask(077);
	c->inner_uid = (c->mode == FL_MODE_UNPRIV && map_root) ? 0 : c->uid;
	c->inner_gid = (c->mode == FL_MODE_UNPRIV && map_root) ? 0 : c->gid;
	if (c->mode == FL_MODE_SETUID) {
		/* From here every path walk and file open is checked against the
		 * caller, while the effective uid stays 0 for unshare and mount
		 * only.  setfsuid reports the previous value, so read it back. */
		setfsgid(c->gid);
		setfsuid(c->uid);
		if ((uid_t)setfsuid((uid_t)-1) != c->uid || (gid_t)setfsgid((gid_t)-1) != c->gid)
			return fl_error_set(err, EPERM, "cannot switch filesystem ids to the caller");
	}
	return 0;
}

void fl_priv_done(struct fl_creds *c)
{
	free(c->groups);
	c->groups = NULL;
}

void fl_priv_fs_root(const struct fl_creds *c)
{
	if (c->mode == FL_MODE_SETUID) {
		setfsuid(0);
		setfsgid(0);
	}
}

void fl_priv_fs_caller(const struct fl_creds *c)
{
	if (c->mode == FL_MODE_SETUID) {
		setfsgid(c->gid);
		setfsuid(c->uid);
	}
}

/* Drop every capability of the current user namespace (unprivileged mode:
 * after unshare we hold a full set there, which the server and the command
 * must not have). */
static int drop_caps(struct fl_error *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fl_error_set(err, errno, "cannot drop capabilities: %s", strerror(errno));
	return 0;
}

/* Become @uid/@gid with @groups in all three id slots, then prove that root
 * cannot be regained (bubblewrap does the same check). */
static int become(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, struct fl_error *err)
{
	if (setgroups((size_t)ngroups, groups) < 0)
		return fl_error_set(err, errno, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return fl_error_set(err, errno, "setresgid: %s", strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return fl_error_set(err, errno, "setresuid: %s", strerror(errno));
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return fl_error_set(err, EPERM, "privilege drop failed: root could be regained");
	if (geteuid() != uid || getegid() != gid)
		return fl_error_set(err, EPERM, "privilege drop failed");
	return 0;
}

int fl_priv_drop_for_command(const struct fl_creds *c, struct fl_error *err)
{
	switch (c->mode) {
	case FL_MODE_SETUID:
		/* The mounts are made; nothing the command does needs root.  The
		 * caller's own supplementary groups are restored exactly, so the
		 * command has the caller's identity and no more. */
		return become(c->uid, c->gid, c->groups, c->ngroups, err);
	case FL_MODE_UNPRIV:
		/* exec would drop them for a non-zero uid anyway; with --map-root
		 * the command regains the namespace's full set at exec as uid 0,
		 * as under "unshare -r". */
		return drop_caps(err);
	default:
		return 0;
	}
}

bool fl_priv_nobody_mapped(void)
{
	char buf[4096], *p;
	unsigned long long in, out, count;
	ssize_t n;
	int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true; /* no /proc: assume the initial namespace */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (sscanf(p, "%llu %llu %llu", &in, &out, &count) == 3 && in <= FL_PRIV_NOBODY &&
		    FL_PRIV_NOBODY - in < count)
			return true;
	return false;
}

int fl_priv_drop_for_server(const struct fl_creds *c, struct fl_error *err)
{
	int r = 0;

	switch (c->mode) {
	case FL_MODE_SETUID:
		r = become(c->uid, c->gid, c->groups, c->ngroups, err);
		break;
	case FL_MODE_ROOT:
		/* The archives and /dev/fuse are already open; the parser needs no
		 * identity at all, so it runs as nobody.  Root of a user namespace
		 * that maps no nobody ("unshare -r") is only its creator outside:
		 * giving up every capability is the same drop there. */
		if (!fl_priv_nobody_mapped())
			r = drop_caps(err);
		else
			r = become(FL_PRIV_NOBODY, FL_PRIV_NOBODY, NULL, 0, err);
		break;
	default:
		r = drop_caps(err);
		break;
	}
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fl_error_set(err, errno, "no_new_privs: %s", strerror(errno));
	return 0;
}

static int no_new_privs(struct fl_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fl_error_set(err, errno, "no_new_privs: %s", strerror(errno));
	return 0;
}

int fl_priv_drop_for_extract(const struct fl_creds *c, struct fl_error *err)
{
	/* Setuid mode after the command's drop: already exactly the caller, and
	 * setgroups() would now fail; nothing left to give up. */
	if (c->mode == FL_MODE_SETUID && geteuid() != 0 && getuid() != 0)
		return no_new_privs(err);
	return fl_priv_drop_for_server(c, err);
}

int fl_priv_drop_to_caller(const struct fl_creds *c, struct fl_error *err)
{
	int r = 0;

	switch (c->mode) {
	case FL_MODE_SETUID:
		/* The same drop as the server's: the caller's ids and groups,
		 * verified.  Only the caller's own files are touched from here. */
		r = become(c->uid, c->gid, c->groups, c->ngroups, err);
		break;
	case FL_MODE_ROOT:
		/* The caller is root and the cache is root's own: stay root.
		 * Helper programs drop further (fl_priv_drop_for_helper). */
		break;
	default:
		r = drop_caps(err);
		break;
	}
	return r < 0 ? r : no_new_privs(err);
}

/*
 * Root mode's helper: nobody, holding only CAP_DAC_READ_SEARCH, as an ambient
 * capability so that it survives the exec.  The archive's files appear owned
 * by root (the caller) with the archive's modes, and default_permissions
 * applies them: as plain nobody, mksquashfs would silently store a 0600 file
 * as empty.  With this one capability it can read, but never write or own
 * anything of root's; what it writes is the file it was lent (fd 3).
 */
static int become_reader(struct fl_error *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint32_t bit = CAP_TO_MASK(CAP_DAC_READ_SEARCH);

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(FL_PRIV_NOBODY, FL_PRIV_NOBODY, FL_PRIV_NOBODY) < 0 ||
	    setresuid(FL_PRIV_NOBODY, FL_PRIV_NOBODY, FL_PRIV_NOBODY) < 0)
		return fl_error_set(err, errno, "cannot become nobody: %s", strerror(errno));
	memset(data, 0, sizeof(data));
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective = bit;
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].permitted = bit;
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].inheritable = bit;
	if (syscall(SYS_capset, &hdr, data) < 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) < 0)
		return fl_error_set(err, errno, "cannot keep only CAP_DAC_READ_SEARCH: %s",
				    strerror(errno));
	/* CAP_SETUID is gone with the rest: root cannot come back. */
	if (setuid(0) == 0 || seteuid(0) == 0 || geteuid() != FL_PRIV_NOBODY)
		return fl_error_set(err, EPERM, "privilege drop failed: root could be regained");
	return 0;
}

int fl_priv_drop_for_helper(const struct fl_creds *c, struct fl_error *err)
{
	int r = 0;

	switch (c->mode) {
	case FL_MODE_ROOT:
		/* SPEC §6/§7: no helper program ever runs as root. */
		if (geteuid() == 0)
			r = become_reader(err);
		break;
	case FL_MODE_SETUID:
		/* Only valid after a full drop: refuse to exec with root. */
		if (geteuid() == 0 || getuid() == 0)
			r = fl_error_set(err, EPERM, "refusing to run a helper as root");
		break;
	default:
		r = drop_caps(err);
		break;
	}
	return r < 0 ? r : no_new_privs(err);
}

uid_t fl_priv_helper_uid(const struct fl_creds *c)
{
	return c->mode == FL_MODE_ROOT ? FL_PRIV_NOBODY : c->uid;
}
