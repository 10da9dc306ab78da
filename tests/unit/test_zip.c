/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the zip backend (fusefs/zip_tree.c, fusefs/zip_cd.c) through
 * the tree interface, on archives made at test time by zip, python3's zipfile
 * and zipapp (bzip2 and lzma entries too), and on the pip wheel and
 * commons-cli JAR Debian installs.
 * Damaged archives (truncated, bit-flipped) must fail cleanly, never crash.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/zip_cd.h"
#include "fusefs/zip_other.h"
#include "fusefs/zip_tree.h"
#include "tests/unit/helpers.h"

static char tmp[PATH_MAX];

struct warns {
	int count;
	char last[600];
};

static void on_warn(void *ctx, const char *msg)
{
	struct warns *w = ctx;

	w->count++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

static void setup(void)
{
	/* DOS times are local: make "local" the same for zip, python and us. */
	setenv("TZ", "EST5EDT", 1);
	tzset();
	snprintf(tmp, sizeof(tmp), "%s", fl_test_tmpdir());
}

static void teardown(void)
{
	fl_test_rmtree(tmp);
}

TestSuite(zip, .init = setup, .fini = teardown, .timeout = 300);

/* Run a python3 script (text of @code) with "$tmp" as its first argument. */
static void py(const char *code)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/gen.py", tmp);
	fl_test_write(path, code, strlen(code));
	cr_assert_eq(fl_test_sh("cd '%s' && python3 -W ignore gen.py '%s'", tmp, tmp), 0,
		     "python failed:\n%s", code);
}

static struct fl_tree *open_tree_w(const char *name, struct warns *w)
{
	struct fl_tree_opts opts = { .warn = on_warn, .warn_ctx = w };
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	char path[PATH_MAX + 64];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	fd = fl_test_open(path);
	r = fl_zip_tree_open(fd, &opts, &t, &err);
	cr_assert_eq(r, 0, "open %s: %d %s", name, r, err.msg);
	return t;
}

static struct fl_tree *open_tree(const char *name)
{
	static struct warns w;

	return open_tree_w(name, &w);
}

/* Resolve "a/b/c" from the root; returns 0 or -errno. */
static int lookup(struct fl_tree *t, const char *path, uint64_t *ret)
{
	char buf[PATH_MAX], *save = NULL;
	uint64_t node = FL_TREE_ROOT;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int r = t->ops->lookup(t, node, c, &node);

		if (r < 0)
			return r;
	}
	*ret = node;
	return 0;
}

static uint64_t must_lookup(struct fl_tree *t, const char *path)
{
	uint64_t node = 0;
	int r = lookup(t, path, &node);

	cr_assert_eq(r, 0, "lookup %s: %s", path, strerror(-r));
	return node;
}

static struct stat stat_of(struct fl_tree *t, const char *path)
{
	struct stat st;

	cr_assert_eq(t->ops->getattr(t, must_lookup(t, path), &st), 0);
	return st;
}

/* Read all of @node (in @chunk-byte reads); *ret_buf is malloc'd. */
static ssize_t read_all_chunk(struct fl_tree *t, uint64_t node, char **ret_buf, size_t chunk)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	uint64_t fh = 0;
	ssize_t n;
	int r = t->ops->open(t, node, &fh);

	if (r < 0) {
		free(buf);
		return r;
	}
	do {
		if (len + chunk > cap)
			buf = realloc(buf, cap = (len + chunk) * 2);
		n = t->ops->read(t, node, fh, buf + len, chunk, len);
		if (n > 0)
			len += (size_t)n;
	} while (n > 0 && len < ((size_t)64 << 20));
	t->ops->release(t, node, fh);
	if (n < 0) {
		free(buf);
		return n;
	}
	*ret_buf = buf;
	return (ssize_t)len;
}

static ssize_t read_all(struct fl_tree *t, uint64_t node, char **ret_buf)
{
	return read_all_chunk(t, node, ret_buf, 65536);
}

static void assert_content(struct fl_tree *t, const char *path, const char *want, size_t len)
{
	char *buf = NULL;
	ssize_t n = read_all(t, must_lookup(t, path), &buf);

	cr_assert_eq(n, (ssize_t)len, "%s: read %zd, want %zu", path, n, len);
	cr_assert_eq(memcmp(buf, want, len), 0, "%s: content differs", path);
	free(buf);
}

static void assert_text(struct fl_tree *t, const char *path, const char *want)
{
	assert_content(t, path, want, strlen(want));
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, len = 0, n;
	char *buf = malloc(cap);

	cr_assert_not_null(f, "%s", path);
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*ret_len = len;
	return buf;
}

struct names {
	int n;
	char name[64][256];
	uint64_t node[64];
	uint64_t cookie[64];
};

static bool collect(void *ctx, const char *name, uint64_t node, const struct stat *st,
		    uint64_t next)
{
	struct names *ns = ctx;

	if (ns->n == 64)
		return true;
	snprintf(ns->name[ns->n], 256, "%s", name);
	ns->node[ns->n] = node;
	ns->cookie[ns->n] = next;
	ns->n++;
	return false;
}

/* Children of @path as "a,b,c" (sorted by the backend). */
static char *listing(struct fl_tree *t, const char *path)
{
	static char out[4096];
	struct names ns = { 0 };

	cr_assert_eq(t->ops->readdir(t, must_lookup(t, path), 0, collect, &ns), 0);
	out[0] = '\0';
	for (int i = 0; i < ns.n; i++) {
		strcat(out, i ? "," : "");
		strcat(out, ns.name[i]);
	}
	return out;
}

static int count_compared;

/* Compare tree directory @node with host directory @dir, recursively:
 * names, types, file bytes and link targets. */
static void compare_dir(struct fl_tree *t, uint64_t node, const char *dir)
{
	struct dirent **ents;
	struct names ns = { 0 };
	int n = scandir(dir, &ents, NULL, alphasort), k = 0;

	cr_assert_geq(n, 0, "%s", dir);
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 300], *a = NULL, *b;
		struct stat hs, ts;
		uint64_t child;
		size_t blen;

		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			k++;
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			cr_assert_eq(lstat(path, &hs), 0);
			cr_assert_eq(t->ops->lookup(t, node, ents[i]->d_name, &child), 0, "%s", path);
			cr_assert_eq(t->ops->getattr(t, child, &ts), 0);
			cr_assert_eq(hs.st_mode & S_IFMT, ts.st_mode & S_IFMT, "%s: type", path);
			if (S_ISDIR(hs.st_mode)) {
				compare_dir(t, child, path);
			} else if (S_ISREG(hs.st_mode)) {
				cr_assert_eq(ts.st_size, hs.st_size, "%s: size", path);
				b = slurp(path, &blen);
				cr_assert_eq(read_all(t, child, &a), (ssize_t)blen, "%s", path);
				cr_assert_eq(memcmp(a, b, blen), 0, "%s: content", path);
				free(a);
				free(b);
				count_compared++;
			} else if (S_ISLNK(hs.st_mode)) {
				char want[PATH_MAX] = "", got[PATH_MAX];

				cr_assert_gt(readlink(path, want, sizeof(want) - 1), 0);
				cr_assert_gt(t->ops->readlink(t, child, got, sizeof(got)), 0);
				cr_assert_str_eq(got, want, "%s: link", path);
			}
		}
		free(ents[i]);
	}
	free(ents);
	cr_assert_eq(t->ops->readdir(t, node, 0, collect, &ns), 0);
	if (k < 64)
		cr_assert_eq(ns.n, k, "%s: %d entries in the tree, %d on disk", dir, ns.n, k);
}

