/* SPDX-License-Identifier: MIT */
/*
 * SPEC §2.1 names.  Pure string work plus one injected "does this file exist"
 * question, so that it is unit-tested without a filesystem and, in setuid
 * mode, the question is answered with the caller's permissions.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/names.h"

static const char *const suffixes[] = { ".sfs", ".sqfs", ".squashfs", ".zip", ".b64" };

char *fl_names_derive(const char *file)
{
	const char *base = strrchr(file, '/');
	size_t len;

	base = base ? base + 1 : file;
	len = strlen(base);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);

		if (len >= sl && strcmp(base + len - sl, suffixes[i]) == 0) {
			len -= sl;
			break;
		}
	}
	return strndup(base, len);
}

int fl_names_check(const char *name, struct fl_error *err)
{
	if (*name == '\0')
		return fl_error_set(err, EINVAL, "empty name");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return fl_error_set(err, EINVAL, "invalid name '%s'", name);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '/')
			return fl_error_set(err, EINVAL, "invalid name '%s': contains '/'", name);
		if (*p < 0x20 || *p == 0x7f)
			return fl_error_set(err, EINVAL,
					    "invalid name: contains a control character");
	}
	if (strlen(name) > 255)
		return fl_error_set(err, EINVAL, "invalid name: longer than 255 bytes");
	return 0;
}

/* NAME part of an option: a plain name or /run/fuselage/NAME. */
static int take_name(struct fl_mount_opt *m, const char *name, size_t len, struct fl_error *err)
{
	char *copy = strndup(name, len);
	const char *key = copy;

	if (!copy)
		return fl_error_set(err, ENOMEM, "out of memory");
	m->fixed = false;
	if (copy[0] == '/') {
		size_t pl = strlen(FL_FIXED_PREFIX);

		if (strncmp(copy, FL_FIXED_PREFIX, pl) != 0) {
			fl_error_set(err, EINVAL,
				     "%s=%s: an absolute NAME must be " FL_FIXED_PREFIX "NAME",
				     m->option, m->arg);
			free(copy);
			return -EINVAL;
		}
		key = copy + pl;
		m->fixed = true;
	}
	if (fl_names_check(key, err) < 0) {
		fl_error_prefix(err, "%s=%s", m->option, m->arg);
		free(copy);
		return -EINVAL;
	}
	m->name = strdup(key);
	free(copy);
	if (!m->name)
		return fl_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static int resolve_one(struct fl_mount_opt *m, fl_names_exists_fn exists, struct fl_error *err)
{
	const char *colon = strchr(m->arg, ':');
	char *derived;
	int r;

	if (m->kind == FL_KIND_DYNAMIC_EMPTY)
		return take_name(m, m->arg, strlen(m->arg), err);
	if (colon && !exists(m->arg)) {
		if (colon[1] == '\0')
			return fl_error_set(err, EINVAL, "%s=%s: no FILE after ':'", m->option,
					    m->arg);
		m->file = strdup(colon + 1);
		if (!m->file)
			return fl_error_set(err, ENOMEM, "out of memory");
		return take_name(m, m->arg, (size_t)(colon - m->arg), err);
	}
	m->file = strdup(m->arg);
	derived = fl_names_derive(m->arg);
	if (!m->file || !derived) {
		free(derived);
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	if (*derived == '\0') {
		free(derived);
		return fl_error_set(err, EINVAL,
				    "%s=%s: cannot derive a name from the file name; use %s=NAME:FILE",
				    m->option, m->arg, m->option);
	}
	r = take_name(m, derived, strlen(derived), err);
	free(derived);
	if (r < 0)
		fl_error_set(err, EINVAL, "%s=%s: the derived name is not usable; use %s=NAME:FILE",
			     m->option, m->arg, m->option);
	return r;
}

int fl_names_resolve(struct fl_options *opts, fl_names_exists_fn exists, struct fl_error *err)
{
	for (size_t i = 0; i < opts->nmounts; i++) {
		int r = resolve_one(&opts->mounts[i], exists, err);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < opts->nmounts; i++) {
		const struct fl_mount_opt *a = &opts->mounts[i];

		for (size_t j = 0; j < i; j++) {
			const struct fl_mount_opt *b = &opts->mounts[j];

			if (strcmp(a->name, b->name) != 0)
				continue;
			return fl_error_set(err, EINVAL,
					    "%s=%s and %s=%s both use the name '%s'; "
					    "give one of them another with NAME:FILE",
					    b->option, b->arg, a->option, a->arg, a->name);
		}
	}
	return 0;
}
