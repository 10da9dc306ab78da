/* SPDX-License-Identifier: MIT */
/*
 * --dynamic backends (see dynamic.h).  The probe works only inside the run's
 * own tmpfs, on directories it has just made, through a detached overlay
 * mount that vanishes when its descriptor is closed; it must never touch a
 * path the caller names.  Mounting itself is ns.c's.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/dynamic.h"
#include "src/env.h"
#include "src/ns.h"
#include "src/util.h"

#define PROBE_DIR "probe"

static bool any_dynamic(const struct fl_run *run)
{
	for (size_t i = 0; i < run->nmounts; i++)
		if (run->mounts[i].opt->kind == FL_KIND_DYNAMIC)
			return true;
	return false;
}

/* Remove everything below @parent/@name, then @name itself; best effort.
 * Only the probe's own tree is ever passed here. */
static void remove_tree(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		unlinkat(parent, name, 0);
		return;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_type == DT_DIR)
			remove_tree(dirfd(d), e->d_name);
		else
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

static int write_file(int dirfd, const char *name, int flags, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0 || close(fd) < 0)
		return n < 0 ? -errno : -EIO;
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static bool file_is(int dirfd, const char *name, const char *text)
{
	char buf[16];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

/* Number of entries other than . and .. in @dirfd/@name, or -errno. */
static int count_entries(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int n = 0;

	if (!d) {
		n = -errno;
		if (fd >= 0)
			close(fd);
		return n;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The probe's lower tree: d/f ("x"), d/sub/, e/g.  Returns 0 or -errno. */
static int probe_tree(int pfd, struct fl_ns_overlay *ov)
{
	int r;

	if (mkdirat(pfd, "lower", 0700) < 0 || mkdirat(pfd, "upper", 0700) < 0 ||
	    mkdirat(pfd, "work", 0700) < 0 || mkdirat(pfd, "lower/d", 0700) < 0 ||
	    mkdirat(pfd, "lower/d/sub", 0700) < 0 || mkdirat(pfd, "lower/e", 0700) < 0)
		return -errno;
	r = write_file(pfd, "lower/d/f", O_CREAT | O_EXCL, "x");
	if (r == 0)
		r = write_file(pfd, "lower/e/g", O_CREAT | O_EXCL, "g");
	if (r < 0)
		return r;
	ov->lower_fd = openat(pfd, "lower", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ov->upper_fd = openat(pfd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ov->work_fd = openat(pfd, "work", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ov->lower_fd < 0 || ov->upper_fd < 0 || ov->work_fd < 0)
		return -errno;
	return 0;
}

/* What a build does to an archive, on the merged view @m.  Each failure
 * names the step, for -v and for the error when overlay was forced. */
static int probe_ops(int m, int pfd, bool userxattr, struct fl_error *err)
{
	int r;

	r = write_file(m, "d/f", O_APPEND, "y");
	if (r < 0)
		return fl_error_set(err, -r, "copy-up of a lower file: %s", strerror(-r));
	if (!file_is(m, "d/f", "xy") || !file_is(pfd, "lower/d/f", "x"))
		return fl_error_set(err, EIO, "copy-up of a lower file gave the wrong content");
	if (renameat(m, "d/f", m, "d/h") < 0)
		return fl_error_set(err, errno, "rename of a copied-up file: %s", strerror(errno));
	if (unlinkat(m, "d/h", 0) < 0 || unlinkat(m, "d/sub", AT_REMOVEDIR) < 0 ||
	    unlinkat(m, "d", AT_REMOVEDIR) < 0)
		return fl_error_set(err, errno, "rmdir of an emptied lower directory: %s",
				    strerror(errno));
	if (mkdirat(m, "d", 0700) < 0)
		return fl_error_set(err, errno, "mkdir over a removed lower directory: %s",
				    strerror(errno));
	r = count_entries(m, "d");
	if (r != 0)
		return fl_error_set(err, r < 0 ? -r : EIO,
				    "a re-created directory shows %s (no opaque xattr on the upper "
				    "layer?)",
				    r < 0 ? strerror(-r) : "the old entries");
	/* redirect_dir is refused with userxattr: EXDEV is then the answer
	 * SPEC §5 allows, and mv falls back to copying. */
	if (renameat(m, "e", m, "e2") < 0 && !(userxattr && errno == EXDEV))
		return fl_error_set(err, errno, "rename of a lower directory: %s", strerror(errno));
	return 0;
}

/* A real overlay of the run's tmpfs with this mode's options, exercised. */
static int probe(struct fl_run *run, struct fl_error *err)
{
	struct fl_ns_overlay ov = { -1, -1, -1, run->creds->mode == FL_MODE_UNPRIV };
	_cleanup_close_ int pfd = -1, m = -1;
	int r;

	remove_tree(run->run_fd, PROBE_DIR);
	if (mkdirat(run->run_fd, PROBE_DIR, 0700) < 0)
		return fl_error_set(err, errno, "cannot create the probe directory: %s",
				    strerror(errno));
	pfd = openat(run->run_fd, PROBE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = pfd < 0 ? -errno : probe_tree(pfd, &ov);
	if (r < 0)
		fl_error_set(err, -r, "cannot build the probe tree: %s", strerror(-r));
	else
		r = fl_ns_mount_overlay(run->creds, &ov, -1, &m, err);
	if (r == 0)
		r = probe_ops(m, pfd, ov.userxattr, err);
	fl_closep(&m);
	fl_closep(&ov.lower_fd);
	fl_closep(&ov.upper_fd);
	fl_closep(&ov.work_fd);
	remove_tree(run->run_fd, PROBE_DIR);
	return r;
}

/*
 * The FUSE fallback keeps its copies in cow/<i>/upper, written by the server
 * itself.  Setuid and unprivileged servers run as the caller, who owns the
 * run's tmpfs already; root mode's server runs as nobody (decisions.md), so
 * there the upper directories are lent to nobody.  Only directories this run
 * has just made inside its own tmpfs are changed.
 */
static int fuse_upper_owner(struct fl_run *run, struct fl_error *err)
{
	if (run->creds->mode != FL_MODE_ROOT)
		return 0;
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];

		if (m->opt->kind != FL_KIND_DYNAMIC || m->upper_fd < 0)
			continue;
		if (fchownat(m->upper_fd, "", FL_PRIV_NOBODY, FL_PRIV_NOBODY, AT_EMPTY_PATH) < 0)
			return fl_error_set(err, errno,
					    "cannot give the upper directory to the server: %s",
					    strerror(errno));
	}
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int fl_dynamic_choose(struct fl_run *run, struct fl_error *err)
{
	const char *force = fl_env_get(run->env, "FUSELAGE_DYNAMIC_BACKEND");
	const char *flavour = run->creds->mode == FL_MODE_UNPRIV ? "userxattr" : "redirect_dir=on";
	struct fl_error perr = { 0 };
	double t0 = now_ms();

	run->dynamic_backend = FL_DYNAMIC_NONE;
	if (!any_dynamic(run))
		return 0;
	if (force && !*force)
		force = NULL;
	if (force && strcmp(force, "overlay") != 0 && strcmp(force, "fuse") != 0)
		return fl_error_set(
		    err, EINVAL, "FUSELAGE_DYNAMIC_BACKEND=%s: must be 'overlay' or 'fuse'", force);
	if (force && strcmp(force, "fuse") == 0) {
		run->dynamic_backend = FL_DYNAMIC_FUSE;
		snprintf(run->dynamic_why, sizeof(run->dynamic_why),
			 "FUSELAGE_DYNAMIC_BACKEND=fuse");
	} else if (probe(run, &perr) == 0) {
		run->dynamic_backend = FL_DYNAMIC_OVERLAY;
		snprintf(run->dynamic_why, sizeof(run->dynamic_why),
			 "the probe (copy-up, rename, rmdir with %s) passed in %.1f ms", flavour,
			 now_ms() - t0);
	} else if (force) {
		return fl_error_set(err, perr.errnum,
				    "--dynamic: overlayfs was asked for "
				    "(FUSELAGE_DYNAMIC_BACKEND=overlay) but its probe failed: %s",
				    perr.msg);
	} else {
		run->dynamic_backend = FL_DYNAMIC_FUSE;
		snprintf(run->dynamic_why, sizeof(run->dynamic_why),
			 "the overlayfs probe (%s) failed: %.200s", flavour, perr.msg);
	}
	if (run->dynamic_backend == FL_DYNAMIC_OVERLAY) {
		fl_verbose("--dynamic: kernel overlayfs (%s): %s", flavour, run->dynamic_why);
		return 0;
	}
	fl_verbose("--dynamic: the FUSE copy-on-write fallback in the server: %s",
		   run->dynamic_why);
	return fuse_upper_owner(run, err);
}

int fl_dynamic_mount(struct fl_run *run, struct fl_error *err)
{
	if (run->dynamic_backend != FL_DYNAMIC_OVERLAY)
		return 0;
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		struct fl_ns_overlay ov = { m->lower_fd, m->upper_fd, m->work_fd,
					    run->creds->mode == FL_MODE_UNPRIV };
		int r;

		if (m->opt->kind != FL_KIND_DYNAMIC || m->extracted)
			continue;
		r = fl_ns_mount_overlay(run->creds, &ov, m->target_fd, NULL, err);
		if (r < 0)
			return fl_error_prefix(err, "%s", m->dir);
		fl_verbose("overlay on %s: the archive read-only below, the run's tmpfs above",
			   m->dir);
	}
	return 0;
}
