/* SPDX-License-Identifier: MIT */
/*
 * One fuselage run as a sequence of named steps (see run.h):
 *
 *   open archives (as the caller) → --loop checks → namespace → layout →
 *   cache lookup → --dynamic backend (probe) → --loop mounts → FUSE
 *   mounts → server (drops privilege first) → overlays for --dynamic →
 *   drop privilege → cache conversions → resolve --run → environment →
 *   keeper + command → status → cache expiry (in the background)
 *
 * Setup is the only process that ever holds root in setuid mode, and it
 * drops it for good before the command exists.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/cache.h"
#include "src/dynamic.h"
#include "src/env.h"
#include "src/fallback.h"
#include "src/layout.h"
#include "src/loop.h"
#include "src/ns.h"
#include "src/run.h"
#include "src/runpath.h"
#include "src/serve.h"
#include "src/supervise.h"
#include "src/util.h"

static int open_archives(struct fl_run *run, struct fl_error *err)
{
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		struct stat st;

		if (!m->opt->file)
			continue;
		/* As the caller: in setuid mode the filesystem ids are theirs.
		 * O_NONBLOCK: opening a fifo or a terminal line the caller names
		 * must not wait for a writer or a carrier (it would hang the run
		 * before anything could report it). */
		m->archive_fd = open(m->opt->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (m->archive_fd < 0)
			return fl_error_set(err, errno, "%s: %s", m->opt->file, strerror(errno));
		if (fstat(m->archive_fd, &st) < 0)
			return fl_error_set(err, errno, "%s: %s", m->opt->file, strerror(errno));
		if (S_ISDIR(st.st_mode))
			return fl_error_set(err, EISDIR, "%s: is a directory, not an archive",
					    m->opt->file);
		if (!S_ISREG(st.st_mode))
			return fl_error_set(err, EINVAL, "%s: not a regular file", m->opt->file);
		if (fcntl(m->archive_fd, F_SETFL, 0) < 0)
			return fl_error_set(err, errno, "%s: %s", m->opt->file, strerror(errno));
	}
	return 0;
}

/* FUSE mounts for the --static archives.  Where FUSE cannot be used (no
 * /dev/fuse, not accessible, the kernel refuses the mount) the archives are
 * extracted into the private tmpfs instead (SPEC §8), with one note. */
static int mount_archives(struct fl_run *run, struct fl_error *err)
{
	bool fallback = false;

	for (size_t i = 0; i < run->nmounts && !fallback; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		bool dyn = m->opt->kind == FL_KIND_DYNAMIC;
		bool cow = dyn && run->dynamic_backend == FL_DYNAMIC_FUSE;
		int r;

		if (m->opt->kind == FL_KIND_DYNAMIC_EMPTY || m->loop)
			continue;
		r = fl_ns_open_fuse(run->creds, &m->fuse_fd, err);
		if (r == 0) {
			/* A --dynamic archive's FUSE mount is the overlay's read-only
			 * lower layer; the overlay goes on top of it, at the same
			 * place, once the server answers.  Without overlayfs the FUSE
			 * mount is itself writable: the server's copy-on-write tree
			 * serves it. */
			r = fl_ns_mount_fuse(run->creds, m->fuse_fd, m->target_fd, !cow,
					     dyn && !cow ? &m->lower_fd : NULL, err);
			if (r < 0)
				fl_closep(&m->fuse_fd);
		}
		if (r == 0)
			continue;
		fallback = true;
		fl_note("%s; the archives are extracted into the run's private memory instead "
			"(--static read-only, --dynamic writable, but not lazy)",
			err->msg);
		fl_error_clear(err);
	}
	return 0;
}

