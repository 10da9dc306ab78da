/* SPDX-License-Identifier: MIT */
/*
 * The command's environment (SPEC §2.2): the caller's environment with the
 * FUSELAGE_* variables of this run set and those it does not set removed,
 * so a nested fuselage never sees its parent's values.
 */
#ifndef FL_ENV_H
#define FL_ENV_H

#include "fusefs/error.h"

/*
 * fl_env_build() - a new environment from @base (NULL-terminated) where
 * FUSELAGE_TMPDIR, FUSELAGE_DYNAMIC and FUSELAGE_STATIC are set to the given
 * values, or removed when the value is NULL.  Everything else is copied in
 * order.  Caller frees with fl_env_free().
 */
int fl_env_build(char *const *base, const char *tmpdir, const char *dynamic,
		 const char *static_dir, char ***ret_env, struct fl_error *err);

/* fl_env_get() - value of @name in @env, or NULL. */
const char *fl_env_get(char *const *env, const char *name);

/* fl_env_free() - free an environment from fl_env_build(); NULL is allowed. */
void fl_env_free(char **env);

#endif
