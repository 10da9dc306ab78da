/* SPDX-License-Identifier: MIT */
/*
 * fuselage-bundle: one self-executing file from the prebuilt launcher stub,
 * baked fuselage arguments and a squashfs image (SPEC §9, layout in bargs.h).
 * No compiler at bundle time; nothing is written before every input has been
 * checked, and the output appears atomically or not at all.  Never needs or
 * uses privilege.
 */
#include <config.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bargs.h"
#include "fusefs/elf.h"

#ifndef FL_LAUNCHER_PATH
#define FL_LAUNCHER_PATH "/usr/local/libexec/fuselage/fuselage-launcher"
#endif

/* The staged parts in the build directory (kept with --keep, for inspection). */
static const char *const parts[] = { "launcher", "args.bin", "args.txt", "layout.txt" };

struct opts {
	const char *archive, *output, *build_dir;
	bool keep, exist_ok;
	char **baked;
	size_t nbaked;
};

/* What the checks found, for the writing steps. */
struct plan {
	int image_fd;
	uint64_t image_size;
	unsigned char *stub;
	size_t stub_len;
	uint64_t sh_off, sh_len;
	char *build_dir;    /* absolute */
	bool build_created; /* we make it (then it is ours to delete) */
	char *out_dir, *out_base;
	char *out_path, *out_copy; /* the canonical --output, and a copy cut by dirname */
};

/* Set once the build directory exists, so that a failure cleans it up. */
static const struct opts *cleanup_opts;
static const struct plan *cleanup_plan;
static void clean_build_dir(const struct opts *o, const struct plan *p, bool quiet);

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fputs("fuselage-bundle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cleanup_plan) {
		const struct plan *p = cleanup_plan;

		cleanup_plan = NULL;
		clean_build_dir(cleanup_opts, p, true);
	}
	exit(1);
}

