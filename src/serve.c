/* SPDX-License-Identifier: MIT */
/*
 * The server process (see serve.h).  It holds the only copies of the
 * /dev/fuse descriptors after start-up, so that its death makes every access
 * fail at once instead of hanging.  It never holds privilege while it looks
 * at archive bytes: libsquashfuse has known memory-safety bugs.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/archive.h"
#include "fusefs/cow.h"
#include "fusefs/ll.h"
#include "src/serve.h"
#include "src/util.h"

static void warn_verbose(void *ctx, const char *msg)
{
	const char *name = ctx;

	fl_verbose("%s: %s", name, msg);
}

/*
 * Without overlayfs, a --dynamic archive is served writable by wrapping its
 * tree in the copy-on-write tree, whose copies go to the upper directory in
 * the run's tmpfs.  It is opened here, as the server, so that every file in
 * it is the server's.  Takes @tree: on failure it is freed.
 */
static int wrap_cow(struct fl_run_mount *m, struct fl_tree **tree, struct fl_error *err)
{
	struct fl_tree *cow = NULL;
	int ufd = openat(m->upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (ufd < 0)
		r = fl_error_set(err, errno, "the upper directory: %s", strerror(errno));
	else
		r = fl_cow_new(*tree, ufd, &cow, err);
	if (r < 0) {
		if (ufd >= 0)
			close(ufd);
		fl_tree_free(*tree);
		*tree = NULL;
		return r;
	}
	fl_closep(&m->upper_fd);
	*tree = cow;
	return 0;
}

static int serve_all(struct fl_run *run, struct fl_server *srv, struct fl_error *err)
{
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		struct fl_tree_opts to = { .warn = warn_verbose, .warn_ctx = m->opt->name };
		struct fl_tree *tree = NULL;
		enum fl_format fmt;
		bool cow;
		int r;

		if (m->fuse_fd < 0)
			continue;
		r = fl_archive_open(m->archive_fd, &to, &tree, &fmt, err);
		if (r < 0)
			return fl_error_prefix(err, "%s", m->opt->file);
		m->archive_fd = -1;  /* owned by the tree now */
		cow = m->opt->kind == FL_KIND_DYNAMIC && run->dynamic_backend == FL_DYNAMIC_FUSE;
		if (cow && wrap_cow(m, &tree, err) < 0)
			return fl_error_prefix(err, "%s", m->opt->file);
		r = fl_server_add(srv, tree, m->fuse_fd, err);
		if (r < 0) {
			fl_tree_free(tree);
			return r;
		}
		m->fuse_fd = -1;
		fl_verbose("serving %s (%s%s) at %s", m->opt->file, fl_format_name(fmt),
			   cow ? ", writable: copy-on-write in the server" : "", m->dir);
	}
	return fl_server_start(srv, err);
}

static void server_main(struct fl_run *run, int report_fd, int lifeline_rd)
{
	struct fl_server_opts so = {
		.uid = run->creds->inner_uid,
		.gid = run->creds->inner_gid,
	};
	struct fl_server *srv = NULL;
	struct fl_error err = { 0 };
	int keep[FL_KEEP_MAX], nkeep = 0;
	sigset_t all;

	/* First thing: no privilege, ever again, in this process. */
	if (fl_priv_drop_for_server(run->creds, &err) < 0)
		goto fail;
	/* Terminal signals are for the command, never for us: leave the
	 * caller's session and process group. */
	setsid();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	keep[nkeep++] = report_fd;
	keep[nkeep++] = lifeline_rd;
	for (size_t i = 0; i < run->nmounts && nkeep + 3 <= FL_KEEP_MAX; i++) {
		if (run->mounts[i].fuse_fd >= 0) {
			keep[nkeep++] = run->mounts[i].fuse_fd;
			keep[nkeep++] = run->mounts[i].archive_fd;
			keep[nkeep++] = run->mounts[i].upper_fd; /* -1 unless --dynamic */
		}
	}
	fl_close_all_except(keep, (size_t)nkeep);
	/* Zip DOS times are local times (mktime per entry).  With TZ unset,
	 * glibc re-reads /etc/localtime on every call: 51 000 reads for a
	 * 50 000-entry zip, 60 % of its start-up (doc/benchmarks.md). */
	if (!secure_getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 1);
	tzset();
	if (fl_server_new(&so, &srv, &err) < 0 || serve_all(run, srv, &err) < 0)
		goto fail;
	/* Ready: report, then let go of the caller's terminal and pipes so
	 * that "out=$(fuselage ...)" returns when the command does. */
	fl_write_all(report_fd, &err, sizeof(err));
	close(report_fd);
	fl_detach_stdio();
	fl_server_wait(srv, lifeline_rd);
	fl_server_free(srv);
	_exit(0);
fail:
	if (err.errnum == 0)
		fl_error_set(&err, EIO, "the server failed");
	fl_write_all(report_fd, &err, sizeof(err));
	_exit(125);
}

int fl_serve_start(struct fl_run *run, int lifeline_rd, pid_t *ret_pid, struct fl_error *err)
{
	int fd, r;
	pid_t pid = fl_fork_reporting(&fd, err);

	if (pid < 0)
		return (int)pid;
	if (pid == 0)
		server_main(run, fd, lifeline_rd);
	r = fl_read_all(fd, err, sizeof(*err));
	close(fd);
	if (r < 0)
		return fl_error_set(err, EIO, "the archive server died while starting");
	if (err->errnum != 0)
		return -err->errnum;
	*ret_pid = pid;
	return 0;
}
