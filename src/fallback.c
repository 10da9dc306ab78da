/* SPDX-License-Identifier: MIT */
/*
 * Extraction instead of FUSE, and extract-and-run without a namespace (see
 * fallback.h, SPEC §8).  Archive bytes are only ever parsed in a child that
 * has dropped privilege, exactly like the server; nothing here follows a
 * symlink in the caller's directories (fusefs/extract.c works on directory
 * descriptors with O_NOFOLLOW).  The on-disk directory is named after the
 * cleaner process that will remove it (pid and start time, within one boot
 * and pid namespace), so a later run can tell a dead run's leftovers from a
 * live run's directory, whatever pids the kernel reuses.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/archive.h"
#include "fusefs/extract.h"
#include "src/fallback.h"
#include "src/layout.h"
#include "src/util.h"

#define NAME_MAX_LEN 128 /* boot id (36) + pid namespace + pid + start time fit easily */
#define CLEANUP_WAIT_MS 120000  /* removing a huge tree takes a while; never forever */

/* ---- identity of a process: boot, pid namespace, pid, start time ---------- */

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The boot id (a random UUID per boot, so also per machine) and the pid
 * namespace's inode number: together the scope in which a pid means one
 * process.  Returns "BOOT.NS" in @buf, or -errno. */
static int scope(char *buf, size_t size)
{
	char boot[64], ns[64];
	ssize_t n;
	unsigned long long ino;

	if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) < 0 || !boot[0])
		return -ENOENT;
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n < 0)
		return -errno;
	ns[n] = '\0';
	if (sscanf(ns, "pid:[%llu]", &ino) != 1)
		return -EINVAL;
	snprintf(buf, size, "%s.%llu", boot, ino);
	return 0;
}

/* Start time of @pid in clock ticks since boot (field 22 of its stat);
 * -ESRCH for a zombie (a killed cleaner stays one until setup or init
 * reaps it), -errno when the file cannot be read. */
static long long start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EINVAL;
	if (p[2] == 'Z' || p[2] == 'X')
		return -ESRCH;
	/* Fields 3 (state) .. 22 (starttime) follow. */
	for (int field = 3; field <= 22 && p; field++) {
		p = strchr(p + 1, ' ');
		if (p && field == 22)
			v = strtoll(p + 1, NULL, 10);
	}
	return v >= 0 ? v : -EINVAL;
}

/* Is the process that started at @start as @pid still there?  In doubt
 * (its /proc entry hidden by hidepid, unreadable), yes. */
static bool still_alive(pid_t pid, long long start)
{
	long long now;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	now = start_time(pid);
	if (now == -ESRCH)
		return false;  /* a zombie, or gone meanwhile */
	if (now < 0)
		return true;
	return now == start;  /* otherwise the pid was reused */
}

/* Remove the directories of runs that are gone: same scope (boot and pid
 * namespace), and the cleaner named in it no longer exists with that start
 * time.  A directory of another boot, machine or pid namespace is never
 * touched, since its process cannot be checked from here. */
static void sweep(int procfd, const char *our_scope)
{
	int fd = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	size_t sl = strlen(our_scope);
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		long long pid, start;
		char *end;

		if (strncmp(e->d_name, "x.", 2) != 0 || strncmp(e->d_name + 2, our_scope, sl) != 0 ||
		    e->d_name[2 + sl] != '.')
			continue;
		pid = strtoll(e->d_name + 3 + sl, &end, 10);
		if (pid <= 0 || *end != '.')
			continue;
		start = strtoll(end + 1, &end, 10);
		if (*end || start < 0)
			continue;
		if (still_alive((pid_t)pid, start))
			continue; /* its cleaner is alive: a live run */
		fl_extract_remove(procfd, e->d_name);
	}
	closedir(d);
}

/* ---- the cleaner ----------------------------------------------------------- */

/* Reads the run directory's name from @ctl_rd, sweeps dead runs' leftovers,
 * waits until every holder of the lifeline is gone, removes the directory. */