static void usage(FILE *f)
{
	fputs(
	    "Usage: fuselage-bundle --archive=IMAGE --output=FILE [OPTIONS] -- FUSELAGE_ARGS...\n"
	    "Write one self-executing file: a launcher, FUSELAGE_ARGS and the squashfs IMAGE.\n"
	    "When run, it execs fuselage FUSELAGE_ARGS [--] USER_ARGS, with every\n"
	    "/proc/self/exe in FUSELAGE_ARGS replaced by the bundle's own absolute path.\n"
	    "\n"
	    " -a, --archive=IMAGE     the squashfs image to append, unchanged\n"
	    " -o, --output=FILE       the bundle to write (atomically, mode 0755)\n"
	    "     --build-dir=DIR     stage the parts in DIR (default: a fresh temporary directory)\n"
	    "     --keep              keep the build directory and its parts for inspection\n"
	    "     --exist-ok          reuse an existing --build-dir\n"
	    " -h, --help              display this help and exit\n"
	    " -V, --version           output version information and exit\n"
	    "\n"
	    "Example:\n"
	    "  fuselage-bundle --archive=app.sfs --output=app -- \\\n"
	    "    --static=/run/fuselage/app:/proc/self/exe --run /run/fuselage/app/bin/app\n"
	    "\n"
	    "See fuselage-bundle(1).\n",
	    f);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "archive", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "build-dir", required_argument, NULL, 'b' },
		{ "keep", no_argument, NULL, 'k' },
		{ "exist-ok", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:a:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (o->archive)
				die("--archive given twice (a bundle holds one image)");
			o->archive = optarg;
			break;
		case 'o':
			if (o->output)
				die("--output given twice");
			o->output = optarg;
			break;
		case 'b':
			if (o->build_dir)
				die("--build-dir given twice");
			o->build_dir = optarg;
			break;
		case 'k':
			o->keep = true;
			break;
		case 'e':
			o->exist_ok = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("fuselage-bundle %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			die("option %s needs a value (try --help)", argv[optind - 1]);
		default:
			die("unknown option %s (try --help)", argv[optind - 1]);
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		die("unexpected argument '%s': the fuselage arguments go after --", argv[optind]);
	if (!o->archive)
		die("--archive=IMAGE is required (try --help)");
	if (!o->output)
		die("--output=FILE is required (try --help)");
	if (o->exist_ok && !o->build_dir)
		die("--exist-ok is about --build-dir=DIR, which is not given");
	if (!*o->archive || !*o->output || (o->build_dir && !*o->build_dir))
		die("empty file name given to an option");
	o->baked = argv + optind;
	o->nbaked = (size_t)(argc - optind);
	if (o->nbaked == 0)
		die("no fuselage arguments after -- (for example --static=/run/fuselage/NAME:/proc/self/exe --run ...)");
}

/* SPEC §9: only a squashfs 4.0 image whose superblock fits the file. */
static void check_image(const char *path, struct plan *p)
{
	unsigned char sb[96];
	struct stat st;
	uint64_t used = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("--archive=%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		die("--archive=%s: not a regular file", path);
	if (st.st_size < (off_t)sizeof(sb) || pread(fd, sb, sizeof(sb), 0) != (ssize_t)sizeof(sb))
		die("--archive=%s: not a squashfs image (too short)", path);
	if (memcmp(sb, "hsqs", 4) != 0)
		die("--archive=%s: not a squashfs image (no \"hsqs\" magic at offset 0; make one with mksquashfs)",
		    path);
	if (sb[28] != 4 || sb[29] != 0 || sb[30] != 0 || sb[31] != 0)
		die("--archive=%s: squashfs version %u.%u, only 4.0 is supported", path,
		    sb[28] | sb[29] << 8, sb[30] | sb[31] << 8);
	for (int i = 0; i < 8; i++)
		used |= (uint64_t)sb[40 + i] << (8 * i);
	if (used < sizeof(sb) || used > (uint64_t)st.st_size)
		die("--archive=%s: truncated squashfs image (%llu bytes used, file has %llu)", path,
		    (unsigned long long)used, (unsigned long long)st.st_size);
	p->image_fd = fd;
	p->image_size = (uint64_t)st.st_size;
}

static unsigned char *read_file(const char *path, size_t *ret_len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*ret_len = (size_t)st.st_size;
	return buf;
}

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* $FUSELAGE_LAUNCHER, else beside this program (a build tree), else installed. */
static void load_launcher(struct plan *p)
{
	char self[PATH_MAX], sibling[PATH_MAX + 32];
	const char *path = getenv("FUSELAGE_LAUNCHER");
	ssize_t n;
	unsigned char *s;

	if (!path || !*path) {
		path = FL_LAUNCHER_PATH;
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = '\0';
			snprintf(sibling, sizeof(sibling), "%s/fuselage-launcher", dirname(self));
			if (access(sibling, R_OK) == 0)
				path = sibling;
		}
	}
	p->stub = read_file(path, &p->stub_len);
	if (!p->stub)
		die("cannot read the launcher stub %s: %s (set FUSELAGE_LAUNCHER)", path,
		    strerror(errno));
	s = p->stub;
	if (p->stub_len < 64 || memcmp(s, ELFMAG, SELFMAG) != 0 || s[EI_CLASS] != ELFCLASS64 ||
	    s[EI_DATA] != ELFDATA2LSB)
		die("the launcher stub %s is not a 64-bit little-endian ELF file", path);
	p->sh_off = le(s + 40, 8);
	p->sh_len = le(s + 60, 2) * le(s + 58, 2);
	if (le(s + 58, 2) != 64 || le(s + 60, 2) == 0 || p->sh_off > p->stub_len ||
	    p->sh_len > p->stub_len - p->sh_off)
		die("the launcher stub %s has no usable section header table", path);
	if (p->sh_off >= FL_BARGS_FOOTER_LEN && memcmp(s + p->sh_off - 8, FL_BARGS_END, 8) == 0)
		die("%s is already a bundle, not the bare launcher stub", path);
}

/*
 * An absolute path for @path with symlinks resolved as far as it exists; the
 * rest is appended lexically.  Used to see whether the output lies inside the
 * build directory, both possibly not yet existing.
 */
static char *canonical_depth(const char *path, int depth);

/* A dangling symlink still says where the path will lead once created. */
static char *canonical_link(const char *path, int depth)
{
	char target[PATH_MAX], *d, *joined, *out;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0 || depth > 40)
		die("%s: %s", path, n < 0 ? strerror(errno) : "too many levels of symbolic links");
	target[n] = '\0';
	d = strdup(path);
	if (!d || asprintf(&joined, "%s/%s", target[0] == '/' ? "" : dirname(d), target) < 0)
		die("out of memory");
	out = canonical_depth(joined, depth + 1);
	free(joined);
	free(d);
	return out;
}