/* A small source tree for zip -r. */
static void make_src(void)
{
	const size_t big_len = 200000;
	char *big = malloc(big_len), path[PATH_MAX + 32];

	cr_assert(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)("abcdefgh\n"[i % 9] ^ (i % 251 == 0));
	cr_assert_eq(fl_test_sh("cd '%s' && mkdir -p src/sub/deep src/empty && "
				"printf 'hello\\n' > src/hello.txt && "
				"printf '#!/bin/sh\\necho hi\\n' > src/run.sh && chmod 755 src/run.sh && "
				"printf 'x' > src/sub/deep/x && chmod 600 src/sub/deep/x && "
				"ln -s ../hello.txt src/sub/link && : > src/zero && "
				"touch -d '2021-03-04 05:06:07 UTC' src/hello.txt",
				tmp), 0);
	snprintf(path, sizeof(path), "%s/src/sub/big.txt", tmp);
	fl_test_write(path, big, big_len);
	free(big);
}


static struct fl_tree *open_tree_path(const char *path)
{
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	int fd = fl_test_open(path), r;

	r = fl_zip_tree_open(fd, NULL, &t, &err);
	cr_assert_eq(r, 0, "open %s: %d %s", path, r, err.msg);
	return t;
}

static struct fl_zipcd *read_cd(const char *name)
{
	char path[PATH_MAX + 64];
	struct fl_error err = { 0 };
	struct fl_zipcd *cd = NULL;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	fd = fl_test_open(path);
	r = fl_zipcd_read(fd, &cd, &err);
	close(fd);
	cr_assert_eq(r, 0, "%s: %s", name, err.msg);
	return cd;
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return timegm(&tm);
}

static time_t local(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s, .tm_isdst = -1 };

	return mktime(&tm);
}

Test(zip, zip_r_matches_source)
{
	struct fl_tree *t;
	struct stat st;
	char src[PATH_MAX + 8], buf[64];

	make_src();
	cr_assert_eq(fl_test_sh("cd '%s/src' && zip -qry ../a.zip .", tmp), 0);
	t = open_tree("a.zip");
	snprintf(src, sizeof(src), "%s/src", tmp);
	count_compared = 0;
	compare_dir(t, FL_TREE_ROOT, src);
	cr_assert_eq(count_compared, 5);
	cr_assert_str_eq(listing(t, ""), "empty,hello.txt,run.sh,sub,zero");
	st = stat_of(t, "run.sh");
	cr_assert_eq(st.st_mode, S_IFREG | 0755);
	st = stat_of(t, "sub/deep/x");
	cr_assert_eq(st.st_mode, S_IFREG | 0600);
	cr_assert_eq(st.st_nlink, 1);
	st = stat_of(t, "sub");
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_nlink, 3, "sub has one subdirectory");
	st = stat_of(t, "sub/link");
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(st.st_size, 12);
	cr_assert_eq(t->ops->readlink(t, must_lookup(t, "sub/link"), buf, 12), -ERANGE);
	cr_assert_eq(t->ops->readlink(t, must_lookup(t, "sub/link"), buf, 13), 12);
	cr_assert_str_eq(buf, "../hello.txt");
	st = stat_of(t, "hello.txt");
	cr_assert_eq(st.st_mtim.tv_sec, utc(2021, 3, 4, 5, 6, 7), "extended timestamp is exact");
	cr_assert_eq(st.st_ino, must_lookup(t, "hello.txt"));
	fl_tree_free(t);
}

Test(zip, zip_X_uses_dos_time)
{
	struct fl_zipcd *cd;
	struct fl_tree *t;
	struct stat st;

	make_src();
	cr_assert_eq(fl_test_sh("cd '%s/src' && zip -qryX ../b.zip . && zip -qry ../c.zip .",
				tmp), 0);
	t = open_tree("b.zip");
	st = stat_of(t, "hello.txt");
	/* DOS time: local time, 2-second resolution; Info-ZIP rounds odd
	 * seconds up (07 -> 08). */
	cr_assert_eq(st.st_mtim.tv_sec, utc(2021, 3, 4, 5, 6, 8));
	fl_tree_free(t);
	cd = read_cd("b.zip");
	for (size_t i = 0; i < cd->count; i++)
		cr_assert_not(cd->entries[i].has_xtime, "%s", cd->entries[i].name);
	fl_zipcd_free(cd);
	cd = read_cd("c.zip");
	cr_assert_gt(cd->count, 5);
	for (size_t i = 0; i < cd->count; i++) {
		cr_assert(cd->entries[i].has_xtime, "%s", cd->entries[i].name);
		cr_assert_eq(cd->entries[i].made_by, FL_ZIPCD_MADE_BY_UNIX);
	}
	cr_assert_eq(cd->prefix, 0);
	fl_zipcd_free(cd);
}

static const char *py_variants =
	"import zipfile, sys\n"
	"d = sys.argv[1]\n"
	"with zipfile.ZipFile(d + '/dirs.zip', 'w', zipfile.ZIP_DEFLATED) as z:\n"
	"    z.writestr('top/', '')\n"
	"    z.writestr('top/mid/', '')\n"
	"    z.writestr('top/mid/f.txt', 'deflated text\\n' * 100)\n"
	"    z.writestr(zipfile.ZipInfo('top/t.bin', date_time=(2020, 1, 2, 3, 4, 6)),\n"
	"               b'\\x00\\x01' * 500, compress_type=zipfile.ZIP_STORED)\n"
	"with zipfile.ZipFile(d + '/nodirs.zip', 'w', zipfile.ZIP_STORED) as z:\n"
	"    z.writestr('a/b/c/file', 'stored')\n"
	"    z.writestr('a/other', 'x' * 10000)\n"
	"class Unseekable:\n"
	"    def __init__(self, f): self.f = f\n"
	"    def write(self, b): return self.f.write(b)\n"
	"    def flush(self): self.f.flush()\n"
	"with open(d + '/dd.zip', 'wb') as raw:\n"
	"    with zipfile.ZipFile(Unseekable(raw), 'w', zipfile.ZIP_DEFLATED) as z:\n"
	"        z.writestr('dd/one.txt', 'one\\n' * 1000)\n"
	"        with z.open('dd/two.bin', 'w') as f:\n"
	"            f.write(bytes(range(256)) * 100)\n"
	"        z.writestr('dd/stored.txt', 'stored dd', compress_type=zipfile.ZIP_STORED)\n";

static char *repeat(const char *s, int n)
{
	size_t l = strlen(s);
	char *p = malloc(l * (size_t)n + 1);

	for (int i = 0; i < n; i++)
		memcpy(p + l * (size_t)i, s, l);
	p[l * (size_t)n] = '\0';
	return p;
}

