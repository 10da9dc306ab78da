/* SPDX-License-Identifier: MIT */
/*
 * fuselage's option parser (SPEC §2).  Options come first; the first word
 * that is not an option, or the word after a lone "--", starts the command.
 * It never touches the filesystem and never prints: errors go to fl_error.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "src/options.h"

enum {
	OPT_RUN = 0x100,
	OPT_MAP_ROOT,
	OPT_DYNAMIC_EMPTY,
	OPT_CACHE_STATIC,
	OPT_EXTRACT,
	OPT_LOOP,
};

static const struct option long_options[] = {
	{ "static", required_argument, NULL, 's' },
	{ "dynamic", required_argument, NULL, 'd' },
	{ "dynamic-empty", required_argument, NULL, OPT_DYNAMIC_EMPTY },
	{ "cache-static", no_argument, NULL, OPT_CACHE_STATIC },
	{ "run", required_argument, NULL, OPT_RUN },
	{ "extract", required_argument, NULL, OPT_EXTRACT },
	{ "map-root", no_argument, NULL, OPT_MAP_ROOT },
	{ "loop", no_argument, NULL, OPT_LOOP },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

const char *fl_options_usage(void)
{
	return "Usage:\n"
	       " fuselage [options] [--] COMMAND [ARG...]\n"
	       " fuselage [options] --run PATH [--] [ARG...]\n"
	       "\n"
	       "Run COMMAND in a private mount namespace in which zip and squashfs archives\n"
	       "appear as directories, served lazily without extracting them.\n"
	       "\n"
	       "Options:\n"
	       " -s, --static=[NAME:]FILE   serve FILE read-only at $FUSELAGE_STATIC/NAME, or at\n"
	       "                              /run/fuselage/NAME for NAME=/run/fuselage/NAME\n"
	       " -d, --dynamic=[NAME:]FILE  serve FILE writable at $FUSELAGE_DYNAMIC/NAME (or a\n"
	       "                              fixed path); changes live in memory and vanish at exit\n"
	       "     --dynamic-empty=NAME   an empty writable directory at $FUSELAGE_DYNAMIC/NAME\n"
	       "                              or /run/fuselage/NAME\n"
	       "     --cache-static         keep a squashfs copy of zip --static archives in\n"
	       "                              $FUSELAGE_HOME/cache for faster later runs\n"
	       "     --run PATH             run PATH found inside the archives\n"
	       "     --extract=POLICY       where no namespace can be made: deny (default: fail\n"
	       "                              and say why), allow (extract the archives to disk\n"
	       "                              instead, with a warning), prefer (unprivileged:\n"
	       "                              extract without trying), force (always extract)\n"
	       "     --map-root             unprivileged mode: appear as uid 0 inside\n"
	       "     --loop                 mount the squashfs --static images with the kernel's\n"
	       "                              squashfs driver on a loop device (root only; setuid-\n"
	       "                              root: images owned by root that you cannot write)\n"
	       " -v, --verbose              say which mode and mounts were chosen, with timings\n"
	       " -h, --help                 display this help and exit\n"
	       " -V, --version              display version and exit\n"
	       "\n"
	       "FILE is a zip archive, a squashfs image, an ELF file with a squashfs image\n"
	       "appended, or base64 text of one of these, detected by content.  NAME defaults\n"
	       "to the file name without .sfs, .sqfs, .squashfs, .zip or .b64.  The command gets\n"
	       "a private scratch directory at $FUSELAGE_TMPDIR.  Everything vanishes when the\n"
	       "command and the processes it left behind have exited.\n"
	       "\n"
	       "Exit status: the command's; 125 if fuselage itself fails, 126 if the command\n"
	       "cannot be executed, 127 if it is not found.\n"
	       "\n"
	       "For more details see fuselage(1).\n";
}

static int add_mount(struct fl_options *o, enum fl_kind kind, const char *option,
		     const char *arg, struct fl_error *err)
{
	struct fl_mount_opt *m;

	if (*arg == '\0')
		return fl_error_set(err, EINVAL, "%s: empty argument", option);
	m = realloc(o->mounts, (o->nmounts + 1) * sizeof(*m));
	if (!m)
		return fl_error_set(err, ENOMEM, "out of memory");
	o->mounts = m;
	m = &o->mounts[o->nmounts++];
	*m = (struct fl_mount_opt){ .kind = kind, .option = option, .arg = arg };
	return 0;
}

static int parse_extract(struct fl_options *o, const char *arg, struct fl_error *err)
{
	static const char *const names[] = { "deny", "allow", "prefer", "force" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(arg, names[i]) == 0) {
			o->extract = (enum fl_extract_policy)i;
			return 0;
		}
	}
	return fl_error_set(err, EINVAL,
			    "--extract: invalid policy '%s' (use deny, allow, prefer or force)", arg);
}

/* One option from getopt_long(); returns 0 or -EINVAL. */
static int bad_option(const char *word, int c, struct fl_error *err);

