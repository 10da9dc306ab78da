/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: option parsing (src/options.c) and name resolution
 * (src/names.c).  The input is the argument words, each ended by a NUL
 * byte; a final word without one is taken too.  Whether a path "exists"
 * (which decides NAME:FILE splitting) is answered from the path's bytes, so
 * that both answers are reached and replays are deterministic.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "src/names.h"
#include "src/options.h"

#define MAX_WORDS 64

static bool exists(const char *path)
{
	unsigned h = 0;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = h * 31 + *p;
	return h % 3 == 0;
}

static void check_parsed(char **argv, int argc, const struct fl_options *o)
{
	FL_FUZZ_CHECK(o->ncommand >= 0 && o->command >= argv + 1 &&
		      o->command + o->ncommand == argv + argc);
	FL_FUZZ_CHECK(o->command[o->ncommand] == NULL);
	FL_FUZZ_CHECK(o->help || o->version || o->ncommand > 0 || o->run_path);
	FL_FUZZ_CHECK(!o->run_path || o->run_path[0]);
	FL_FUZZ_CHECK(o->extract <= FL_EXTRACT_FORCE);
	for (size_t i = 0; i < o->nmounts; i++) {
		const struct fl_mount_opt *m = &o->mounts[i];

		FL_FUZZ_CHECK(m->arg && m->arg[0] && m->option);
		FL_FUZZ_CHECK(m->kind <= FL_KIND_DYNAMIC_EMPTY);
	}
}

static void check_resolved(const struct fl_options *o)
{
	for (size_t i = 0; i < o->nmounts; i++) {
		const struct fl_mount_opt *m = &o->mounts[i];

		FL_FUZZ_CHECK(m->name && fl_names_check(m->name, NULL) == 0);
		FL_FUZZ_CHECK((m->file == NULL) == (m->kind == FL_KIND_DYNAMIC_EMPTY));
		FL_FUZZ_CHECK(!m->file || m->file[0]);
		for (size_t j = 0; j < i; j++)
			FL_FUZZ_CHECK(strcmp(m->name, o->mounts[j].name) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[MAX_WORDS + 2];
	struct fl_options o;
	struct fl_error err = { 0 };
	int argc = 0, r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "fuselage";
	for (size_t off = 0; off < size && argc < MAX_WORDS + 1;) {
		argv[argc++] = copy + off;
		off += strlen(copy + off) + 1;
	}
	argv[argc] = NULL;

	r = fl_options_parse(argc, argv, &o, &err);
	FL_FUZZ_CHECK(r == 0 || (r == -EINVAL && err.errnum == EINVAL && err.msg[0]));
	if (r == 0) {
		check_parsed(argv, argc, &o);
		fl_error_clear(&err);
		r = fl_names_resolve(&o, exists, &err);
		FL_FUZZ_CHECK(r == 0 || (r < 0 && err.errnum == -r && err.msg[0]));
		if (r == 0)
			check_resolved(&o);
		fl_options_done(&o);
	}
	free(copy);
	return 0;
}