static void cleaner_main(int procfd, int ctl_rd, int lifeline_rd, int done_wr)
{
	static const int ignored[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU,
				       SIGHUP, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	int keep[] = { procfd, ctl_rd, lifeline_rd, done_wr };
	char name[NAME_MAX_LEN * 2 + 1], our_scope[NAME_MAX_LEN];
	size_t len = 0;
	ssize_t n;
	char c;

	/* Terminal signals are the command's: leave the session. */
	setsid();
	/* Setuid mode: we are the caller for good now, and later runs must be
	 * able to see us in /proc even when it is mounted hidepid=2, which hides
	 * non-dumpable processes; this process holds nothing but the caller's
	 * own directory. */
	if (geteuid() != 0)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &ign, NULL);
	fl_close_all_except(keep, 4);
	fl_detach_stdio();
	while (len < sizeof(name) - 1 && (n = read(ctl_rd, name + len, sizeof(name) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	name[len] = '\0';
	close(ctl_rd);
	if (scope(our_scope, sizeof(our_scope)) == 0)
		sweep(procfd, our_scope);
	if (len == 0 || strchr(name, '/') || name[0] == '.')
		_exit(0);
	while ((n = read(lifeline_rd, &c, 1)) != 0)
		if (n < 0 && errno != EINTR)
			break;
	fl_extract_remove(procfd, name);
	_exit(0);
}

int fl_fallback_disk_layout(struct fl_run *run, int lifeline_rd, struct fl_error *err)
{
	_cleanup_close_ int procfd = -1;
	char our_scope[NAME_MAX_LEN], name[NAME_MAX_LEN * 2];
	int ctl[2] = { -1, -1 }, done[2] = { -1, -1 };
	long long start;
	pid_t pid;
	int r;

	/* Extract-and-run needs no privilege at all: setuid mode becomes the
	 * caller for good before anything is created. */
	r = fl_priv_drop_for_command(run->creds, err);
	if (r < 0)
		return r;
	r = scope(our_scope, sizeof(our_scope));
	if (r < 0)
		return fl_error_set(err, -r, "cannot identify this boot and pid namespace in /proc: %s",
				    strerror(-r));
	r = fl_layout_open_procdirs(run, &procfd, err);
	if (r < 0)
		return r;
	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) {
		r = fl_error_set(err, errno, "pipe: %s", strerror(errno));
		goto close_pipes;
	}
	pid = fork();
	if (pid < 0) {
		r = fl_error_set(err, errno, "fork: %s", strerror(errno));
		goto close_pipes;
	}
	if (pid == 0)
		cleaner_main(procfd, ctl[0], lifeline_rd, done[1]);
	close(ctl[0]);
	close(done[1]);
	run->cleaner_fd = done[0];
	start = start_time(pid);
	snprintf(name, sizeof(name), "x.%s.%d.%lld", our_scope, (int)pid, start);
	/* The cleaner knows the name before the directory exists: whenever
	 * setup dies from here on, the directory goes with the run. */
	r = fl_write_all(ctl[1], name, strlen(name));
	close(ctl[1]);
	if (start < 0 || r < 0)
		return fl_error_set(err, start < 0 ? ESRCH : -r, "the cleaner process died");
	fl_verbose("extract-and-run: cleaner %d", (int)pid);
	return fl_layout_build_disk(run, procfd, name, err);
close_pipes:
	for (int i = 0; i < 2; i++) {
		fl_closep(&ctl[i]);
		fl_closep(&done[i]);
	}
	return r;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r;
}

void fl_fallback_wait_cleanup(struct fl_run *run)
{
	/* The cleaner closes its end when it is done (POLLHUP). */
	if (run->cleaner_fd >= 0)
		wait_readable(run->cleaner_fd, CLEANUP_WAIT_MS);
}

/* ---- extraction ------------------------------------------------------------ */

struct report {
	struct fl_error err;
	uint64_t files, bytes, skipped;
};

static void warn_verbose(void *ctx, const char *msg)
{
	fl_verbose("%s: %s", (const char *)ctx, msg);
}

static int extract_one(struct fl_run_mount *m, struct report *rep)
{
	struct fl_tree_opts to = { .warn = warn_verbose, .warn_ctx = m->opt->name };
	struct fl_extract_opts eo = { .warn = warn_verbose, .warn_ctx = m->opt->name };
	struct fl_extract_stats st = { 0 };
	struct fl_tree *tree = NULL;
	enum fl_format fmt;
	int dfd, r;

	r = fl_archive_open(m->archive_fd, &to, &tree, &fmt, &rep->err);
	if (r < 0)
		return fl_error_prefix(&rep->err, "%s", m->opt->file);
	m->archive_fd = -1; /* owned by the tree */
	dfd = openat(m->target_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = fl_error_set(&rep->err, errno, "cannot open %s: %s", m->dir, strerror(errno));
	} else {
		r = fl_extract_tree(tree, dfd, &eo, &st, &rep->err);
		close(dfd);
		if (r < 0)
			fl_error_prefix(&rep->err, "extracting %s into %s", m->opt->file, m->dir);
	}
	fl_tree_free(tree);
	rep->files += st.files + st.hardlinks;
	rep->bytes += st.bytes;
	rep->skipped += st.skipped;
	if (r == 0)
		fl_verbose("extracted %s (%s) into %s: %llu files, %llu bytes", m->opt->file,
			   fl_format_name(fmt), m->dir, (unsigned long long)(st.files + st.hardlinks),
			   (unsigned long long)st.bytes);
	return r;
}

static bool wants_extraction(const struct fl_run_mount *m)
{
	return m->opt->kind != FL_KIND_DYNAMIC_EMPTY && m->fuse_fd < 0 && m->archive_fd >= 0 &&
	       m->target_fd >= 0;
}

static void extract_main(struct fl_run *run, int report_fd)
{
	struct report rep = { 0 };
	int keep[64], nkeep = 0;

	/* First thing: no privilege while archive bytes are parsed. */
	if (fl_priv_drop_for_extract(run->creds, &rep.err) < 0)
		goto out;
	/* Only what the extraction needs: no /dev/fuse descriptor of an
	 * archive that did mount, no lifeline. */
	keep[nkeep++] = report_fd;
	for (size_t i = 0; i < run->nmounts && nkeep + 2 <= 64; i++) {
		if (wants_extraction(&run->mounts[i])) {
			keep[nkeep++] = run->mounts[i].archive_fd;
			keep[nkeep++] = run->mounts[i].target_fd;
		}
	}
	fl_close_all_except(keep, (size_t)nkeep);
	/* See serve.c: zip DOS times are local times; read the zone once. */
	if (!secure_getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 1);
	tzset();
	for (size_t i = 0; i < run->nmounts; i++)
		if (wants_extraction(&run->mounts[i]) && extract_one(&run->mounts[i], &rep) < 0)
			break;
out:
	fl_write_all(report_fd, &rep, sizeof(rep));
	_exit(rep.err.errnum ? 125 : 0);
}

/* Root mode: the child runs as nobody, which must be able to fill the
 * directories (setup made them, as root). */
static int lend_targets(struct fl_run *run, struct fl_error *err)
{
	if (run->creds->mode != FL_MODE_ROOT || !fl_priv_nobody_mapped())
		return 0;
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];

		if (wants_extraction(m) &&
		    fchownat(m->target_fd, "", FL_PRIV_NOBODY, FL_PRIV_NOBODY, AT_EMPTY_PATH) < 0)
			return fl_error_set(err, errno, "cannot chown %s: %s", m->dir,
					    strerror(errno));
	}
	return 0;
}