static int take_option(struct fl_options *o, int c, const char *bad, struct fl_error *err)
{
	switch (c) {
	case 's':
		return add_mount(o, FL_KIND_STATIC, "--static", optarg, err);
	case 'd':
		return add_mount(o, FL_KIND_DYNAMIC, "--dynamic", optarg, err);
	case OPT_DYNAMIC_EMPTY:
		return add_mount(o, FL_KIND_DYNAMIC_EMPTY, "--dynamic-empty", optarg, err);
	case OPT_RUN:
		if (o->run_path)
			return fl_error_set(err, EINVAL, "--run given twice");
		if (*optarg == '\0')
			return fl_error_set(err, EINVAL, "--run: empty path");
		o->run_path = optarg;
		return 0;
	case OPT_MAP_ROOT:
		o->map_root = true;
		return 0;
	case OPT_LOOP:
		o->loop = true;
		return 0;
	case OPT_CACHE_STATIC:
		o->cache_static = true;
		return 0;
	case OPT_EXTRACT:
		return parse_extract(o, optarg, err);
	case 'v':
		o->verbose = true;
		return 0;
	case 'h':
		o->help = true;
		return 0;
	case 'V':
		o->version = true;
		return 0;
	default:
		return bad_option(bad, '?', err);
	}
}

/* getopt_long() accepts unambiguous abbreviations ("--dyn" for
 * "--dynamic-empty"); we do not, so that a future option can never silently
 * change the meaning of an abbreviation.  Returns true when @word names
 * option @idx in full. */
static bool exact_long(const char *word, int idx)
{
	size_t len = strcspn(word + 2, "=");

	return strncmp(word, "--", 2) == 0 && strlen(long_options[idx].name) == len &&
	       strncmp(word + 2, long_options[idx].name, len) == 0;
}

/* Word the error for a word getopt_long() refused. */
static int bad_option(const char *word, int c, struct fl_error *err)
{
	size_t len = strcspn(word, "=");

	if (strncmp(word, "--", 2) != 0 && c == ':')
		return fl_error_set(err, EINVAL, "option requires an argument -- '%c'", optopt);
	if (strncmp(word, "--", 2) != 0)
		return fl_error_set(err, EINVAL, "invalid option -- '%c'", optopt ? optopt : '?');
	if (c == ':')
		return fl_error_set(err, EINVAL, "option '%.*s' requires an argument", (int)len,
				    word);
	for (int i = 0; long_options[i].name; i++) {
		if (long_options[i].has_arg == no_argument && word[len] == '=' &&
		    exact_long(word, i))
			return fl_error_set(err, EINVAL, "option '%.*s' doesn't allow an argument",
					    (int)len, word);
	}
	return fl_error_set(err, EINVAL, "unrecognized option '%.*s'", (int)len, word);
}

static int check_command(struct fl_options *o, struct fl_error *err)
{
	if (o->help || o->version)
		return 0;
	if (o->ncommand == 0 && !o->run_path)
		return fl_error_set(err, EINVAL, "no command given");
	if (o->run_path && o->nmounts == 0)
		return fl_error_set(err, EINVAL,
				    "--run needs at least one archive option (--static or --dynamic)");
	return 0;
}

int fl_options_parse(int argc, char **argv, struct fl_options *ret, struct fl_error *err)
{
	struct fl_options o = { 0 };
	int c, idx, r = 0;

	/* "+": stop at the first non-option, so the command's own options are
	 * never taken as ours; ":" and opterr=0: we word the errors. */
	optind = 0;
	opterr = 0;
	while (r == 0) {
		int prev = optind ? optind : 1;
		const char *word = prev < argc ? argv[prev] : "";

		idx = -1;
		c = getopt_long(argc, argv, "+:s:d:vhV", long_options, &idx);
		if (c == -1)
			break;
		if (c == '?' || c == ':')
			r = bad_option(word, c, err);
		else if (idx >= 0 && !exact_long(word, idx))
			r = bad_option(word, '?', err);
		else
			r = take_option(&o, c, word, err);
		/* Every word after --run PATH (and an optional "--") is the
		 * program's, even when it looks like an option. */
		if (r == 0 && c == OPT_RUN) {
			if (optind < argc && strcmp(argv[optind], "--") == 0)
				optind++;
			break;
		}
	}
	if (r == 0) {
		o.command = argv + optind;
		o.ncommand = argc - optind;
		r = check_command(&o, err);
	}
	if (r < 0) {
		fl_options_done(&o);
		return r;
	}
	*ret = o;
	return 0;
}

void fl_options_done(struct fl_options *o)
{
	for (size_t i = 0; i < o->nmounts; i++) {
		free(o->mounts[i].name);
		free(o->mounts[i].file);
	}
	free(o->mounts);
	o->mounts = NULL;
	o->nmounts = 0;
}