Test(zip, python_dirs_stored_deflated_descriptors)
{
	char *s = repeat("deflated text\n", 100), bin[1000], two[25600];
	struct fl_zipcd *cd;
	struct fl_tree *t;
	struct stat st;

	py(py_variants);
	t = open_tree("dirs.zip");
	assert_text(t, "top/mid/f.txt", s);
	free(s);
	for (int i = 0; i < 1000; i++)
		bin[i] = (char)(i & 1);
	assert_content(t, "top/t.bin", bin, sizeof(bin));
	st = stat_of(t, "top/mid/f.txt");
	cr_assert_eq(st.st_mode, S_IFREG | 0600, "python's writestr default");
	st = stat_of(t, "top/mid");
	cr_assert_eq(st.st_mode, S_IFDIR | 0775);
	st = stat_of(t, "top/t.bin");
	cr_assert_eq(st.st_mtim.tv_sec, local(2020, 1, 2, 3, 4, 6), "DOS time is local time");
	fl_tree_free(t);

	t = open_tree("nodirs.zip");
	assert_text(t, "a/b/c/file", "stored");
	s = repeat("x", 10000);
	assert_text(t, "a/other", s);
	free(s);
	st = stat_of(t, "a/b");
	cr_assert_eq(st.st_mode, S_IFDIR | 0755, "implied directory");
	st = stat_of(t, "a");
	cr_assert_eq(st.st_nlink, 3);
	cr_assert_str_eq(listing(t, "a"), "b,other");
	fl_tree_free(t);

	cd = read_cd("dd.zip");
	cr_assert_eq(cd->count, 3);
	for (size_t i = 0; i < cd->count; i++)
		cr_assert(cd->entries[i].flags & FL_ZIPCD_FLAG_DESCRIPTOR, "%s", cd->entries[i].name);
	fl_zipcd_free(cd);
	t = open_tree("dd.zip");
	s = repeat("one\n", 1000);
	assert_text(t, "dd/one.txt", s);
	free(s);
	for (size_t i = 0; i < sizeof(two); i++)
		two[i] = (char)(i & 255);
	assert_content(t, "dd/two.bin", two, sizeof(two));
	assert_text(t, "dd/stored.txt", "stored dd");
	fl_tree_free(t);
}

/* Extract @archive with unzip and compare every file with the tree. */
static void compare_with_unzip(const char *archive, const char *member)
{
	char dir[PATH_MAX + 8], one[PATH_MAX + 8], *want, *got = NULL;
	struct fl_tree *t = open_tree_path(archive);
	size_t len;

	snprintf(dir, sizeof(dir), "%s/x", tmp);
	snprintf(one, sizeof(one), "%s/one", tmp);
	cr_assert_eq(fl_test_sh("unzip -qq -o '%s' -d '%s'", archive, dir), 0);
	count_compared = 0;
	compare_dir(t, FL_TREE_ROOT, dir);
	cr_assert_gt(count_compared, 10, "%s: only %d files", archive, count_compared);
	cr_assert_eq(fl_test_sh("unzip -p '%s' '%s' > '%s'", archive, member, one), 0);
	want = slurp(one, &len);
	cr_assert_gt(len, 0);
	cr_assert_eq(read_all(t, must_lookup(t, member), &got), (ssize_t)len);
	cr_assert_eq(memcmp(got, want, len), 0);
	free(got);
	free(want);
	fl_tree_free(t);
}

Test(zip, debian_pip_wheel)
{
	glob_t g;

	cr_assert_eq(glob("/usr/share/python-wheels/pip-*.whl", 0, NULL, &g), 0,
		     "python3-pip-whl is not installed");
	compare_with_unzip(g.gl_pathv[0], "pip/__init__.py");
	globfree(&g);
}

Test(zip, debian_commons_cli_jar)
{
	glob_t g;

	cr_assert_eq(glob("/usr/share/java/commons-cli*.jar", 0, NULL, &g), 0,
		     "libcommons-cli-java is not installed");
	compare_with_unzip(g.gl_pathv[0], "META-INF/MANIFEST.MF");
	globfree(&g);
}

struct counter {
	uint64_t n, last_cookie;
	int limit;
	char prev[256];
	bool unsorted;
};

static bool count_some(void *ctx, const char *name, uint64_t node, const struct stat *st,
		       uint64_t next)
{
	struct counter *c = ctx;

	if (c->limit-- == 0)
		return true;
	if (c->prev[0] && strcmp(c->prev, name) >= 0)
		c->unsorted = true;
	snprintf(c->prev, sizeof(c->prev), "%s", name);
	c->n++;
	c->last_cookie = next;
	return false;
}

Test(zip, zip64_many_entries)
{
	struct counter c = { 0 };
	struct fl_zipcd *cd;
	struct fl_tree *t;
	uint64_t dir;

	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/many.zip', 'w') as z:\n"
	   "    for i in range(70000):\n"
	   "        z.writestr('m/%05d' % i, str(i))\n");
	cd = read_cd("many.zip");
	cr_assert_eq(cd->count, 70000);
	fl_zipcd_free(cd);
	t = open_tree("many.zip");
	dir = must_lookup(t, "m");
	/* Page through with cookies, 1000 names at a time. */
	do {
		uint64_t before = c.n;

		c.limit = 1000;
		cr_assert_eq(t->ops->readdir(t, dir, c.last_cookie, count_some, &c), 0);
		if (c.n == before)
			break;
	} while (1);
	cr_assert_eq(c.n, 70000);
	cr_assert_not(c.unsorted);
	assert_text(t, "m/69999", "69999");
	assert_text(t, "m/00000", "0");
	cr_assert_eq(stat_of(t, "m/65536").st_size, 5);
	fl_tree_free(t);
}

/* A zip64 archive written by hand: every size and offset in the zip64
 * extra field (0xffffffff in the header), zip64 end record and locator. */
static const char *py_zip64_extra =
	"import struct, zlib, sys, zipfile\n"
	"d = sys.argv[1]\n"
	"data = b'zip64 extra parsing\\n'\n"
	"name = b'z64.txt'\n"
	"crc = zlib.crc32(data)\n"
	"lx = struct.pack('<HHQQ', 1, 16, len(data), len(data))\n"
	"lh = struct.pack('<4sHHHHHIIIHH', b'PK\\x03\\x04', 45, 0, 0, 0, 0x21, crc,\n"
	"                 0xffffffff, 0xffffffff, len(name), len(lx)) + name + lx\n"
	"body = lh + data\n"
	"cx = struct.pack('<HHQQQ', 1, 24, len(data), len(data), 0)\n"
	"cd = struct.pack('<4sHHHHHHIIIHHHHHII', b'PK\\x01\\x02', (3 << 8) | 45, 45, 0, 0, 0,\n"
	"                 0x21, crc, 0xffffffff, 0xffffffff, len(name), len(cx), 0, 0, 0,\n"
	"                 0o100640 << 16, 0xffffffff) + name + cx\n"
	"z64 = struct.pack('<4sQHHIIQQQQ', b'PK\\x06\\x06', 44, 45, 45, 0, 0, 1, 1, len(cd),\n"
	"                  len(body))\n"
	"loc = struct.pack('<4sIQI', b'PK\\x06\\x07', 0, len(body) + len(cd), 1)\n"
	"eocd = struct.pack('<4sHHHHIIH', b'PK\\x05\\x06', 0, 0, 0xffff, 0xffff,\n"
	"                   0xffffffff, 0xffffffff, 0)\n"
	"z = body + cd + z64 + loc + eocd\n"
	"open(d + '/z64x.zip', 'wb').write(z)\n"
	"open(d + '/z64x-pre.zip', 'wb').write(b'#' * 777 + z)\n"
	"assert zipfile.ZipFile(d + '/z64x.zip').read('z64.txt') == data\n"
	"assert zipfile.ZipFile(d + '/z64x-pre.zip').read('z64.txt') == data\n";

