/* SPDX-License-Identifier: MIT */
/*
 * Directory layout of a run (see layout.h).  Every directory is opened
 * O_PATH|O_NOFOLLOW and checked for ownership before anything is mounted on
 * it; mounts go onto those descriptors, never onto a path string, so the
 * caller cannot redirect a mount with a symlink or rename race.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "src/env.h"
#include "src/layout.h"
#include "src/names.h"
#include "src/ns.h"
#include "src/util.h"

#define MARKER ".fuselage-procdirs"
#define FIXED_DIR "/run/fuselage"

static char *abs_path(const char *p)
{
	char cwd[4096];
	char *r = NULL;

	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&r, "%s/%s", cwd, p) < 0)
		return NULL;
	return r;
}

int fl_layout_home_path(const struct fl_creds *c, char *const *env, char **ret_path,
			struct fl_error *err)
{
	const char *v = NULL;
	struct passwd *pw;
	char *path = NULL;

	if (c->mode != FL_MODE_SETUID) {
		v = fl_env_get(env, "FUSELAGE_HOME");
		if (v && *v) {
			path = abs_path(v);
			goto out;
		}
		v = fl_env_get(env, "HOME");
	}
	if (!v || !*v) {
		pw = getpwuid(c->uid);
		if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
			return fl_error_set(err, ENOENT, "cannot find your home directory");
		v = pw->pw_dir;
	}
	if (asprintf(&path, "%s/.fuselage", v) < 0)
		path = NULL;
out:
	if (!path)
		return fl_error_set(err, ENOMEM, "out of memory");
	*ret_path = path;
	return 0;
}

int fl_layout_open_own_dir(const struct fl_creds *c, int dirfd, const char *name, const char *shown,
			   int *ret_fd, struct fl_error *err)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
			return fl_error_set(err, errno, "cannot create %s: %s", shown,
					    strerror(errno));
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
		return fl_error_set(err, errno, "%s is a symlink or not a directory; refused",
				    shown);
	if (fd < 0)
		return fl_error_set(err, errno, "cannot open %s: %s", shown, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_uid != c->inner_uid) {
		close(fd);
		return fl_error_set(err, EPERM, "%s is not owned by you; refused", shown);
	}
	*ret_fd = fd;
	return 0;
}

/* Is procdirs already the tmpfs of an enclosing fuselage run (nested)? */
static bool procdirs_is_ours(int fd)
{
	struct statx stx;
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		return false;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) < 0 ||
	    !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return false;
	return faccessat(fd, MARKER, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* In an enclosing run's tmpfs, remove the empty directories of runs whose
 * process is gone.  rmdir never removes a non-empty or mounted directory, and
 * a live pid is never touched, so pid reuse is harmless. */
static void sweep(int procfd)
{
	int fd = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || e->d_name[0] == '0')
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(procfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* procdirs/ as a tmpfs root: ours if already there, else a fresh one. */
static int procdirs_root(struct fl_run *run, int home_fd, int *ret_fd, struct fl_error *err)
{
	_cleanup_close_ int fd = -1;
	int root, r, m;

	r = fl_layout_open_own_dir(run->creds, home_fd, "procdirs", "$FUSELAGE_HOME/procdirs", &fd,
				   err);
	if (r < 0)
		return r;
	if (procdirs_is_ours(fd)) {
		fl_verbose("procdirs: reusing the enclosing run's tmpfs");
		sweep(fd);
		*ret_fd = fd;
		fd = -1;
		return 0;
	}
	r = fl_ns_mount_tmpfs(run->creds, fd, 0700, NULL, &root, err);
	if (r < 0)
		return r;
	m = openat(root, MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (m >= 0)
		close(m);
	*ret_fd = root;
	return 0;
}

/* mkdir @name in @dirfd and return it as an O_PATH descriptor. */
static int make_dir(int dirfd, const char *name, mode_t mode, const char *shown, int *ret_fd,
		    struct fl_error *err)
{
	int fd;

	if (mkdirat(dirfd, name, mode) < 0)
		return fl_error_set(err, errno, "cannot create %s: %s", shown, strerror(errno));
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fl_error_set(err, errno, "cannot open %s: %s", shown, strerror(errno));
	*ret_fd = fd;
	return 0;
}

/*
 * The size= of the run's tmpfs, which holds $FUSELAGE_TMPDIR, --dynamic upper
 * layers and --dynamic-empty directories: the run's memory limit.  The
 * kernel's default is half of the RAM; FUSELAGE_TMPFS_SIZE (bytes, or with a
 * k/m/g suffix) sets it, and in setuid mode it may only lower that default,
 * since tmpfs memory is the machine's.  NULL for the default.
 */
static int tmpfs_size(const struct fl_run *run, char *buf, size_t size, const char **ret,
		      struct fl_error *err)
{
	const char *v = fl_env_get(run->env, "FUSELAGE_TMPFS_SIZE");
	unsigned long long n, half;
	char *end;

	*ret = NULL;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end && !end[1] && strchr("kKmMgG", *end))
		n <<= (*end == 'k' || *end == 'K') ? 10 : (*end == 'm' || *end == 'M') ? 20 : 30;
	else if (*end)
		n = 0;
	if (errno || n == 0 || v[0] < '0' || v[0] > '9' || n >= (1ULL << 50))
		return fl_error_set(err, EINVAL,
				    "FUSELAGE_TMPFS_SIZE=%s: not a size (bytes, or a number with "
				    "k, m or g)",
				    v);
	half = (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE) / 2;
	if (run->creds->mode == FL_MODE_SETUID && n > half) {
		fl_verbose("FUSELAGE_TMPFS_SIZE=%s is more than half the RAM; using the default", v);
		return 0;
	}
	snprintf(buf, size, "%llu", n);
	*ret = buf;
	return 0;
}

static int run_root(struct fl_run *run, int procfd, struct fl_error *err)
{
	_cleanup_close_ int dir = -1;
	char pid[32], sizebuf[32];
	const char *size;
	int r;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (asprintf(&run->procdir, "%s/procdirs/%s", run->home, pid) < 0) {
		run->procdir = NULL;
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	/* A stale directory of a dead run with our pid (nested runs only). */
	unlinkat(procfd, pid, AT_REMOVEDIR);
	r = make_dir(procfd, pid, 0700, run->procdir, &dir, err);
	if (r < 0)
		return r;
	r = tmpfs_size(run, sizebuf, sizeof(sizebuf), &size, err);
	if (r < 0)
		return r;
	fl_verbose("the run's tmpfs: size=%s", size ? size : "the default (half the RAM)");
	return fl_ns_mount_tmpfs(run->creds, dir, 0700, size, &run->run_fd, err);
}

/* Re-create entry @e of the old /run (@oldfd) in the new one (@newfd): a
 * symlink as a copy, anything else bind-mounted onto a new directory or
 * empty file, so sockets, /run/user/UID and every mount below stay
 * reachable. */
static int rerun_entry(const struct fl_run *run, int oldfd, int newfd, const struct dirent *e,
		       struct fl_error *err)
{
	_cleanup_close_ int tfd = -1;
	char target[4096];
	struct stat st;
	ssize_t n;

	if (fstatat(oldfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;  /* gone meanwhile, or not ours to see */
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(oldfd, e->d_name, target, sizeof(target) - 1);
		if (n < 0)
			return 0;
		target[n] = '\0';
		if (symlinkat(target, newfd, e->d_name) < 0)
			return fl_error_set(err, errno, "cannot re-create /run/%s: %s", e->d_name,
					    strerror(errno));
		return 0;
	}
	if (S_ISDIR(st.st_mode) ? mkdirat(newfd, e->d_name, 0755) < 0
				: mknodat(newfd, e->d_name, S_IFREG | 0644, 0) < 0)
		return fl_error_set(err, errno, "cannot re-create /run/%s: %s", e->d_name,
				    strerror(errno));
	tfd = openat(newfd, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return fl_error_set(err, errno, "cannot open the new /run/%s: %s", e->d_name,
				    strerror(errno));
	return fl_ns_bind(run->creds, oldfd, e->d_name, tfd, err);
}

/*
 * Unprivileged mode without /run/fuselage on the host: a tmpfs over /run in
 * our namespace, with every entry of the old /run bind-mounted back, and
 * /run/fuselage in it.  Nothing of the host changes; only a process of this
 * run sees the new /run.  (Setuid and root mode need no such help: whoever
 * installs them can create /run/fuselage, and make install does.)
 */
static int private_run(struct fl_run *run, struct fl_error *err)
{
	_cleanup_close_ int oldfd = -1, target = -1, newfd = -1;
	DIR *d;
	struct dirent *e;
	int r = 0;

	oldfd = open("/run", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	target = open("/run", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (oldfd < 0 || target < 0)
		return fl_error_set(err, errno, "cannot open /run: %s", strerror(errno));
	r = fl_ns_mount_tmpfs(run->creds, target, 0755, "4m", &newfd, err);
	if (r < 0)
		return fl_error_prefix(err, "cannot make a private /run");
	d = fdopendir(fcntl(oldfd, F_DUPFD_CLOEXEC, 0));
	if (!d)
		return fl_error_set(err, errno, "cannot read /run: %s", strerror(errno));
	/* An entry that cannot be carried over is left out, with a -v line:
	 * one odd entry of the host's /run must not cost the whole run. */
	while ((e = readdir(d))) {
		struct fl_error eerr = { 0 };

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (rerun_entry(run, oldfd, newfd, e, &eerr) < 0)
			fl_verbose("private /run: %s; left out", eerr.msg);
	}
	closedir(d);
	if (mkdirat(newfd, "fuselage", 0755) < 0 || fchmodat(newfd, "fuselage", 0755, 0) < 0)
		return fl_error_set(err, errno, "cannot create " FIXED_DIR ": %s", strerror(errno));
	fl_verbose(FIXED_DIR " does not exist on the host: a private /run with it was made");
	return 0;
}

static int fixed_root(struct fl_run *run, int *fixed_fd, struct fl_error *err)
{
	_cleanup_close_ int fd = -1;
	char sizebuf[32];
	const char *size;
	int r;

	if (*fixed_fd >= 0)
		return 0;
	/* /run/fuselage is the administrator's directory, never the caller's. */
	fd = open(FIXED_DIR, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && run->creds->mode == FL_MODE_UNPRIV) {
		r = private_run(run, err);
		if (r < 0)
			return r;
		fd = open(FIXED_DIR, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return fl_error_set(err, errno,
				    "cannot use fixed paths: " FIXED_DIR ": %s (create it as root: "
				    "'mkdir -m 0755 " FIXED_DIR "'; 'make install' adds a "
				    "tmpfiles.d entry for it)",
				    strerror(errno));
	r = tmpfs_size(run, sizebuf, sizeof(sizebuf), &size, err);
	if (r < 0)
		return r;
	return fl_ns_mount_tmpfs(run->creds, fd, 0755, size, fixed_fd, err);
}

/* A --dynamic-empty directory is the command's own: give it the mode the
 * caller's umask would (our own umask is 077 during setup). */
static int own_mode(struct fl_run *run, struct fl_run_mount *m, int dirfd, struct fl_error *err)
{
	mode_t mode = 0777 & ~run->creds->umask;

	if (m->opt->kind != FL_KIND_DYNAMIC_EMPTY)
		return 0;
	if (fchmodat(dirfd, m->opt->name, mode, 0) < 0)
		return fl_error_set(err, errno, "cannot chmod %s: %s", m->dir, strerror(errno));
	return 0;
}

/* A --dynamic archive's upper and work directories, cow/<i>/{upper,work} in
 * the run's tmpfs: its writes count against the run's memory limit, and they
 * vanish with it.  The upper directory is the root the command sees, so it
 * is the caller's and 0755 whatever our own umask. */
static int cow_dirs(struct fl_run *run, size_t i, struct fl_error *err)
{
	struct fl_run_mount *m = &run->mounts[i];
	_cleanup_close_ int dfd = -1;
	char sub[32];
	int r;

	if (m->opt->kind != FL_KIND_DYNAMIC)
		return 0;
	if (mkdirat(run->run_fd, "cow", 0700) < 0 && errno != EEXIST)
		return fl_error_set(err, errno, "cannot create %s/cow: %s", run->procdir,
				    strerror(errno));
	snprintf(sub, sizeof(sub), "cow/%zu", i);
	r = make_dir(run->run_fd, sub, 0700, sub, &dfd, err);
	if (r < 0)
		return r;
	r = make_dir(dfd, "upper", 0755, "the upper directory", &m->upper_fd, err);
	if (r < 0)
		return r;
	if (fchmodat(dfd, "upper", 0755, 0) < 0)
		return fl_error_set(err, errno, "cannot chmod the upper directory: %s",
				    strerror(errno));
	return make_dir(dfd, "work", 0700, "the work directory", &m->work_fd, err);
}

static int mount_dir(struct fl_run *run, struct fl_run_mount *m, int *fixed_fd,
		     struct fl_error *err)
{
	const char *sub = m->opt->kind == FL_KIND_STATIC ? "static" : "dynamic";
	char **parent = m->opt->kind == FL_KIND_STATIC ? &run->static_dir : &run->dynamic_dir;
	_cleanup_close_ int pfd = -1;
	int r;

	if (m->opt->fixed) {
		r = fixed_root(run, fixed_fd, err);
		if (r < 0)
			return r;
		if (asprintf(&m->dir, FIXED_DIR "/%s", m->opt->name) < 0)
			return fl_error_set(err, ENOMEM, "out of memory");
		r = make_dir(*fixed_fd, m->opt->name, 0755, m->dir, &m->target_fd, err);
		return r < 0 ? r : own_mode(run, m, *fixed_fd, err);
	}
	if (!*parent) {
		if (asprintf(parent, "%s/%s", run->procdir, sub) < 0) {
			*parent = NULL;
			return fl_error_set(err, ENOMEM, "out of memory");
		}
		if (mkdirat(run->run_fd, sub, 0755) < 0)
			return fl_error_set(err, errno, "cannot create %s: %s", *parent,
					    strerror(errno));
	}
	pfd = openat(run->run_fd, sub, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return fl_error_set(err, errno, "cannot open %s: %s", *parent, strerror(errno));
	if (asprintf(&m->dir, "%s/%s", *parent, m->opt->name) < 0)
		return fl_error_set(err, ENOMEM, "out of memory");
	r = make_dir(pfd, m->opt->name, 0755, m->dir, &m->target_fd, err);
	return r < 0 ? r : own_mode(run, m, pfd, err);
}

/* tmp/ and every mount's directory, in the run's root run->run_fd. */
static int build_dirs(struct fl_run *run, struct fl_error *err)
{
	_cleanup_close_ int fixed_fd = -1;
	int r;

	if (asprintf(&run->tmpdir, "%s/tmp", run->procdir) < 0) {
		run->tmpdir = NULL;
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	if (mkdirat(run->run_fd, "tmp", 0700) < 0)
		return fl_error_set(err, errno, "cannot create %s: %s", run->tmpdir,
				    strerror(errno));
	for (size_t i = 0; i < run->nmounts; i++) {
		r = mount_dir(run, &run->mounts[i], &fixed_fd, err);
		if (r == 0)
			r = cow_dirs(run, i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int fl_layout_build(struct fl_run *run, struct fl_error *err)
{
	_cleanup_close_ int home_fd = -1, procfd = -1;
	int r;

	r = fl_layout_open_own_dir(run->creds, AT_FDCWD, run->home, run->home, &home_fd, err);
	if (r < 0)
		return fl_error_prefix(err, "$FUSELAGE_HOME");
	r = procdirs_root(run, home_fd, &procfd, err);
	if (r < 0)
		return r;
	r = run_root(run, procfd, err);
	if (r < 0)
		return r;
	r = build_dirs(run, err);
	if (r < 0)
		return r;
	fl_verbose("layout ready under %s", run->procdir);
	return 0;
}

int fl_layout_open_procdirs(struct fl_run *run, int *ret_fd, struct fl_error *err)
{
	_cleanup_close_ int home_fd = -1, fd = -1;
	int r;

	r = fl_layout_open_own_dir(run->creds, AT_FDCWD, run->home, run->home, &home_fd, err);
	if (r < 0)
		return fl_error_prefix(err, "$FUSELAGE_HOME");
	r = fl_layout_open_own_dir(run->creds, home_fd, "procdirs", "$FUSELAGE_HOME/procdirs", &fd,
				   err);
	if (r < 0)
		return r;
	/* The descriptor is used for mkdirat/unlinkat/readdir: not O_PATH. */
	*ret_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*ret_fd < 0)
		return fl_error_set(err, errno, "cannot open $FUSELAGE_HOME/procdirs: %s",
				    strerror(errno));
	return 0;
}

int fl_layout_build_disk(struct fl_run *run, int procfd, const char *name, struct fl_error *err)
{
	int r;

	for (size_t i = 0; i < run->nmounts; i++)
		if (run->mounts[i].opt->fixed)
			return fl_error_set(err, EPERM,
					    "%s=%s: a fixed path cannot be private without a mount "
					    "namespace, so it is refused when the archives are "
					    "extracted to disk (use a relative NAME)",
					    run->mounts[i].opt->option, run->mounts[i].opt->arg);
	if (asprintf(&run->procdir, "%s/procdirs/%s", run->home, name) < 0) {
		run->procdir = NULL;
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	r = make_dir(procfd, name, 0700, run->procdir, &run->run_fd, err);
	if (r < 0)
		return r;
	r = build_dirs(run, err);
	if (r < 0)
		return r;
	fl_verbose("layout ready on disk under %s", run->procdir);
	return 0;
}
