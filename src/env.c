/* SPDX-License-Identifier: MIT */
/* The command's environment (see env.h). */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/env.h"

static const char *const owned[] = { "FUSELAGE_TMPDIR", "FUSELAGE_DYNAMIC", "FUSELAGE_STATIC" };
#define NOWNED (sizeof(owned) / sizeof(owned[0]))

static bool is_owned(const char *entry)
{
	for (size_t i = 0; i < NOWNED; i++) {
		size_t len = strlen(owned[i]);

		if (strncmp(entry, owned[i], len) == 0 && entry[len] == '=')
			return true;
	}
	return false;
}

const char *fl_env_get(char *const *env, const char *name)
{
	size_t len = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

int fl_env_build(char *const *base, const char *tmpdir, const char *dynamic,
		 const char *static_dir, char ***ret_env, struct fl_error *err)
{
	const char *values[NOWNED] = { tmpdir, dynamic, static_dir };
	size_t n = 0, k = 0;
	char **env;

	while (base && base[n])
		n++;
	env = calloc(n + NOWNED + 1, sizeof(*env));
	if (!env)
		return fl_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (is_owned(base[i]))
			continue;
		env[k] = strdup(base[i]);
		if (!env[k++])
			goto oom;
	}
	for (size_t i = 0; i < NOWNED; i++) {
		if (!values[i])
			continue;
		if (asprintf(&env[k], "%s=%s", owned[i], values[i]) < 0) {
			env[k] = NULL;
			goto oom;
		}
		k++;
	}
	*ret_env = env;
	return 0;
oom:
	fl_env_free(env);
	return fl_error_set(err, ENOMEM, "out of memory");
}

void fl_env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}