Test(zip, zip64_extra_fields_and_records)
{
	struct fl_zipcd *cd;
	struct fl_tree *t;

	py(py_zip64_extra);
	cd = read_cd("z64x.zip");
	cr_assert_eq(cd->count, 1);
	cr_assert_eq(cd->entries[0].csize, 20);
	cr_assert_eq(cd->entries[0].usize, 20);
	cr_assert_eq(cd->entries[0].lho, 0);
	cr_assert_eq(cd->prefix, 0);
	fl_zipcd_free(cd);
	cd = read_cd("z64x-pre.zip");
	cr_assert_eq(cd->prefix, 777);
	cr_assert_eq(cd->entries[0].lho, 777);
	fl_zipcd_free(cd);
	t = open_tree("z64x-pre.zip");
	assert_text(t, "z64.txt", "zip64 extra parsing\n");
	cr_assert_eq(stat_of(t, "z64.txt").st_mode, S_IFREG | 0640);
	fl_tree_free(t);
}

/* The real thing: a 4.5 GiB deflated entry (21 MB of zip) and an entry after
 * it whose offset needs zip64.  About 8 s, most of it python deflating. */
Test(zip, zip64_entry_over_4gib, .timeout = 1200)
{
	uint64_t size = (uint64_t)288 << 24, node;
	char buf[4096], zero[4096] = { 0 };
	struct fl_tree *t;
	uint64_t fh;

	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/big.zip', 'w', zipfile.ZIP_DEFLATED,\n"
	   "                     compresslevel=1) as z:\n"
	   "    with z.open('big.bin', 'w', force_zip64=True) as f:\n"
	   "        chunk = bytes(1 << 24)\n"
	   "        for i in range(288):\n"
	   "            f.write(chunk)\n"
	   "    z.writestr('after.txt', 'after')\n");
	t = open_tree("big.zip");
	node = must_lookup(t, "big.bin");
	cr_assert_eq(stat_of(t, "big.bin").st_size, (off_t)size);
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), size - 100), 100);
	cr_assert_eq(memcmp(buf, zero, 100), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), (uint64_t)1 << 32), 4096);
	cr_assert_eq(memcmp(buf, zero, 4096), 0);
	t->ops->release(t, node, fh);
	assert_text(t, "after.txt", "after");
	fl_tree_free(t);
}

Test(zip, empty_zip)
{
	struct names ns = { 0 };
	struct statvfs sv;
	struct fl_tree *t;
	struct stat st;

	py("import zipfile, sys\nzipfile.ZipFile(sys.argv[1] + '/empty.zip', 'w').close()\n");
	t = open_tree("empty.zip");
	cr_assert_eq(t->ops->readdir(t, FL_TREE_ROOT, 0, collect, &ns), 0);
	cr_assert_eq(ns.n, 0);
	cr_assert_eq(t->ops->getattr(t, FL_TREE_ROOT, &st), 0);
	cr_assert_eq(st.st_mode, S_IFDIR | 0755);
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(st.st_ino, FL_TREE_ROOT);
	cr_assert_eq(t->ops->statfs(t, &sv), 0);
	cr_assert_eq(sv.f_bsize, 4096);
	cr_assert_eq(sv.f_files, 1);
	cr_assert_eq(sv.f_namemax, 255);
	fl_tree_free(t);
}

Test(zip, zip_slip_names_are_skipped)
{
	struct warns w = { 0 };
	struct fl_tree *t;

	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/slip.zip', 'w') as z:\n"
	   "    for n in ['../evil', '/abs', 'a/../../b', 'ok/..', 'ok/./x', 'ok//y', './ok/z',\n"
	   "              './', 'ok/' + 'L' * 256]:\n"
	   "        z.writestr(n, 'payload ' + n)\n");
	t = open_tree_w("slip.zip", &w);
	cr_assert_str_eq(listing(t, ""), "ok");
	cr_assert_str_eq(listing(t, "ok"), "x,y,z");
	assert_text(t, "ok/x", "payload ok/./x");
	assert_text(t, "ok/y", "payload ok//y");
	assert_text(t, "ok/z", "payload ./ok/z");
	cr_assert_eq(w.count, 5, "warnings: %d, last: %s", w.count, w.last);
	cr_assert(strstr(w.last, "255"), "%s", w.last);
	fl_tree_free(t);
}

Test(zip, duplicates_and_file_dir_clashes)
{
	struct warns w = { 0 };
	struct fl_tree *t;
	struct stat st;

	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/dup.zip', 'w') as z:\n"
	   "    z.writestr('d.txt', 'one')\n"
	   "    z.writestr('d.txt', 'two, the last')\n"
	   "    z.writestr('x', 'x as a file first')\n"
	   "    z.writestr('x/y', 'y inside x')\n"
	   "    z.writestr('z/w', 'w')\n"
	   "    z.writestr('z', 'z as a file after its directory')\n"
	   "    z.writestr('v', 'v file then directory entry')\n"
	   "    z.writestr('v/', '')\n");
	t = open_tree_w("dup.zip", &w);
	cr_assert_str_eq(listing(t, ""), "d.txt,v,x,z");
	assert_text(t, "d.txt", "two, the last");
	st = stat_of(t, "x");
	cr_assert(S_ISDIR(st.st_mode), "the directory is kept");
	assert_text(t, "x/y", "y inside x");
	st = stat_of(t, "z");
	cr_assert(S_ISDIR(st.st_mode));
	assert_text(t, "z/w", "w");
	cr_assert(S_ISDIR(stat_of(t, "v").st_mode));
	cr_assert_eq(w.count, 4, "%d warnings, last %s", w.count, w.last);
	fl_tree_free(t);
}

Test(zip, zipapp_with_shebang)
{
	struct fl_zipcd *cd;
	struct fl_tree *t;

	cr_assert_eq(fl_test_sh("cd '%s' && mkdir app && printf 'print(\"hi\")\\n' > app/__main__.py"
				" && python3 -m zipapp app -p '/usr/bin/env python3' -o app.pyz"
				" && python3 app.pyz | grep -qx hi", tmp), 0);
	/* zipapp writes offsets that count the #! line: like zipfile.py we
	 * find no prefix, and the local header right after the line. */
	cd = read_cd("app.pyz");
	cr_assert_eq(cd->prefix, 0);
	cr_assert_eq(cd->count, 1);
	cr_assert_eq(cd->entries[0].lho, strlen("#!/usr/bin/env python3\n"));
	fl_zipcd_free(cd);
	t = open_tree("app.pyz");
	assert_text(t, "__main__.py", "print(\"hi\")\n");
	fl_tree_free(t);
}

Test(zip, self_extracting_with_and_without_zip_A)
{
	char src[PATH_MAX + 8];
	struct fl_zipcd *cd;
	struct fl_tree *t;

	make_src();
	snprintf(src, sizeof(src), "%s/src", tmp);
	cr_assert_eq(fl_test_sh("cd '%s' && head -c 5000 /dev/urandom > stub && "
				"(cd src && zip -qry ../plain.zip .) && cat stub plain.zip > sfx.zip && "
				"cp sfx.zip sfxA.zip && zip -qA sfxA.zip", tmp), 0);
	cd = read_cd("sfx.zip");
	cr_assert_eq(cd->prefix, 5000);
	fl_zipcd_free(cd);
	cd = read_cd("sfxA.zip");
	cr_assert_eq(cd->prefix, 0, "zip -A adjusts the offsets");
	fl_zipcd_free(cd);
	t = open_tree("sfx.zip");
	compare_dir(t, FL_TREE_ROOT, src);
	fl_tree_free(t);
	t = open_tree("sfxA.zip");
	compare_dir(t, FL_TREE_ROOT, src);
	fl_tree_free(t);
}