/* The extracted --static archives become read-only like their FUSE mounts. */
static int seal_extracted(struct fl_run *run, struct fl_error *err)
{
	for (size_t i = 0; i < run->nmounts; i++) {
		struct fl_run_mount *m = &run->mounts[i];
		int r;

		if (!m->extracted || m->opt->kind != FL_KIND_STATIC)
			continue;
		r = fl_ns_bind_readonly(m->target_fd, err);
		if (r < 0)
			return fl_error_prefix(err, "%s", m->dir);
	}
	return 0;
}

static bool any_archive(const struct fl_run *run)
{
	for (size_t i = 0; i < run->nmounts; i++)
		if (run->mounts[i].fuse_fd >= 0)
			return true;
	return false;
}

/* The server now holds the only copies of the FUSE and archive descriptors. */
static void close_served(struct fl_run *run)
{
	for (size_t i = 0; i < run->nmounts; i++) {
		fl_closep(&run->mounts[i].fuse_fd);
		fl_closep(&run->mounts[i].archive_fd);
		fl_closep(&run->mounts[i].target_fd);
		fl_closep(&run->mounts[i].lower_fd);
		fl_closep(&run->mounts[i].upper_fd);
		fl_closep(&run->mounts[i].work_fd);
	}
	fl_closep(&run->run_fd);
}

static int resolve_command(struct fl_run *run, struct fl_command *cmd, char **ret_run_path,
			   struct fl_error *err)
{
	const struct fl_options *o = run->opts;
	struct fl_runpath_root *roots;
	char **argv;
	int r;

	*ret_run_path = NULL;
	if (!o->run_path) {
		cmd->path = o->command[0];
		cmd->argv = o->command;
		return 0;
	}
	roots = calloc(run->nmounts, sizeof(*roots));
	argv = calloc((size_t)o->ncommand + 2, sizeof(*argv));
	if (!roots || !argv) {
		free(roots);
		free(argv);
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < run->nmounts; i++)
		roots[i] = (struct fl_runpath_root){ run->mounts[i].opt->name, run->mounts[i].dir };
	r = fl_runpath_resolve(o->run_path, roots, run->nmounts, ret_run_path, err);
	free(roots);
	if (r < 0) {
		free(argv);
		return r;
	}
	argv[0] = *ret_run_path;
	for (int i = 0; i < o->ncommand; i++)
		argv[i + 1] = o->command[i];
	cmd->path = *ret_run_path;
	cmd->argv = argv;
	fl_verbose("--run %s resolved to %s", o->run_path, *ret_run_path);
	return 0;
}

static const char *policy_name(enum fl_extract_policy p)
{
	static const char *const names[] = { "deny", "allow", "prefer", "force" };

	return names[p];
}

/* --extract=force, or prefer when unprivileged: no namespace is tried. */
static bool extract_first(const struct fl_run *run)
{
	return run->opts->extract == FL_EXTRACT_FORCE ||
	       (run->opts->extract == FL_EXTRACT_PREFER && run->creds->mode == FL_MODE_UNPRIV);
}

/* --extract=allow, or prefer with privilege: a namespace if one can be made. */
static bool may_fall_back(const struct fl_run *run)
{
	return run->opts->extract == FL_EXTRACT_ALLOW ||
	       (run->opts->extract == FL_EXTRACT_PREFER && run->creds->mode != FL_MODE_UNPRIV);
}

