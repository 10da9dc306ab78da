/* SPDX-License-Identifier: MIT */
/*
 * fuselage-launcher: the stub at the front of every fuselage-bundle output.
 * It reads the arguments baked behind its own ELF image (bargs.h), puts its
 * own absolute path where they say /proc/self/exe, and execs fuselage with
 * them and the user's arguments (SPEC §9).  libc only, no privilege, never
 * interprets the user's arguments.
 */
#include <config.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bargs.h"

/* Exit statuses: the bundle's own failures (a damaged file) are 125, like
 * fuselage's; a fuselage that cannot be found or executed is 127 / 126, as a
 * shell reports a missing or unusable command. */
#define EXIT_OWN      125
#define EXIT_NOEXEC   126
#define EXIT_NOTFOUND 127

static void __attribute__((noreturn, format(printf, 2, 3))) die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("fuselage-launcher: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void pread_exact(int fd, void *buf, size_t len, off_t off, const char *what)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(EXIT_OWN, "cannot read %s from the bundle: %s", what,
			    n < 0 ? strerror(errno) : "file truncated");
		got += (size_t)n;
	}
}

/* The blob named by the footer just before the section header table. */
static unsigned char *read_blob(int fd, size_t *ret_len)
{
	unsigned char ehdr[EI_NIDENT + 48], footer[FL_BARGS_FOOTER_LEN], *blob;
	uint64_t shoff = 0, off, len;
	struct fl_error err = { 0 };

	pread_exact(fd, ehdr, sizeof(ehdr), 0, "the ELF header");
	if (memcmp(ehdr, ELFMAG, SELFMAG) != 0 || ehdr[EI_CLASS] != ELFCLASS64 ||
	    ehdr[EI_DATA] != ELFDATA2LSB)
		die(EXIT_OWN, "the bundle does not start with the launcher's ELF header");
	for (int i = 0; i < 8; i++)
		shoff |= (uint64_t)ehdr[40 + i] << (8 * i);
	if (shoff < FL_BARGS_FOOTER_LEN + sizeof(ehdr) || shoff > (uint64_t)INT64_MAX)
		die(EXIT_OWN,
		    "no baked arguments (this is the bare launcher; make a bundle with fuselage-bundle)");
	pread_exact(fd, footer, sizeof(footer), (off_t)(shoff - FL_BARGS_FOOTER_LEN),
		    "the arguments' footer");
	if (fl_bargs_parse_footer(footer, shoff - FL_BARGS_FOOTER_LEN, &off, &len, &err) < 0) {
		if (err.errnum == ENOENT)
			die(EXIT_OWN,
			    "no baked arguments (this is the bare launcher; make a bundle with fuselage-bundle)");
		die(EXIT_OWN, "damaged bundle: %s", err.msg);
	}
	blob = malloc(len ? len : 1);
	if (!blob)
		die(EXIT_OWN, "out of memory");
	pread_exact(fd, blob, len, (off_t)off, "the baked arguments");
	*ret_len = len;
	return blob;
}

/*
 * The bundle's own absolute path: /proc/self/exe's target, which the kernel
 * gives with every symlink and relative component resolved, so a bundle run
 * through a symlink, a relative path or after a move still names its real
 * file.  It must still be the file we are reading (not deleted or replaced
 * since exec), or fuselage would serve a different image.
 */
static char *self_path(int fd)
{
	char buf[PATH_MAX];
	struct stat a, b;
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));

	if (n < 0)
		die(EXIT_OWN, "cannot find the bundle's own path: /proc/self/exe: %s",
		    strerror(errno));
	if ((size_t)n >= sizeof(buf))
		die(EXIT_OWN, "cannot find the bundle's own path: it is longer than %d bytes",
		    PATH_MAX - 1);
	buf[n] = '\0';
	if (fstat(fd, &a) < 0 || stat(buf, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		die(EXIT_OWN, "the bundle's file %s was moved or deleted while it started", buf);
	return strdup(buf);
}

static bool is_exec_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* $FUSELAGE (a path, or a name looked up in PATH), else "fuselage" in PATH. */
static char *find_fuselage(void)
{
	const char *want = getenv("FUSELAGE"), *path = getenv("PATH");
	static char buf[PATH_MAX];

	if (want && *want && strchr(want, '/')) {
		if (access(want, F_OK) < 0)
			die(EXIT_NOTFOUND, "cannot find fuselage: $FUSELAGE=%s: %s", want,
			    strerror(errno));
		return (char *)want;
	}
	if (!want || !*want)
		want = "fuselage";
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;; p++) {
		size_t len = strcspn(p, ":");

		/* An empty PATH element means the current directory, as for execvp. */
		if (snprintf(buf, sizeof(buf), "%.*s%s%s", (int)len, len ? p : ".", "/", want) <
			(int)sizeof(buf) &&
		    is_exec_file(buf))
			return buf;
		p += len;
		if (!*p)
			break;
	}
	die(EXIT_NOTFOUND,
	    "cannot find %s: not in PATH (%s); install fuselage or set FUSELAGE=/path/to/fuselage",
	    want, path);
}

/* What the exec needs lives until the exec (or an error exit).  These keep
 * it referenced for LeakSanitizer when die() exits; volatile, or the
 * optimiser drops the stores, as nothing reads them. */
static void *volatile keep_blob, *volatile keep_baked, *volatile keep_args, *volatile keep_self;

int main(int argc, char **argv)
{
	struct fl_error err = { 0 };
	unsigned char *blob;
	char **baked = NULL, **args = NULL, *self, *fuselage;
	struct stat fst, sst;
	size_t blob_len, nbaked;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(EXIT_OWN, "cannot open the bundle's own file /proc/self/exe: %s",
		    strerror(errno));
	keep_blob = blob = read_blob(fd, &blob_len);
	if (fl_bargs_decode(blob, blob_len, &baked, &nbaked, &err) < 0)
		die(EXIT_OWN, "damaged bundle: %s", err.msg);
	keep_baked = baked;
	keep_self = self = self_path(fd);
	if (!self)
		die(EXIT_OWN, "out of memory");
	fuselage = find_fuselage();
	/* $FUSELAGE or PATH leading back to this very file would exec it
	 * again and again, the arguments growing each time. */
	if (stat(fuselage, &fst) == 0 && fstat(fd, &sst) == 0 && fst.st_dev == sst.st_dev &&
	    fst.st_ino == sst.st_ino)
		die(EXIT_OWN, "%s is this bundle, not fuselage; set FUSELAGE=/path/to/fuselage",
		    fuselage);
	close(fd);
	if (fl_bargs_exec_argv(fuselage, baked, nbaked, self, argv + 1, (size_t)(argc - 1), &args,
			       &err) < 0)
		die(EXIT_OWN, "%s", err.msg);
	keep_args = args;
	execv(fuselage, args);
	die(errno == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC, "cannot execute %s: %s", fuselage,
	    strerror(errno));
}