Test(zip, encrypted_entry_is_eacces)
{
	struct fl_tree *t;
	uint64_t node, fh;
	char buf[16];

	make_src();
	cr_assert_eq(fl_test_sh("cd '%s/src' && zip -q -P pw ../enc.zip hello.txt && "
				"zip -q ../enc.zip zero", tmp), 0);
	t = open_tree("enc.zip");
	node = must_lookup(t, "hello.txt");
	cr_assert_eq(stat_of(t, "hello.txt").st_size, 6);
	cr_assert_eq(t->ops->open(t, node, &fh), -EACCES);
	cr_assert_eq(t->ops->read(t, node, 0, buf, sizeof(buf), 0), -EACCES);
	assert_text(t, "zero", "");
	fl_tree_free(t);
}

/* Payloads are written next to the archives so the test compares bytes it
 * did not produce itself: text (compresses well) and bytes (mostly not). */
static const char *py_methods =
	"import zipfile, sys, random\n"
	"d = sys.argv[1]\n"
	"rnd = random.Random(7)\n"
	"small = ''.join('line %d of bzip2 %d\\n' % (i, rnd.randrange(1000))\n"
	"                for i in range(3000)).encode()\n"
	"noise = bytes(rnd.randrange(256) for _ in range(70000))\n"
	"big = b''.join(b'big %d %d\\n' % (i, rnd.randrange(10**6)) for i in range(330000))\n"
	"assert len(big) > 4 << 20\n"
	"for n, b in (('small', small), ('noise', noise), ('big', big)):\n"
	"    open(d + '/p_' + n, 'wb').write(b)\n"
	"with zipfile.ZipFile(d + '/meth.zip', 'w') as z:\n"
	"    z.writestr('b.txt', small, compress_type=zipfile.ZIP_BZIP2)\n"
	"    z.writestr('noise.bz2', noise, compress_type=zipfile.ZIP_BZIP2)\n"
	"    z.writestr('empty.bz2', b'', compress_type=zipfile.ZIP_BZIP2)\n"
	"    z.writestr('big.bz2', big, compress_type=zipfile.ZIP_BZIP2)\n"
	"    z.writestr('l.txt', small, compress_type=zipfile.ZIP_LZMA)\n"
	"    z.writestr('s.txt', small, compress_type=zipfile.ZIP_STORED)\n"
	"    z.writestr('d.txt', small, compress_type=zipfile.ZIP_DEFLATED)\n"
	"for i in z.infolist():\n"
	"    want = {'b.txt': 12, 'noise.bz2': 12, 'empty.bz2': 12, 'big.bz2': 12,\n"
	"            'l.txt': 14, 's.txt': 0, 'd.txt': 8}[i.filename]\n"
	"    assert i.compress_type == want, i.filename\n";

static char *payload(const char *name, size_t *ret_len)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/p_%s", tmp, name);
	return slurp(path, ret_len);
}

/* Open descriptors of this process; *ret_inherit counts those without
 * FD_CLOEXEC. */
static int count_fds(int *ret_inherit)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0, inherit = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		n++;
		inherit += !(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	closedir(d);
	*ret_inherit = inherit;
	return n;
}

/* Every entry of meth.zip (or a copy with data in front) byte for byte. */
static void assert_methods(const char *archive)
{
	size_t slen, nlen, blen;
	char *small = payload("small", &slen), *noise = payload("noise", &nlen);
	char *big = payload("big", &blen), buf[1000];
	int inherit0, inherit1, fds0 = count_fds(&inherit0);
	struct fl_tree *t = open_tree(archive);
	uint64_t node, fh;

	cr_assert_str_eq(listing(t, ""), "b.txt,big.bz2,d.txt,empty.bz2,l.txt,noise.bz2,s.txt");
	cr_assert_eq(stat_of(t, "b.txt").st_size, (off_t)slen);
	cr_assert_eq(stat_of(t, "big.bz2").st_size, (off_t)blen);
	assert_content(t, "b.txt", small, slen);
	assert_content(t, "b.txt", small, slen); /* again, from the cache */
	assert_content(t, "noise.bz2", noise, nlen);
	assert_content(t, "empty.bz2", "", 0);
	assert_content(t, "big.bz2", big, blen);
	assert_content(t, "s.txt", small, slen);
	assert_content(t, "d.txt", small, slen);
	if (fl_zip_other_supported(14)) {
		assert_content(t, "l.txt", small, slen);
	} else {
		node = must_lookup(t, "l.txt");
		cr_assert_eq(stat_of(t, "l.txt").st_size, (off_t)slen);
		cr_assert_eq(t->ops->open(t, node, &fh), -EIO);
		cr_assert_eq(t->ops->read(t, node, 0, buf, sizeof(buf), 0), -EIO);
	}
	/* The large entry streams: backwards and forwards on one handle, and
	 * without a handle. */
	node = must_lookup(t, "big.bz2");
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), blen - 10), 10);
	cr_assert_eq(memcmp(buf, big + blen - 10, 10), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), blen), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), 123456), sizeof(buf));
	cr_assert_eq(memcmp(buf, big + 123456, sizeof(buf)), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), 5), sizeof(buf));
	cr_assert_eq(memcmp(buf, big + 5, sizeof(buf)), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), 3000000), sizeof(buf));
	cr_assert_eq(memcmp(buf, big + 3000000, sizeof(buf)), 0);
	t->ops->release(t, node, fh);
	cr_assert_eq(t->ops->read(t, node, 0, buf, sizeof(buf), 4000000), sizeof(buf));
	cr_assert_eq(memcmp(buf, big + 4000000, sizeof(buf)), 0);
	/* libzip reads a close-on-exec duplicate of the archive descriptor. */
	cr_assert_eq(count_fds(&inherit1), fds0 + 2);
	cr_assert_eq(inherit1, inherit0);
	fl_tree_free(t);
	cr_assert_eq(count_fds(&inherit1), fds0, "the tree closes both");
	free(small);
	free(noise);
	free(big);
}

Test(zip, bzip2_lzma_stored_deflated)
{
	struct fl_zipcd *cd;

	cr_assert(fl_zip_other_supported(12), "libzip without bzip2 (Debian 12's has it)");
	cr_assert_not(fl_zip_other_supported(0));
	cr_assert_not(fl_zip_other_supported(8));
	cr_assert_not(fl_zip_other_supported(99));
	py(py_methods);
	assert_methods("meth.zip");
	/* Data in front, offsets not adjusted (libzip is told where the zip
	 * starts) and adjusted by zip -A (absolute offsets). */
	cr_assert_eq(fl_test_sh("cd '%s' && head -c 3000 /dev/urandom > stub && "
				"cat stub meth.zip > sfx.zip && cp sfx.zip sfxA.zip && "
				"zip -qA sfxA.zip", tmp), 0);
	cd = read_cd("sfx.zip");
	cr_assert_eq(cd->prefix, 3000);
	fl_zipcd_free(cd);
	cd = read_cd("sfxA.zip");
	cr_assert_eq(cd->prefix, 0);
	fl_zipcd_free(cd);
	assert_methods("sfx.zip");
	assert_methods("sfxA.zip");
}