/* --extract=deny and no namespace: say what to try (SPEC §8). */
static int namespace_hint(const struct fl_run *run, struct fl_error *err)
{
	char msg[FL_ERROR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", err->msg);
	if (run->creds->mode == FL_MODE_UNPRIV)
		return fl_error_set(err, err->errnum,
				    "%s; try a setuid-root install (make install-setuid), or "
				    "--extract=allow to extract the archives to disk instead",
				    msg);
	return fl_error_set(err, err->errnum,
			    "%s; try --extract=allow to extract the archives to disk instead", msg);
}

/* Extract-and-run (SPEC §8): no namespace; the archives are extracted into
 * the run's directory on disk, which the cleaner removes at the end. */
static int setup_on_disk(struct fl_run *run, int lifeline[2], struct fl_error *err)
{
	int r;

	run->on_disk = true;
	fl_verbose("mode: %s; extract-and-run, no namespace (--extract=%s)",
		   fl_priv_mode_name(run->creds->mode), policy_name(run->opts->extract));
	r = fl_fallback_disk_layout(run, lifeline[0], err);
	if (r < 0)
		return r;
	r = fl_fallback_extract(run, err);
	if (r < 0)
		return r;
	if (run->opts->cache_static)
		fl_verbose("--cache-static is not used when extracting to disk");
	close_served(run);
	fl_closep(&lifeline[0]);
	return 0;
}

/* Everything up to a served, privilege-free setup process. */
static int setup(struct fl_run *run, int lifeline[2], struct fl_error *err)
{
	struct fl_error probe = { 0 };
	pid_t server;
	int r;

	r = open_archives(run, err);
	if (r < 0)
		return r;
	r = fl_loop_check(run, err);
	if (r < 0)
		return r;
	if (extract_first(run) && run->opts->loop)
		return fl_error_set(err, EINVAL,
				    "--loop: --extract=%s extracts the archives to disk, without a "
				    "mount namespace for the kernel's squashfs mounts",
				    policy_name(run->opts->extract));
	if (extract_first(run) && run->opts->map_root)
		return fl_error_set(err, EINVAL,
				    "--map-root: --extract=%s runs the command without a user "
				    "namespace, so there is no root to map you to",
				    policy_name(run->opts->extract));
	if (extract_first(run))
		return setup_on_disk(run, lifeline, err);
	/* Probe in a child: a half-made user namespace cannot be left again. */
	if (may_fall_back(run) && fl_ns_probe(run->creds, &probe) < 0) {
		if (run->opts->loop)
			return fl_error_set(err, probe.errnum,
					    "--loop: %s; the kernel's squashfs mounts need a mount "
					    "namespace",
					    probe.msg);
		if (run->opts->map_root)
			return fl_error_set(err, probe.errnum,
					    "--map-root: %s; extract-and-run has no user namespace to "
					    "map you to root in",
					    probe.msg);
		fprintf(stderr,
			"fuselage: warning: %s; extracting the archives to disk instead "
			"(--extract=%s)\n",
			probe.msg, policy_name(run->opts->extract));
		return setup_on_disk(run, lifeline, err);
	}
	r = fl_ns_enter(run->creds, err);
	if (r < 0)
		return namespace_hint(run, err);
	fl_verbose("mode: %s; private mount namespace ready", fl_priv_mode_name(run->creds->mode));
	r = fl_layout_build(run, err);
	if (r < 0)
		return r;
	r = fl_cache_lookup(run, err);
	if (r < 0)
		return r;
	/* Before the FUSE mounts: the FUSE fallback mounts its archives
	 * read-write.  An archive extracted below (no FUSE) is a writable
	 * directory of the run's tmpfs already and uses neither backend. */
	r = fl_dynamic_choose(run, err);
	if (r < 0)
		return r;
	r = fl_loop_mount(run, err);
	if (r < 0)
		return r;
	r = mount_archives(run, err);
	if (r < 0)
		return r;
	r = fl_fallback_extract(run, err);
	if (r < 0)
		return r;
	r = seal_extracted(run, err);
	if (r < 0)
		return r;
	if (any_archive(run)) {
		r = fl_serve_start(run, lifeline[0], &server, err);
		if (r < 0)
			return r;
		fl_verbose("server %d ready", (int)server);
	}
	/* Only now: overlayfs looks at its lower layer while mounting, and
	 * the server must be there to answer. */
	r = fl_dynamic_mount(run, err);
	if (r < 0)
		return r;
	close_served(run);
	fl_closep(&lifeline[0]);
	r = fl_priv_drop_for_command(run->creds, err);
	if (r < 0)
		return r;
	fl_cache_convert(run);
	return 0;
}

/* FUSELAGE_CACHE_MAX_AGE_DAYS is read from the caller's own environment: in
 * setuid mode it only tunes the reaper, which runs as the caller.  A value
 * that is not a number gets a one-line note, as a missing mksquashfs does:
 * the entries would otherwise expire on a schedule the caller did not ask
 * for without a word. */
static void cache_settings(struct fl_run *run)
{
	const char *v = fl_env_get(run->env, "FUSELAGE_CACHE_MAX_AGE_DAYS");
	bool invalid;

	run->cache_max_age_days = fl_cache_max_age_days(v, &invalid);
	if (invalid && run->opts->cache_static)
		fl_note("FUSELAGE_CACHE_MAX_AGE_DAYS=%s is not a number of days; using %d", v,
			FL_CACHE_DEFAULT_MAX_AGE_DAYS);
}

/* The command's status is known: expire old cache entries, detached. */
static void at_status(void *ctx, bool leftovers)
{
	struct fl_run *run = ctx;

	if (!run->on_disk)
		fl_cache_expire_start(run, run->cache_max_age_days);
	if (!leftovers)
		fl_fallback_wait_cleanup(run);
}

static void run_done(struct fl_run *run)
{
	for (size_t i = 0; i < run->nmounts; i++)
		free(run->mounts[i].dir);
	close_served(run);
	fl_closep(&run->cleaner_fd);
	free(run->mounts);
	free(run->home);
	free(run->procdir);
	free(run->tmpdir);
	free(run->static_dir);
	free(run->dynamic_dir);
}

int fl_run(const struct fl_options *opts, struct fl_creds *creds, char **env)
{
	struct fl_run run = {
		.opts = opts, .creds = creds, .env = env, .run_fd = -1, .cleaner_fd = -1
	};
	struct fl_error err = { 0 };
	struct fl_command cmd = { .umask = creds->umask,
				  .at_status = at_status,
				  .at_status_ctx = &run };
	int lifeline[2] = { -1, -1 };
	char *run_path = NULL;
	int status = 125;

	run.mounts = calloc(opts->nmounts + 1, sizeof(*run.mounts));
	if (!run.mounts) {
		fprintf(stderr, "fuselage: out of memory\n");
		return 125;
	}
	run.nmounts = opts->nmounts;
	for (size_t i = 0; i < run.nmounts; i++)
		run.mounts[i] = (struct fl_run_mount){ .opt = &opts->mounts[i], .target_fd = -1,
						       .archive_fd = -1, .fuse_fd = -1,
						       .lower_fd = -1, .upper_fd = -1,
						       .work_fd = -1 };
	if (fl_layout_home_path(creds, env, &run.home, &err) < 0 ||
	    pipe2(lifeline, O_CLOEXEC) < 0 || setup(&run, lifeline, &err) < 0 ||
	    resolve_command(&run, &cmd, &run_path, &err) < 0 ||
	    fl_env_build(env, run.tmpdir, run.dynamic_dir, run.static_dir, &cmd.env, &err) < 0) {
		if (err.errnum == 0)
			fl_error_set(&err, errno, "%s", strerror(errno));
		fprintf(stderr, "fuselage: %s\n", err.msg);
		/* Extract-and-run: the run's directory goes before we return, as
		 * after a normal exit (no command ever ran to leave anything). */
		fl_closep(&lifeline[1]);
		fl_fallback_wait_cleanup(&run);
		goto out;
	}
	cache_settings(&run);
	fflush(stderr);
	status = fl_supervise(&cmd, lifeline[1]);
	lifeline[1] = -1;
out:
	if (cmd.argv != opts->command)
		free(cmd.argv);
	free(run_path);
	fl_env_free(cmd.env);
	fl_closep(&lifeline[0]);
	fl_closep(&lifeline[1]);
	run_done(&run);
	return status;
}