static char *canonical(const char *path)
{
	return canonical_depth(path, 0);
}

static char *canonical_depth(const char *path, int depth)
{
	char *r = realpath(path, NULL), *d, *b, *dc, *out;
	struct stat st;

	if (r)
		return r;
	if (errno != ENOENT)
		die("%s: %s", path, strerror(errno));
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return canonical_link(path, depth);
	d = strdup(path);
	b = strdup(path);
	if (!d || !b)
		die("out of memory");
	dc = canonical_depth(dirname(d), depth);
	const char *base = basename(b);

	if (strcmp(base, ".") == 0) {
		out = dc;
	} else if (strcmp(base, "..") == 0) {
		out = strdup(dirname(dc));
		free(dc);
	} else {
		if (asprintf(&out, "%s/%s", strcmp(dc, "/") ? dc : "", base) < 0)
			die("out of memory");
		free(dc);
	}
	free(d);
	free(b);
	return out;
}

static bool path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void check_output(const struct opts *o, struct plan *p)
{
	struct stat st;
	char *out, *tmp;

	/* Kept in the plan, which lives in main's frame, until the end. */
	out = p->out_path = canonical(o->output);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		die("--output=%s: is a directory", o->output);
	tmp = p->out_copy = strdup(out);
	if (!tmp)
		die("out of memory");
	p->out_base = strdup(basename(tmp));
	p->out_dir = strdup(dirname(tmp));
	if (o->build_dir) {
		p->build_dir = canonical(o->build_dir);
		if (lstat(p->build_dir, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				die("--build-dir=%s: exists and is not a directory", o->build_dir);
			if (!o->exist_ok)
				die("--build-dir=%s: already exists (add --exist-ok to reuse it)",
				    o->build_dir);
		} else {
			p->build_created = true;
		}
		/* The output would vanish with the directory it was written to. */
		if (p->build_created && !o->keep && path_inside(out, p->build_dir))
			die("--output=%s lies inside --build-dir=%s, which is deleted at the end (add --keep, or write the output elsewhere)",
			    o->output, o->build_dir);
	}
	/* The output's directory must exist, or be the build directory we make. */
	if ((stat(p->out_dir, &st) < 0 || !S_ISDIR(st.st_mode)) &&
	    !(p->build_created && strcmp(p->out_dir, p->build_dir) == 0))
		die("--output=%s: the directory %s does not exist", o->output, p->out_dir);
}

static void write_all(int fd, const void *buf, size_t len, const char *what)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot write %s: %s", what, strerror(errno));
		done += (size_t)n;
	}
}

