/* SPDX-License-Identifier: MIT */
/*
 * Libraries loaded on first use instead of at exec.  libzip (with the
 * libcrypto it needs) costs a run about a millisecond of dynamic linking
 * before main() (doc/benchmarks.md, row 5), yet only zip entries with rare
 * methods and --cache-static keys use them.  Loaded by soname only: in a
 * setuid process the loader then looks in the system directories alone,
 * exactly as for the libraries linked in.
 */
#ifndef FL_DL_H
#define FL_DL_H

#include <stddef.h>

#include "fusefs/error.h"

struct fl_dl_sym {
	const char *name;
	void **addr; /* where the address goes; every one NULL on failure */
};

/* The entry for function @fn into the struct field of the same name. */
#define FL_DL_SYM(table, fn) { #fn, (void **)&(table).fn }

/*
 * fl_dl_load() - dlopen(@soname) and resolve @n symbols into their fields.
 * All or nothing: on failure nothing stays loaded and every field is NULL.
 * The library is never unloaded.  Not thread-safe: call it under
 * pthread_once() or before threads start.  Returns 0, or -ENOENT with the
 * loader's reason in @err.
 */
int fl_dl_load(const char *soname, const struct fl_dl_sym *syms, size_t n, struct fl_error *err);

#endif