Test(zip, unknown_method_is_eio)
{
	struct fl_tree *t;
	uint64_t node, fh;
	char buf[64];

	/* Method 99 (AES in WinZip's scheme, here without the encryption bit)
	 * patched into both headers of a stored entry. */
	py("import zipfile, sys, struct\n"
	   "p = sys.argv[1] + '/m99.zip'\n"
	   "with zipfile.ZipFile(p, 'w') as z:\n"
	   "    z.writestr('u.txt', 'unknown method', compress_type=zipfile.ZIP_STORED)\n"
	   "    z.writestr('ok.txt', 'fine', compress_type=zipfile.ZIP_DEFLATED)\n"
	   "    info = z.getinfo('u.txt')\n"
	   "b = bytearray(open(p, 'rb').read())\n"
	   "lh = info.header_offset\n"
	   "assert b[lh:lh + 4] == b'PK\\x03\\x04'\n"
	   "b[lh + 8:lh + 10] = struct.pack('<H', 99)\n"
	   "ch = b.index(b'PK\\x01\\x02')\n"
	   "while b[ch + 46:ch + 51] != b'u.txt':\n"
	   "    ch = b.index(b'PK\\x01\\x02', ch + 4)\n"
	   "b[ch + 10:ch + 12] = struct.pack('<H', 99)\n"
	   "open(p, 'wb').write(b)\n");
	t = open_tree("m99.zip");
	cr_assert_str_eq(listing(t, ""), "ok.txt,u.txt");
	cr_assert_eq(stat_of(t, "u.txt").st_size, 14);
	node = must_lookup(t, "u.txt");
	cr_assert_eq(t->ops->open(t, node, &fh), -EIO);
	cr_assert_eq(t->ops->read(t, node, 0, buf, sizeof(buf), 0), -EIO);
	assert_text(t, "ok.txt", "fine");
	fl_tree_free(t);
}

/* Found by fuzz_zip (tests/fuzz-regress/zip/symlink-nul): a symlink
 * target with a NUL byte in it was returned with its full length, longer
 * than the string the FUSE layer and extraction use. */
Test(zip, symlink_target_with_nul_is_eio)
{
	struct fl_tree *t;
	char buf[64];

	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/nul.zip', 'w') as z:\n"
	   "    for name, target in (('bad', b'ok\\0../../etc/passwd'), ('good', b'ok')):\n"
	   "        zi = zipfile.ZipInfo(name)\n"
	   "        zi.create_system = 3\n"
	   "        zi.external_attr = 0o120777 << 16\n"
	   "        z.writestr(zi, target)\n");
	t = open_tree("nul.zip");
	cr_assert(S_ISLNK(stat_of(t, "bad").st_mode));
	cr_assert_eq(t->ops->readlink(t, must_lookup(t, "bad"), buf, sizeof(buf)), -EIO);
	cr_assert_eq(t->ops->readlink(t, must_lookup(t, "good"), buf, sizeof(buf)), 2);
	cr_assert_str_eq(buf, "ok");
	fl_tree_free(t);
}

Test(zip, archive_libzip_refuses_is_eio)
{
	struct fl_tree *t;
	uint64_t node, fh;
	char buf[64];
	int inherit, fds0 = count_fds(&inherit);

	/* A malformed extra field: our reader lists the archive, libzip 1.7.3
	 * calls it inconsistent, so only its bzip2 entries fail. */
	py("import zipfile, sys\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/badx.zip', 'w') as z:\n"
	   "    i = zipfile.ZipInfo('x.bz2')\n"
	   "    i.compress_type = zipfile.ZIP_BZIP2\n"
	   "    i.extra = b'\\x99\\x99\\x10\\x00ab'\n"
	   "    z.writestr(i, b'x' * 100)\n"
	   "    z.writestr('y.bz2', b'y' * 100, compress_type=zipfile.ZIP_BZIP2)\n"
	   "    z.writestr('d.txt', 'deflated', compress_type=zipfile.ZIP_DEFLATED)\n");
	t = open_tree("badx.zip");
	cr_assert_str_eq(listing(t, ""), "d.txt,x.bz2,y.bz2");
	node = must_lookup(t, "y.bz2");
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), 0), -EIO);
	cr_assert_eq(t->ops->read(t, node, fh, buf, sizeof(buf), 0), -EIO);
	t->ops->release(t, node, fh);
	cr_assert_eq(t->ops->read(t, must_lookup(t, "x.bz2"), 0, buf, sizeof(buf), 0), -EIO);
	assert_text(t, "d.txt", "deflated");
	fl_tree_free(t);
	cr_assert_eq(count_fds(&inherit), fds0, "the refused duplicate is closed");
}

/* Damage meth.zip's bzip2 entries: payload bytes, then the CRC in both
 * headers (the data decodes but is not what the directory promised). */
static const char *py_damage =
	"import zipfile, sys, struct\n"
	"d = sys.argv[1]\n"
	"src = open(d + '/meth.zip', 'rb').read()\n"
	"def data_off(b, info):\n"
	"    lh = info.header_offset\n"
	"    n, x = struct.unpack('<HH', b[lh + 26:lh + 30])\n"
	"    return lh + 30 + n + x\n"
	"z = zipfile.ZipFile(d + '/meth.zip')\n"
	"b = bytearray(src)\n"
	"for name in ('b.txt', 'big.bz2'):\n"
	"    i = z.getinfo(name)\n"
	"    o = data_off(b, i) + i.compress_size // 2\n"
	"    b[o:o + 8] = bytes(x ^ 0x5a for x in b[o:o + 8])\n"
	"open(d + '/flip.zip', 'wb').write(b)\n"
	"b = bytearray(src)\n"
	"for name in ('b.txt', 'big.bz2'):\n"
	"    i = z.getinfo(name)\n"
	"    crc = struct.pack('<I', i.CRC ^ 1)\n"
	"    b[i.header_offset + 14:i.header_offset + 18] = crc\n"
	"    ch = b.index(b'PK\\x01\\x02', z.start_dir)\n"
	"    while b[ch + 46:ch + 46 + len(name)] != name.encode():\n"
	"        ch = b.index(b'PK\\x01\\x02', ch + 4)\n"
	"    b[ch + 16:ch + 20] = crc\n"
	"open(d + '/crc.zip', 'wb').write(b)\n"
	"try:\n"
	"    zipfile.ZipFile(d + '/crc.zip').read('b.txt')\n"
	"    raise SystemExit('python read a bad CRC')\n"
	"except zipfile.BadZipFile:\n"
	"    pass\n";

static void assert_damaged(const char *archive)
{
	struct fl_tree *t = open_tree(archive);
	uint64_t node, fh;
	char *buf = NULL, small[100];
	size_t len, blen;
	char *noise = payload("noise", &len), *big = payload("big", &blen);

	cr_assert_eq(read_all(t, must_lookup(t, "b.txt"), &buf), -EIO, "%s", archive);
	cr_assert_eq(read_all(t, must_lookup(t, "b.txt"), &buf), -EIO, "not cached");
	cr_assert_eq(read_all(t, must_lookup(t, "big.bz2"), &buf), -EIO, "%s", archive);
	node = must_lookup(t, "big.bz2");
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	/* Before the damage: fine; across it: EIO, each time. */
	cr_assert_eq(t->ops->read(t, node, fh, small, sizeof(small), 0), sizeof(small));
	cr_assert_eq(memcmp(small, big, sizeof(small)), 0);
	cr_assert_eq(t->ops->read(t, node, fh, small, sizeof(small), blen - 100), -EIO);
	cr_assert_eq(t->ops->read(t, node, fh, small, sizeof(small), blen - 100), -EIO);
	t->ops->release(t, node, fh);
	/* The intact entries of the same archive still read. */
	assert_content(t, "noise.bz2", noise, len);
	assert_text(t, "empty.bz2", "");
	free(noise);
	free(big);
	fl_tree_free(t);
}

