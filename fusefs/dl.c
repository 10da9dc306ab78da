/* SPDX-License-Identifier: MIT */
/* Libraries loaded on first use (see dl.h). */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>

#include "fusefs/dl.h"

int fl_dl_load(const char *soname, const struct fl_dl_sym *syms, size_t n, struct fl_error *err)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *why;
	size_t i;

	if (!h) {
		why = dlerror();
		return fl_error_set(err, ENOENT, "%s", why ? why : soname);
	}
	for (i = 0; i < n; i++) {
		*syms[i].addr = dlsym(h, syms[i].name);
		if (!*syms[i].addr)
			break;
	}
	if (i == n)
		return 0;
	fl_error_set(err, ENOENT, "%s: no symbol %s", soname, syms[i].name);
	for (i = 0; i < n; i++)
		*syms[i].addr = NULL;
	dlclose(h);
	return -ENOENT;
}