static void write_part(const struct plan *p, const char *name, const void *buf, size_t len,
		       mode_t mode)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/%s", p->build_dir, name) < 0)
		die("out of memory");
	/* O_NOFOLLOW: a reused build directory must not redirect our writes. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		die("cannot write %s: %s", path, strerror(errno));
	write_all(fd, buf, len, path);
	close(fd);
	free(path);
}

/* One argument per line, with C escapes for what would not show. */
static void write_args_txt(const struct plan *p, const struct opts *o)
{
	char *txt = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&txt, &len);

	if (!f)
		die("out of memory");
	for (size_t i = 0; i < o->nbaked; i++) {
		for (const unsigned char *c = (const unsigned char *)o->baked[i]; *c; c++) {
			if (*c == '\\')
				fputs("\\\\", f);
			else if (*c < 0x20 || *c == 0x7f)
				fprintf(f, "\\x%02x", *c);
			else
				fputc(*c, f);
		}
		fputc('\n', f);
	}
	fclose(f);
	write_part(p, "args.txt", txt, len, 0644);
	free(txt);
}

static void copy_image(int out, const struct plan *p)
{
	unsigned char buf[1 << 16];
	uint64_t done = 0;

	while (done < p->image_size) {
		size_t want =
		    p->image_size - done < sizeof(buf) ? p->image_size - done : sizeof(buf);
		ssize_t n = pread(p->image_fd, buf, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot read the image: %s", n < 0 ? strerror(errno) : "it shrank");
		write_all(out, buf, (size_t)n, "the output");
		done += (uint64_t)n;
	}
}

/* stub (e_shoff moved) + blob + footer + section headers; returns its length. */
static unsigned char *make_head(const struct plan *p, const unsigned char *blob, size_t blob_len,
				size_t *ret_len, uint64_t *ret_footer)
{
	size_t footer = (p->stub_len + blob_len + 7) & ~(size_t)7;
	size_t len = footer + FL_BARGS_FOOTER_LEN + p->sh_len;
	unsigned char *h = calloc(1, len);

	if (!h)
		die("out of memory");
	memcpy(h, p->stub, p->stub_len);
	memcpy(h + p->stub_len, blob, blob_len);
	fl_bargs_footer(h + footer, p->stub_len, blob_len);
	memcpy(h + footer + FL_BARGS_FOOTER_LEN, p->stub + p->sh_off, p->sh_len);
	for (int i = 0; i < 8; i++)
		h[40 + i] = (unsigned char)((uint64_t)(footer + FL_BARGS_FOOTER_LEN) >> (8 * i));
	*ret_len = len;
	*ret_footer = footer;
	return h;
}

static void write_output(const struct opts *o, const struct plan *p, const unsigned char *head,
			 size_t head_len)
{
	static const unsigned char zeros[FL_ELF_ALIGN];
	struct fl_error err = { 0 };
	uint64_t img, check;
	char *tmp, magic[4];
	int fd;

	if (asprintf(&tmp, "%s/.%s.XXXXXX", p->out_dir, p->out_base) < 0)
		die("out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		die("--output=%s: cannot create a file in %s: %s", o->output, p->out_dir,
		    strerror(errno));
	write_all(fd, head, head_len, tmp);
	/* Where fuselage will look: the same code, so the two cannot disagree. */
	if (fl_elf_image_offset(fd, head_len, &img, &err) < 0)
		goto fail_elf;
	write_all(fd, zeros, img - head_len, tmp);
	copy_image(fd, p);
	if (fchmod(fd, 0755) < 0 || fsync(fd) < 0)
		die("cannot finish %s: %s", tmp, strerror(errno));
	if (fl_elf_image_offset(fd, img + p->image_size, &check, &err) < 0)
		goto fail_elf;
	if (check != img || pread(fd, magic, 4, (off_t)img) != 4 || memcmp(magic, "hsqs", 4))
		goto fail_check;
	close(fd);
	if (rename(tmp, o->output) < 0) {
		unlink(tmp);
		die("--output=%s: %s", o->output, strerror(errno));
	}
	free(tmp);
	return;

fail_elf:
	unlink(tmp);
	die("the bundle's ELF header is unusable: %s", err.msg);
fail_check:
	unlink(tmp);
	die("internal error: the image is not where the ELF extent rule finds it");
}

static void write_layout(const struct plan *p, size_t blob_len, uint64_t footer, size_t head_len)
{
	char *txt;
	uint64_t img = (head_len + FL_ELF_ALIGN - 1) & ~(uint64_t)(FL_ELF_ALIGN - 1);
	int n = asprintf(&txt,
			 "launcher        0 %zu\n"
			 "args            %zu %zu\n"
			 "footer          %llu %d\n"
			 "section-headers %llu %llu\n"
			 "image           %llu %llu\n",
			 p->stub_len, p->stub_len, blob_len, (unsigned long long)footer,
			 FL_BARGS_FOOTER_LEN, (unsigned long long)(footer + FL_BARGS_FOOTER_LEN),
			 (unsigned long long)p->sh_len, (unsigned long long)img,
			 (unsigned long long)p->image_size);

	if (n < 0)
		die("out of memory");
	write_part(p, "layout.txt", txt, (size_t)n, 0644);
	free(txt);
}

static void make_build_dir(const struct opts *o, struct plan *p)
{
	if (!o->build_dir) {
		const char *t = getenv("TMPDIR");

		if (asprintf(&p->build_dir, "%s/fuselage-bundle.XXXXXX", t && *t ? t : "/tmp") < 0)
			die("out of memory");
		if (!mkdtemp(p->build_dir))
			die("cannot make a build directory %s: %s", p->build_dir, strerror(errno));
		p->build_created = true;
	} else if (p->build_created && mkdir(p->build_dir, 0700) < 0) {
		die("--build-dir=%s: %s", o->build_dir, strerror(errno));
	}
}

/* Without --keep: our parts go, and the directory too when we made it. */
static void clean_build_dir(const struct opts *o, const struct plan *p, bool quiet)
{
	if (o->keep) {
		if (quiet)
			return;
		fprintf(stderr, "fuselage-bundle: kept the build directory %s\n", p->build_dir);
		return;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *path;

		if (asprintf(&path, "%s/%s", p->build_dir, parts[i]) >= 0) {
			unlink(path);
			free(path);
		}
	}
	if (p->build_created && rmdir(p->build_dir) < 0)
		fprintf(stderr, "fuselage-bundle: note: could not remove %s: %s\n", p->build_dir,
			strerror(errno));
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct plan p = { .image_fd = -1 };
	struct fl_error err = { 0 };
	unsigned char *blob, *head;
	size_t blob_len, head_len;
	uint64_t footer;
	bool self = false;

	parse_options(argc, argv, &o);
	check_image(o.archive, &p);
	load_launcher(&p);
	check_output(&o, &p);
	if (fl_bargs_encode(o.baked, o.nbaked, &blob, &blob_len, &err) < 0)
		die("%s", err.msg);
	for (size_t i = 0; i < o.nbaked; i++)
		self |= strstr(o.baked[i], FL_BARGS_SELF) != NULL;
	if (!self)
		fprintf(
		    stderr,
		    "fuselage-bundle: note: no argument mentions %s, so the bundle will not serve its own image\n",
		    FL_BARGS_SELF);
	head = make_head(&p, blob, blob_len, &head_len, &footer);

	make_build_dir(&o, &p);
	cleanup_opts = &o;
	cleanup_plan = &p;
	write_part(&p, "launcher", p.stub, p.stub_len, 0755);
	write_part(&p, "args.bin", blob, blob_len, 0644);
	write_args_txt(&p, &o);
	write_layout(&p, blob_len, footer, head_len);
	write_output(&o, &p, head, head_len);
	cleanup_plan = NULL;
	clean_build_dir(&o, &p, false);
	free(head);
	free(blob);
	free(p.stub);
	free(p.build_dir);
	free(p.out_dir);
	free(p.out_base);
	free(p.out_path);
	free(p.out_copy);
	if (p.image_fd >= 0)
		close(p.image_fd);
	return 0;
}
