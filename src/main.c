/* SPDX-License-Identifier: MIT */
/*
 * fuselage: run a command with zip and squashfs archives served as
 * directories in a private mount namespace.  main() only sequences named
 * steps; the work is in run.c and the modules it calls.
 */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/names.h"
#include "src/options.h"
#include "src/priv.h"
#include "src/run.h"
#include "src/util.h"

/* In setuid mode the filesystem ids are already the caller's (priv.c), so
 * this answers as the caller. */
static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/*
 * In setuid mode the loader has already removed the variables it considers
 * unsafe (LD_LIBRARY_PATH, TMPDIR, ...) from environ, but SPEC §2.2 wants the
 * command to see the caller's whole environment.  The kernel still has the
 * original block; /proc/self/environ is ours (non-dumpable, so root-owned,
 * hence read with root fsids).  The result is only ever handed to the
 * command's execve, after the privilege drop; fuselage itself never uses it.
 */
/* The block the caller's variables point into: kept for the process's life. */
static char *environment_block;

static char **original_environment(const struct fl_creds *c)
{
	size_t len = 0, cap = 1 << 16, n = 0;
	char *buf = malloc(cap), **env;
	ssize_t got;
	int fd;

	fl_priv_fs_root(c);
	fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	fl_priv_fs_caller(c);
	if (fd < 0 || !buf)
		goto fail;
	while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)got;
		if (len + 1 == cap) {
			char *bigger = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!bigger)
				goto fail;
			buf = bigger;
			cap *= 2;
		}
	}
	close(fd);
	fd = -1;
	if (got < 0)
		goto fail;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		goto fail;
	n = 0;
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		if (strchr(buf + i, '='))
			env[n++] = buf + i;
	environment_block = buf; /* lives as long as the process */
	return env;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* The caller's environment, kept for the command; in setuid mode the process
 * itself then runs with an empty one. */
static char **save_environment(const struct fl_creds *c)
{
	size_t n = 0;
	char **copy;

	if (c->mode == FL_MODE_SETUID) {
		copy = original_environment(c);
		if (!copy)
			return NULL;
		environ = NULL;
		clearenv();
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
		return copy;
	}
	while (environ && environ[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = environ[i];
	return copy;
}

int main(int argc, char **argv)
{
	struct fl_options opts = { 0 };
	struct fl_error err = { 0 };
	struct fl_creds creds;
	char **env;
	int status = 125;

	if (fl_options_parse(argc, argv, &opts, &err) < 0) {
		fprintf(stderr, "fuselage: %s\nTry 'fuselage --help' for more information.\n",
			err.msg);
		return 125;
	}
	if (opts.help || opts.version) {
		fputs(opts.help ? fl_options_usage() : "fuselage " PACKAGE_VERSION "\n", stdout);
		fl_options_done(&opts);
		return fflush(stdout) == 0 ? 0 : 125;
	}
	fl_verbose_init(opts.verbose);
	if (fl_priv_init(&creds, opts.map_root, &err) < 0) {
		fprintf(stderr, "fuselage: %s\n", err.msg);
		goto out;
	}
	if (opts.map_root && creds.mode != FL_MODE_UNPRIV) {
		fprintf(stderr, "fuselage: --map-root is only for unprivileged mode (this is %s)\n",
			fl_priv_mode_name(creds.mode));
		goto out;
	}
	env = save_environment(&creds);
	if (!env || fl_names_resolve(&opts, file_exists, &err) < 0) {
		fprintf(stderr, "fuselage: %s\n", env ? err.msg : "out of memory");
		free(env);
		goto out;
	}
	status = fl_run(&opts, &creds, env);
	free(env);
	free(environment_block);
out:
	fl_priv_done(&creds);
	fl_options_done(&opts);
	return status;
}
