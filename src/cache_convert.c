/* SPDX-License-Identifier: MIT */
/*
 * --cache-static conversions (see cache.h): mksquashfs reads the zip through
 * this run's own FUSE mount (nothing is extracted) and writes a temporary
 * file in cache/, which is then published with rename(RENAME_NOREPLACE), so
 * a reader never sees a partial image and at most one conversion is kept.
 * Runs in setup after the privilege drop; mksquashfs never runs as root.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/cache.h"
#include "src/env.h"
#include "src/util.h"

#define FIXED_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool fl_cache_find_tool(const struct fl_run *run, char *buf, size_t len)
{
	const char *knob = NULL, *p = FIXED_PATH;

	/* The knob is for the tests; a setuid-root fuselage takes nothing
	 * from the caller's environment that chooses what it runs. */
	if (run->creds->mode != FL_MODE_SETUID)
		knob = fl_env_get(run->env, "FUSELAGE_MKSQUASHFS");
	if (knob && *knob) {
		snprintf(buf, len, "%s", knob);
		return knob[0] == '/' && executable(buf);
	}
	while (*p) {
		size_t n = strcspn(p, ":");

		snprintf(buf, len, "%.*s/mksquashfs", (int)n, p);
		if (executable(buf))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* A new temporary file for @key in cache/, writable by the helper. */
static int make_temp(const struct fl_run *run, int cache_fd, const char *key, char *name,
		     size_t len, int *ret_fd, struct fl_error *err)
{
	unsigned int rnd;
	uid_t helper = fl_priv_helper_uid(run->creds);
	int fd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
	snprintf(name, len, "%s.sfs.tmp.%d.%08x", key, (int)getpid(), rnd);
	fd = openat(cache_fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fl_error_set(err, errno, "cannot create %s in the cache: %s", name,
				    strerror(errno));
	/* Root mode: mksquashfs runs as nobody and reopens this file through
	 * /proc/self/fd, so nobody must own it until it is done. */
	if (helper != run->creds->uid && fchown(fd, helper, (gid_t)-1) < 0) {
		int e = errno;

		close(fd);
		unlinkat(cache_fd, name, 0);
		return fl_error_set(err, e, "cannot lend %s to mksquashfs: %s", name, strerror(e));
	}
	*ret_fd = fd;
	return 0;
}

/* The mksquashfs process: never root, no new privileges, a minimal
 * environment, the served directory as its cwd and source, the temporary
 * file as fd 3.  Reports a failure before exec on @report_fd. */
static void helper_main(const struct fl_run *run, const char *tool, int dir_fd, int out_fd,
			int report_fd)
{
	static char path_env[] = "PATH=" FIXED_PATH;
	char *envp[] = { path_env, NULL };
	bool tty = isatty(2) == 1;
	/* -exit-on-error: mksquashfs otherwise turns a file it cannot read
	 * (EIO from a damaged entry, EACCES for a mode the caller may not
	 * read) into an empty file, or leaves out a directory, and exits 0:
	 * the image would silently differ from the archive. */
	char *argv[] = { "mksquashfs",	  ".",	    "/proc/self/fd/3",
			 "-noappend",	  "-quiet", "-exit-on-error",
			 tty ? NULL : "-no-progress", NULL };
	struct fl_error err = { 0 };
	int null = -1, out = -1;

	if (fl_priv_drop_for_helper(run->creds, &err) < 0)
		goto fail;
	if (fchdir(dir_fd) < 0) {
		fl_error_set(&err, errno, "cannot enter the served directory: %s", strerror(errno));
		goto fail;
	}
	/* fd 3 is the output: first move everything we keep above 10. */
	report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
	out = fcntl(out_fd, F_DUPFD_CLOEXEC, 10);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 10);
	if (report_fd < 0 || out < 0 || null < 0 || dup2(out, 3) < 0) {
		fl_error_set(&err, errno, "cannot set up mksquashfs's descriptors");
		goto fail;
	}
	/* On a terminal its progress bar goes to stderr, never to our stdout
	 * (which may be a pipe the caller reads); otherwise it is silent
	 * unless -v. */
	dup2(null, 0);
	dup2(tty ? 2 : null, 1);
	if (!tty && !fl_verbose_on())
		dup2(null, 2);
	fl_close_all_except((const int[]){ 3, report_fd }, 2);
	execve(tool, argv, envp);
	fl_error_set(&err, errno, "cannot run %s: %s", tool, strerror(errno));
fail:
	fl_write_all(report_fd, &err, sizeof(err));
	_exit(127);
}

static int run_helper(const struct fl_run *run, const char *tool, int dir_fd, int out_fd,
		      struct fl_error *err)
{
	struct fl_error child = { 0 };
	int fd, st = 0, r;
	pid_t pid;

	fflush(NULL);
	pid = fl_fork_reporting(&fd, err);
	if (pid < 0)
		return (int)pid;
	if (pid == 0)
		helper_main(run, tool, dir_fd, out_fd, fd);
	r = fl_read_all(fd, &child, sizeof(child));
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r == 0) {
		*err = child;
		return -(child.errnum ? child.errnum : EIO);
	}
	if (WIFSIGNALED(st))
		return fl_error_set(err, EIO, "mksquashfs died of signal %d", WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fl_error_set(err, EIO, "mksquashfs failed (status %d%s)", WEXITSTATUS(st),
				    fl_verbose_on() ? "" : "; -v shows why");
	return 0;
}

static void fsync_dir(int cache_fd)
{
	int fd = openat(cache_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Publish @tmp as <key>.sfs unless someone else already did: 1 if ours won,
 * 0 if theirs did (ours is deleted).  Atomic on local filesystems
 * (renameat2) and, where that flag is unsupported (some network
 * filesystems), through link(2), which never replaces either. */
static int publish_image(int cache_fd, const char *tmp, const char *final, struct fl_error *err)
{
	int e;

	if (renameat2(cache_fd, tmp, cache_fd, final, RENAME_NOREPLACE) == 0)
		return 1;
	e = errno;
	if (e == EINVAL || e == ENOSYS) {
		e = linkat(cache_fd, tmp, cache_fd, final, 0) == 0 ? 0 : errno;
		unlinkat(cache_fd, tmp, 0);
		if (e == 0)
			return 1;
	} else {
		unlinkat(cache_fd, tmp, 0);
	}
	if (e == EEXIST)
		return 0;
	return fl_error_set(err, e, "cannot publish %s: %s", final, strerror(e));
}

/* The marker: present (created or already there) with mtime now. */
static int touch_marker(int cache_fd, const char *key, struct fl_error *err)
{
	char name[FL_CACHE_KEY_LEN + 16];
	struct stat st;
	int fd, e = 0;

	snprintf(name, sizeof(name), "%s.complete", key);
	fd = openat(cache_fd, name,
		    O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		e = errno;
	else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		e = EINVAL;
	else if (futimens(fd, NULL) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e)
		return fl_error_set(err, e, "cannot create %s: %s", name, strerror(e));
	return 0;
}

/* The temporary image is complete: make it the caller's again, durable,
 * then publish it and its marker. */
static int finish(const struct fl_run *run, int cache_fd, const char *tmp, int tmp_fd,
		  const char *key, struct fl_error *err)
{
	char final[FL_CACHE_KEY_LEN + 8];
	int won;

	if ((fl_priv_helper_uid(run->creds) != run->creds->uid &&
	     fchown(tmp_fd, run->creds->uid, run->creds->gid) < 0) ||
	    fchmod(tmp_fd, 0600) < 0 || fsync(tmp_fd) < 0) {
		int e = errno;

		unlinkat(cache_fd, tmp, 0);
		return fl_error_set(err, e, "cannot finish %s: %s", tmp, strerror(e));
	}
	snprintf(final, sizeof(final), "%s.sfs", key);
	won = publish_image(cache_fd, tmp, final, err);
	if (won < 0)
		return won;
	fsync_dir(cache_fd);
	if (touch_marker(cache_fd, key, err) < 0)
		return -err->errnum;
	fsync_dir(cache_fd);
	return won;
}

/* 1: <key>.sfs is a published image of the caller's; 0: there is none (a
 * bad regular file, which only interference or damage can make, is removed
 * so that this conversion can replace it); -1: something else is in the way
 * (a symlink, a directory...), which is left alone. */
static int image_state(const struct fl_run *run, int cache_fd, const char *key)
{
	char name[FL_CACHE_KEY_LEN + 8], magic[4];
	struct stat st;
	int fd, ok;

	snprintf(name, sizeof(name), "%s.sfs", key);
	if (fstatat(cache_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISREG(st.st_mode))
		return -1;
	fd = openat(cache_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     st.st_uid == run->creds->inner_uid && pread(fd, magic, 4, 0) == 4 &&
	     memcmp(magic, "hsqs", 4) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok)
		unlinkat(cache_fd, name, 0);
	return ok;
}

static int convert_one(const struct fl_run *run, const struct fl_run_mount *m, const char *tool,
		       int cache_fd, struct fl_error *err)
{
	_cleanup_close_ int tmp_fd = -1, dir_fd = -1;
	char tmp[FL_CACHE_KEY_LEN + 64];
	int r;

	/* Published meanwhile (by a concurrent run, or for the same zip under
	 * another name in this one): images only ever appear whole, by
	 * rename, so the marker is all that is missing. */
	r = image_state(run, cache_fd, m->cache_key);
	if (r == 1)
		return touch_marker(cache_fd, m->cache_key, err) < 0 ? -err->errnum : 0;
	if (r < 0)
		return fl_error_set(err, EEXIST, "%s.sfs in the cache is not a regular file",
				    m->cache_key);
	/* As the caller (setup has dropped): the path is this run's own. */
	dir_fd = open(m->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return fl_error_set(err, errno, "%s: %s", m->dir, strerror(errno));
	r = make_temp(run, cache_fd, m->cache_key, tmp, sizeof(tmp), &tmp_fd, err);
	if (r < 0)
		return r;
	if (isatty(2) == 1)
		fl_note("converting %s to squashfs for --cache-static", m->opt->file);
	r = run_helper(run, tool, dir_fd, tmp_fd, err);
	if (r < 0) {
		unlinkat(cache_fd, tmp, 0);
		return r;
	}
	return finish(run, cache_fd, tmp, tmp_fd, m->cache_key, err);
}

void fl_cache_convert(struct fl_run *run)
{
	_cleanup_close_ int cache_fd = -1;
	struct fl_error err = { 0 };
	char tool[4096];
	int r;

	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];

		if (!m->cache_convert)
			continue;
		m->cache_convert = false;
		if (cache_fd < 0 && !fl_cache_find_tool(run, tool, sizeof(tool))) {
			fl_note("mksquashfs not found; serving %s directly without caching",
				m->opt->file);
			continue;
		}
		if (cache_fd < 0 && fl_cache_open_dir(run, true, &cache_fd, &err) < 0) {
			fl_note("cannot cache %s: %s", m->opt->file, err.msg);
			continue;
		}
		r = convert_one(run, m, tool, cache_fd, &err);
		if (r < 0)
			fl_note("cannot cache %s: %s; serving it directly", m->opt->file, err.msg);
		else
			fl_verbose("%s: %s %s/cache/%s.sfs", m->opt->file,
				   r ? "converted to" : "another run already made", run->home,
				   m->cache_key);
	}
}