Test(zip, damaged_bzip2_is_eio)
{
	py(py_methods);
	py(py_damage);
	assert_damaged("flip.zip");
	assert_damaged("crc.zip");
}

struct bz_reader {
	struct fl_tree *t;
	const char *small, *big;
	size_t slen, blen;
	int bad;
};

/* Interleave chunked reads of the large bzip2 entry (its own cursor) with
 * whole reads of the small ones (the cache): all on one zip_t. */
static void *bz_reader_main(void *arg)
{
	struct bz_reader *r = arg;
	uint64_t node = 0, fh = 0, off = 0;
	char buf[65536];

	if (r->t->ops->lookup(r->t, FL_TREE_ROOT, "big.bz2", &node) < 0 ||
	    r->t->ops->open(r->t, node, &fh) < 0) {
		r->bad++;
		return NULL;
	}
	for (int i = 0; off < r->blen; i++) {
		ssize_t n = r->t->ops->read(r->t, node, fh, buf, sizeof(buf), off);
		char *s = NULL;
		uint64_t sn;

		if (n <= 0 || memcmp(buf, r->big + off, (size_t)n) != 0) {
			r->bad++;
			break;
		}
		off += (uint64_t)n;
		if (i % 8 == 0 && (r->t->ops->lookup(r->t, FL_TREE_ROOT, "b.txt", &sn) < 0 ||
				   read_all(r->t, sn, &s) != (ssize_t)r->slen ||
				   memcmp(s, r->small, r->slen) != 0))
			r->bad++;
		free(s);
	}
	r->t->ops->release(r->t, node, fh);
	return NULL;
}

Test(zip, concurrent_bzip2_reads)
{
	struct bz_reader rd[4];
	pthread_t th[4];
	struct fl_tree *t;
	size_t slen, blen;
	char *small, *big;

	py(py_methods);
	small = payload("small", &slen);
	big = payload("big", &blen);
	t = open_tree("meth.zip");
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct bz_reader){ .t = t, .small = small, .big = big, .slen = slen,
					    .blen = blen };
		cr_assert_eq(pthread_create(&th[i], NULL, bz_reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(rd[i].bad, 0, "thread %d: %d bad reads", i, rd[i].bad);
	}
	fl_tree_free(t);
	free(small);
	free(big);
}

static bool walk_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
		      uint64_t next)
{
	cr_assert(name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, ".."),
		  "bad name '%s'", name);
	return collect(ctx, name, node, st, next);
}

static bool ok_errno(ssize_t r)
{
	return r >= 0 || r == -EIO || r == -EACCES || r == -ERANGE;
}

/* Visit everything under @dir: every op must answer 0 or a sane -errno. */
static int walk(struct fl_tree *t, uint64_t dir, int depth)
{
	struct names ns = { 0 };
	int errors = 0;

	cr_assert_lt(depth, 40);
	cr_assert_eq(t->ops->readdir(t, dir, 0, walk_fill, &ns), 0);
	for (int i = 0; i < ns.n; i++) {
		char *buf = NULL, link[4096];
		uint64_t again;
		struct stat st;
		ssize_t r;

		cr_assert_eq(t->ops->lookup(t, dir, ns.name[i], &again), 0);
		cr_assert_eq(again, ns.node[i]);
		cr_assert_eq(t->ops->getattr(t, ns.node[i], &st), 0);
		if (S_ISDIR(st.st_mode)) {
			errors += walk(t, ns.node[i], depth + 1);
			continue;
		}
		if (S_ISLNK(st.st_mode))
			r = t->ops->readlink(t, ns.node[i], link, sizeof(link));
		else
			r = read_all_chunk(t, ns.node[i], &buf, 50000);
		cr_assert(ok_errno(r), "%s: %zd", ns.name[i], r);
		errors += r < 0;
		free(buf);
	}
	return errors;
}

/* Write @len bytes of @data as @path, open it as a tree and walk it.
 * Returns -1 when open failed, else the number of failed reads. */
static int try_archive(const char *path, const char *data, size_t len)
{
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	int fd, r;

	fl_test_write(path, data, len);
	fd = fl_test_open(path);
	r = fl_zip_tree_open(fd, NULL, &t, &err);
	if (r < 0) {
		cr_assert(err.msg[0] && err.errnum == -r, "failure without a message");
		cr_assert_neq(fcntl(fd, F_GETFD), -1, "fd must stay open on failure");
		close(fd);
		return -1;
	}
	r = walk(t, FL_TREE_ROOT, 0);
	fl_tree_free(t);
	return r;
}

Test(zip, truncated_and_bit_flipped_archives, .timeout = 600)
{
	char path[PATH_MAX + 16], *orig, *copy;
	int opened = 0, failed_reads = 0, refused = 0;
	size_t len;

	make_src();
	cr_assert_eq(fl_test_sh("cd '%s/src' && zip -qry ../d.zip . && "
				"zip -q0 ../d.zip zero run.sh", tmp), 0);
	snprintf(path, sizeof(path), "%s/d.zip", tmp);
	orig = slurp(path, &len);
	snprintf(path, sizeof(path), "%s/bad.zip", tmp);
	cr_assert_eq(try_archive(path, orig, len), 0, "the intact archive reads cleanly");
	for (size_t cut = 0; cut < len; cut++) {
		int r = try_archive(path, orig, cut);

		refused += r < 0;
	}
	cr_assert_geq(refused, (int)len - 22, "a truncated zip loses its end record");
	copy = malloc(len);
	for (size_t pos = 0; pos < len; pos++) {
		for (int bit = 0; bit < 8; bit += 3) {
			int r;

			memcpy(copy, orig, len);
			copy[pos] ^= (char)(1 << bit);
			r = try_archive(path, copy, len);
			opened += r >= 0;
			failed_reads += r > 0;
		}
	}
	fprintf(stderr, "bit flips: %zu archives, %d opened, %d with failed reads\n", len * 3,
		opened, failed_reads);
	cr_assert_gt(failed_reads, 100, "flips in deflated data must be caught (CRC/zlib)");
	free(copy);
	free(orig);
}

Test(zip, not_a_zip_and_fd_ownership)
{
	char path[PATH_MAX + 16], junk[70000];
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + (i >> 8));
	snprintf(path, sizeof(path), "%s/junk", tmp);
	fl_test_write(path, junk, sizeof(junk));
	fd = fl_test_open(path);
	cr_assert_eq(fl_zip_tree_open(fd, NULL, &t, &err), -EINVAL);
	cr_assert(strstr(err.msg, "not a zip"), "%s", err.msg);
	cr_assert_neq(fcntl(fd, F_GETFD), -1);
	close(fd);
	py("import zipfile, sys\nzipfile.ZipFile(sys.argv[1] + '/e.zip', 'w').close()\n");
	snprintf(path, sizeof(path), "%s/e.zip", tmp);
	fd = fl_test_open(path);
	cr_assert_eq(fl_zip_tree_open(fd, NULL, &t, &err), 0);
	fl_tree_free(t);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the tree closes its fd");
	fl_tree_free(NULL);
}

