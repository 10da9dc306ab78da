/* SPDX-License-Identifier: MIT */
/*
 * --run PATH (SPEC §2.3).  Candidates are collected first, then checked, so
 * that an ambiguous PATH is reported with every archive that holds it rather
 * than silently taking the first.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/runpath.h"

#define LIST_MAX 1024

static bool has_dotdot(const char *path)
{
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += len;
		p += strspn(p, "/");
	}
	return false;
}

static bool inside(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* The file must be a regular file the real user may execute. */
static int check_exec(const char *path, const char *given, struct fl_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fl_error_set(err, errno, "--run %s: %s: %s", given, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fl_error_set(err, EACCES, "--run %s: %s is not a regular file", given,
				    path);
	/* access() checks the real uid and gid: the caller's, also when setuid. */
	if (access(path, X_OK) < 0)
		return fl_error_set(err, errno, "--run %s: %s is not executable: %s", given,
				    path, strerror(errno));
	return 0;
}

static int resolve_absolute(const char *path, const struct fl_runpath_root *roots,
			    size_t nroots, char **ret_path, struct fl_error *err)
{
	bool ok = false;

	for (size_t i = 0; i < nroots && !ok; i++)
		ok = inside(path, roots[i].dir);
	if (!ok || has_dotdot(path))
		return fl_error_set(err, EINVAL,
				    "--run %s: an absolute PATH must lie inside a served archive",
				    path);
	if (check_exec(path, path, err) < 0)
		return -err->errnum;
	*ret_path = strdup(path);
	return *ret_path ? 0 : fl_error_set(err, ENOMEM, "out of memory");
}

static void append(char *buf, size_t size, const char *sep, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, size - used, "%s%s", used ? sep : "", s);
}

int fl_runpath_resolve(const char *path, const struct fl_runpath_root *roots, size_t nroots,
		       char **ret_path, struct fl_error *err)
{
	char looked[LIST_MAX] = "", found_in[LIST_MAX] = "";
	char *found = NULL;
	size_t nfound = 0, first_len = strcspn(path, "/");

	if (path[0] == '/')
		return resolve_absolute(path, roots, nroots, ret_path, err);
	if (has_dotdot(path))
		return fl_error_set(err, EINVAL, "--run %s: PATH must not contain '..'", path);
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nroots; i++) {
			const struct fl_runpath_root *r = &roots[i];
			char *cand = NULL;
			struct stat st;

			if (pass == 0) {
				/* NAME/rest, where the first component names the archive. */
				if (path[first_len] != '/' || strlen(r->name) != first_len ||
				    strncmp(path, r->name, first_len) != 0)
					continue;
				if (asprintf(&cand, "%s/%s", r->dir, path + first_len + 1) < 0)
					cand = NULL;
			} else if (asprintf(&cand, "%s/%s", r->dir, path) < 0) {
				cand = NULL;
			}
			if (!cand) {
				free(found);
				return fl_error_set(err, ENOMEM, "out of memory");
			}
			append(looked, sizeof(looked), ", ", cand);
			if (stat(cand, &st) < 0) {
				free(cand);
				continue;
			}
			append(found_in, sizeof(found_in), ", ", r->name);
			nfound++;
			if (found)
				free(cand);
			else
				found = cand;
		}
	}
	if (nfound == 0)
		return fl_error_set(err, ENOENT, "--run %s: not found; looked for %s", path,
				    looked);
	if (nfound > 1) {
		free(found);
		return fl_error_set(err, EINVAL,
				    "--run %s: ambiguous, found in archives %s; "
				    "start PATH with the archive's NAME",
				    path, found_in);
	}
	if (check_exec(found, path, err) < 0) {
		free(found);
		return -err->errnum;
	}
	*ret_path = found;
	return 0;
}