/* Root mode, after the nobody child is gone: give what it extracted to root,
 * whose files the command expects (SPEC §4: owned by the caller).  Nothing is
 * followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), nothing on another filesystem
 * is touched, and only nobody's entries change hands; on disk a regular file
 * with several links is left to nobody, as a link made by a subverted parser
 * could name a file of nobody's elsewhere on that filesystem. */
static void give_back(const struct fl_creds *c, int fd, dev_t dev, bool fresh_fs, int depth)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	struct stat st;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev ||
		    st.st_uid != FL_PRIV_NOBODY)
			continue;
		if (S_ISDIR(st.st_mode) && depth < FL_EXTRACT_MAX_DEPTH) {
			int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				give_back(c, sub, dev, fresh_fs, depth + 1);
				close(sub);
			}
		}
		if ((fresh_fs || S_ISDIR(st.st_mode) || st.st_nlink == 1) &&
		    fchownat(fd, e->d_name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0)
			fl_verbose("cannot give %s back to root: %s", e->d_name, strerror(errno));
	}
	closedir(d);
}

static void give_back_all(struct fl_run *run)
{
	if (run->creds->mode != FL_MODE_ROOT || !fl_priv_nobody_mapped())
		return;
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		struct stat st;
		int fd;

		if (!m->extracted)
			continue;
		fd = openat(m->target_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0) {
			give_back(run->creds, fd, st.st_dev, !run->on_disk, 0);
			if (fchown(fd, run->creds->uid, run->creds->gid) < 0)
				fl_verbose("cannot give %s back to root: %s", m->dir, strerror(errno));
		}
		close(fd);
	}
}

int fl_fallback_extract(struct fl_run *run, struct fl_error *err)
{
	struct report rep = { 0 };
	int fd, st, r;
	pid_t pid;
	bool any = false;

	for (size_t i = 0; i < run->nmounts; i++)
		any |= wants_extraction(&run->mounts[i]);
	if (!any)
		return 0;
	r = lend_targets(run, err);
	if (r < 0)
		return r;
	pid = fl_fork_reporting(&fd, err);
	if (pid < 0)
		return (int)pid;
	if (pid == 0)
		extract_main(run, fd);
	r = fl_read_all(fd, &rep, sizeof(rep));
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return fl_error_set(err, EIO, "the extraction process died (status %d)", st);
	if (rep.err.errnum) {
		*err = rep.err;
		return -rep.err.errnum;
	}
	for (size_t i = 0; i < run->nmounts; i++)
		if (wants_extraction(&run->mounts[i]))
			run->mounts[i].extracted = true;
	give_back_all(run);
	if (rep.skipped)
		fl_note("%llu entries of the archives could not be extracted and are missing "
			"(-v lists them)",
			(unsigned long long)rep.skipped);
	return 0;
}