Test(zip, bad_ids_and_wrong_types)
{
	struct fl_tree *t;
	struct names ns = { 0 }, rest = { 0 };
	uint64_t node, fh;
	struct stat st;
	char buf[64];

	make_src();
	cr_assert_eq(fl_test_sh("cd '%s/src' && zip -qry ../a.zip .", tmp), 0);
	t = open_tree("a.zip");
	cr_assert_eq(t->ops->getattr(t, 0, &st), -ENOENT);
	cr_assert_eq(t->ops->getattr(t, 1000000, &st), -ENOENT);
	cr_assert_eq(t->ops->getattr(t, UINT64_MAX, &st), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, 999999, "x", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, FL_TREE_ROOT, "nope", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, must_lookup(t, "hello.txt"), "x", &node), -ENOTDIR);
	cr_assert_eq(t->ops->readdir(t, must_lookup(t, "hello.txt"), 0, collect, &ns), -ENOTDIR);
	cr_assert_eq(t->ops->open(t, must_lookup(t, "sub"), &fh), -EISDIR);
	cr_assert_eq(t->ops->open(t, 0, &fh), -ENOENT);
	cr_assert_eq(t->ops->readlink(t, must_lookup(t, "hello.txt"), buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(t->ops->read(t, 12345678, 0, buf, 1, 0), -ENOENT);
	/* Cookies resume after the entry they were given with. */
	cr_assert_eq(t->ops->readdir(t, FL_TREE_ROOT, 0, collect, &ns), 0);
	cr_assert_eq(ns.n, 5);
	cr_assert_eq(t->ops->readdir(t, FL_TREE_ROOT, ns.cookie[1], collect, &rest), 0);
	cr_assert_eq(rest.n, 3);
	cr_assert_str_eq(rest.name[0], ns.name[2]);
	rest.n = 0;
	cr_assert_eq(t->ops->readdir(t, FL_TREE_ROOT, ns.cookie[4], collect, &rest), 0);
	cr_assert_eq(rest.n, 0);
	cr_assert_null(t->ops->listxattr);
	fl_tree_free(t);
}

/* Deterministic compressible text for file @k. */
static char *gen_text(size_t len, int k)
{
	char *p = malloc(len);
	size_t n = 0;
	uint32_t x = 2463534242u + (uint32_t)k;

	while (n < len) {
		char line[64];
		int m;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		m = snprintf(line, sizeof(line), "file %d line %zu value %u\n", k, n, x % 1000);
		for (int i = 0; i < m && n < len; i++)
			p[n++] = line[i];
	}
	return p;
}

static void write_files(int count, size_t len, char **data)
{
	char path[PATH_MAX + 32];

	fl_test_mkdirs(tmp);
	for (int k = 0; k < count; k++) {
		data[k] = gen_text(len + (size_t)k * 1000, k);
		snprintf(path, sizeof(path), "%s/f/%02d", tmp, k);
		if (k == 0) {
			char d[PATH_MAX + 8];

			snprintf(d, sizeof(d), "%s/f", tmp);
			fl_test_mkdirs(d);
		}
		fl_test_write(path, data[k], len + (size_t)k * 1000);
	}
}

Test(zip, lru_cache_eviction_keeps_content)
{
	char *data[20], name[16];
	struct fl_tree *t;

	write_files(20, (size_t)3500 << 10, data);
	cr_assert_eq(fl_test_sh("cd '%s/f' && zip -q ../lru.zip *", tmp), 0);
	t = open_tree("lru.zip");
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < 20; k++) {
			snprintf(name, sizeof(name), "%02d", k);
			assert_content(t, name, data[k], ((size_t)3500 << 10) + (size_t)k * 1000);
		}
	}
	for (int k = 0; k < 20; k++)
		free(data[k]);
	fl_tree_free(t);
}

struct reader {
	struct fl_tree *t;
	char **data;
	size_t *len;
	int nfiles;
	uint32_t seed;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char buf[20000];

	for (int i = 0; i < 400; i++) {
		char name[16];
		uint64_t node, fh, off;
		int k;
		ssize_t n;

		r->seed = r->seed * 1103515245u + 12345u;
		k = (int)((r->seed >> 8) % (uint32_t)r->nfiles);
		off = ((uint64_t)r->seed * 2654435761u) % r->len[k];
		snprintf(name, sizeof(name), "%02d", k);
		if (r->t->ops->lookup(r->t, FL_TREE_ROOT, name, &node) < 0 ||
		    r->t->ops->open(r->t, node, &fh) < 0) {
			r->bad++;
			continue;
		}
		n = r->t->ops->read(r->t, node, fh, buf, sizeof(buf), off);
		if (n != (ssize_t)(r->len[k] - off < sizeof(buf) ? r->len[k] - off : sizeof(buf)) ||
		    memcmp(buf, r->data[k] + off, (size_t)n) != 0)
			r->bad++;
		r->t->ops->release(r->t, node, fh);
	}
	return NULL;
}

Test(zip, concurrent_reads)
{
	char *data[6];
	size_t len[6];
	struct reader rd[4];
	pthread_t th[4];
	struct fl_tree *t;

	write_files(5, 300000, data);
	data[5] = gen_text((size_t)12 << 20, 5);
	len[5] = (size_t)12 << 20;
	for (int k = 0; k < 5; k++)
		len[k] = 300000 + (size_t)k * 1000;
	{
		char path[PATH_MAX + 16];

		snprintf(path, sizeof(path), "%s/f/05", tmp);
		fl_test_write(path, data[5], len[5]);
	}
	cr_assert_eq(fl_test_sh("cd '%s/f' && zip -q ../c.zip 00 01 02 05 && zip -q0 ../c.zip 03 04",
				tmp), 0);
	t = open_tree("c.zip");
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .t = t, .data = data, .len = len, .nfiles = 6,
					 .seed = 99u + (uint32_t)i };
		cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(rd[i].bad, 0, "thread %d: %d bad reads", i, rd[i].bad);
	}
	assert_content(t, "05", data[5], len[5]);
	for (int k = 0; k < 6; k++)
		free(data[k]);
	fl_tree_free(t);
}

Test(zip, end_record_signature_inside_comment)
{
	struct fl_tree *t;

	py("import zipfile, sys\n"
	   "fake = b'PK\\x05\\x06' + bytes(18)\n"
	   "with zipfile.ZipFile(sys.argv[1] + '/cmt.zip', 'w') as z:\n"
	   "    z.writestr('real.txt', 'real')\n"
	   "    z.comment = b'note ' + fake + b' tail'\n"
	   "with open(sys.argv[1] + '/junk-after.zip', 'wb') as f:\n"
	   "    f.write(open(sys.argv[1] + '/cmt.zip', 'rb').read() + b'trailing junk')\n");
	t = open_tree("cmt.zip");
	cr_assert_str_eq(listing(t, ""), "real.txt");
	assert_text(t, "real.txt", "real");
	fl_tree_free(t);
	t = open_tree("junk-after.zip");
	cr_assert_str_eq(listing(t, ""), "real.txt");
	assert_text(t, "real.txt", "real");
	fl_tree_free(t);
}
