/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the squashfs backend (fusefs/sqfs_tree.c), through the tree
 * interface only.  Images are made at test time with mksquashfs from real
 * trees; damaged images are made by truncating, flipping bits and patching
 * fields, and must give clean errors, never a crash.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/sqfs_tree.h"
#include "tests/unit/helpers.h"

#define BIG_SIZE (5u << 20)
#define SPARSE_SIZE (100u << 20)
#define MID_OFF (50u << 20)

static char tmp[PATH_MAX];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "%s", fl_test_tmpdir());
}

static void teardown(void)
{
	fl_test_rmtree(tmp);
}

TestSuite(sqfs, .init = setup, .fini = teardown, .timeout = 300);

/* ---- helpers ----------------------------------------------------------- */

static char *path_of(const char *rel)
{
	static char bufs[32][PATH_MAX];
	static int n;
	char *p = bufs[n++ % 32];
	int len = snprintf(p, PATH_MAX, "%s/%s", tmp, rel);

	cr_assert(len > 0 && len < PATH_MAX);
	return p;
}

static void mksquashfs(const char *src, const char *img, const char *opts)
{
	cr_assert_eq(fl_test_sh("mksquashfs '%s' '%s' -noappend -no-progress -quiet %s >/dev/null",
				src, img, opts),
		     0, "mksquashfs %s", opts);
}

static void *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*ret_len = (size_t)len;
	return buf;
}

static unsigned char *random_bytes(size_t len, unsigned int seed)
{
	unsigned char *p = malloc(len);
	size_t i;

	cr_assert_not_null(p);
	srand(seed);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(rand() >> 7);
	return p;
}

/* Open the image at @path; returns the error (negative) or 0 with *ret set. */
static int try_open(const char *path, uint64_t offset, struct fl_tree **ret, struct fl_error *err)
{
	int fd = fl_test_open(path);
	int r;

	fl_error_clear(err);
	r = fl_sqfs_tree_open(fd, offset, NULL, ret, err);
	if (r < 0) {
		cr_assert(err->errnum > 0 && err->msg[0], "error object filled");
		cr_assert_eq(r, -err->errnum);
		close(fd);
	}
	return r;
}

static struct fl_tree *open_tree(const char *path, uint64_t offset)
{
	struct fl_tree *t = NULL;
	struct fl_error err;
	int r = try_open(path, offset, &t, &err);

	cr_assert_eq(r, 0, "open %s: %s", path, err.msg);
	return t;
}

static uint64_t lookup_path(struct fl_tree *t, const char *path)
{
	char buf[PATH_MAX], *save = NULL, *comp;
	uint64_t node = FL_TREE_ROOT;

	snprintf(buf, sizeof(buf), "%s", path);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int r = t->ops->lookup(t, node, comp, &node);

		cr_assert_eq(r, 0, "lookup %s in %s: %d", comp, path, r);
	}
	return node;
}

static void stat_path(struct fl_tree *t, const char *path, struct stat *st)
{
	cr_assert_eq(t->ops->getattr(t, lookup_path(t, path), st), 0, "getattr %s", path);
}

/* Whole contents of a regular file, read in @chunk-byte pieces. */
static char *read_node(struct fl_tree *t, uint64_t node, size_t chunk, size_t *ret_len)
{
	struct stat st;
	uint64_t fh;
	size_t len = 0;
	char *buf;
	ssize_t n;

	cr_assert_eq(t->ops->getattr(t, node, &st), 0);
	buf = malloc((size_t)st.st_size + chunk);
	cr_assert_not_null(buf);
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	while ((n = t->ops->read(t, node, fh, buf + len, chunk, len)) > 0)
		len += (size_t)n;
	cr_assert_eq(n, 0, "read: %zd", n);
	t->ops->release(t, node, fh);
	cr_assert_eq(len, (size_t)st.st_size);
	*ret_len = len;
	return buf;
}

static void assert_contents(struct fl_tree *t, const char *path, const void *want, size_t len)
{
	size_t got_len;
	char *got = read_node(t, lookup_path(t, path), 65536, &got_len);

	cr_assert_eq(got_len, len, "%s: %zu bytes, want %zu", path, got_len, len);
	cr_assert(memcmp(got, want, len) == 0, "%s: contents differ", path);
	free(got);
}

struct ent {
	char name[257];
	uint64_t node;
	struct stat st;
	uint64_t next;
};

struct list {
	struct ent *v;
	size_t n, cap, limit;
};

static bool collect(void *ctx, const char *name, uint64_t node, const struct stat *st,
		    uint64_t next_off)
{
	struct list *l = ctx;

	if (l->limit && l->n >= l->limit)
		return true;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		cr_assert_not_null(l->v);
	}
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->v[l->n].node = node;
	l->v[l->n].st = *st;
	l->v[l->n].next = next_off;
	l->n++;
	return false;
}

static struct list list_dir(struct fl_tree *t, uint64_t dir)
{
	struct list l = { 0 };

	cr_assert_eq(t->ops->readdir(t, dir, 0, collect, &l), 0);
	return l;
}

/* ---- the reference tree ------------------------------------------------ */

static unsigned char *big;

/* Which xattr namespaces the scratch file system let us set: user.* needs
 * a file system that has them, trusted.* and security.* need root. */
static bool have_user_xattrs, have_root_xattrs;

static bool set_xattr(const char *path, const char *name, const void *val, size_t len)
{
	return lsetxattr(path, name, val, len, 0) == 0;
}

static void build_src(const char *src_arg, bool with_big)
{
	char longval[3000], src[PATH_MAX];

	snprintf(src, sizeof(src), "%s", src_arg);
	fl_test_mkdirs(src);
	cr_assert_eq(fl_test_sh("mkdir -p '%s/sub/deep/nested' '%s/empty_dir'", src, src), 0);
	fl_test_write(path_of("src/hello.txt"), "hello, world\n", 13);
	fl_test_write(path_of("src/sub/deep/nested/file.txt"), "nested\n", 7);
	fl_test_write(path_of("src/empty"), "", 0);
	fl_test_write(path_of("src/café.txt"), "unicode\n", 8);
	fl_test_write(path_of("src/日本語"), "nihongo\n", 8);
	fl_test_write(path_of("src/hard1"), "hard link\n", 10);
	cr_assert_eq(link(path_of("src/hard1"), path_of("src/sub/hard2")), 0);
	cr_assert_eq(symlink("hello.txt", path_of("src/link")), 0);
	cr_assert_eq(symlink("/nonexistent/target", path_of("src/sub/dangling")), 0);
	cr_assert_eq(mkfifo(path_of("src/fifo"), 0600), 0);
	/* Owner and set-id mode come from a pseudo definition (no root). */
	cr_assert_eq(fl_test_sh("touch -h -d @1234567890 '%s/hello.txt'", src), 0);
	have_user_xattrs = set_xattr(path_of("src/hello.txt"), "user.color", "blue", 4);
	have_root_xattrs = set_xattr(path_of("src/hello.txt"), "trusted.t", "tv", 2) &&
			   set_xattr(path_of("src/hello.txt"), "security.s", "sv", 2);
	/* The same long value in two different sets: mksquashfs stores the
	 * second one out of line. */
	memset(longval, 'x', sizeof(longval));
	have_user_xattrs &=
		set_xattr(path_of("src/hello.txt"), "user.long", longval, sizeof(longval)) &&
		set_xattr(path_of("src/sub/deep/nested/file.txt"), "user.long", longval,
			  sizeof(longval));
	if (with_big) {
		big = random_bytes(BIG_SIZE, 42);
		fl_test_write(path_of("src/big.bin"), big, BIG_SIZE);
		cr_assert_eq(fl_test_sh("truncate -s %u '%s/sparse' && printf MIDDLE |"
					" dd of='%s/sparse' bs=1 seek=%u conv=notrunc status=none",
					SPARSE_SIZE, src, src, MID_OFF),
			     0);
	}
}

static const char *pseudo_defs = "-p 'chr c 644 0 0 1 3' -p 'blk b 640 0 0 8 1'"
				  " -p 'hello.txt m 4755 1234 5678'";

static const char *build_image(const char *comp, bool with_big)
{
	static char img[PATH_MAX];
	char opts[256];

	snprintf(img, sizeof(img), "%s", path_of("img.sqfs"));
	build_src(path_of("src"), with_big);
	snprintf(opts, sizeof(opts), "-comp %s %s", comp, pseudo_defs);
	mksquashfs(path_of("src"), img, opts);
	return img;
}

/* ---- full walk (also used on damaged images) ---------------------------- */

struct walk_stats {
	size_t nodes, errors;
	size_t budget; /* nodes left to visit */
};

static void assert_errno(long r, const char *what)
{
	cr_assert(r <= 0 && r >= -4095, "%s returned %ld", what, r);
}

static void walk_file(struct fl_tree *t, uint64_t node, const struct stat *st,
		      struct walk_stats *ws)
{
	char *buf;
	uint64_t fh, off = 0;
	ssize_t n = 0;
	int r = t->ops->open(t, node, &fh);

	assert_errno(r, "open");
	if (r < 0) {
		ws->errors++;
		return;
	}
	buf = malloc(1 << 16);
	cr_assert_not_null(buf);
	/* At most 8 MiB: a damaged size may claim exabytes of holes. */
	while (off < (8u << 20) && (n = t->ops->read(t, node, fh, buf, 1 << 16, off)) > 0) {
		cr_assert_leq((size_t)n, 1 << 16);
		off += (uint64_t)n;
	}
	assert_errno(n > 0 ? 0 : n, "read");
	if (st->st_size > 65536) {
		n = t->ops->read(t, node, fh, buf, 1 << 16, (uint64_t)st->st_size - 65536);
		assert_errno(n < 0 ? n : 0, "read tail");
	}
	t->ops->release(t, node, fh);
	free(buf);
}

static void walk_node(struct fl_tree *t, uint64_t node, int depth, struct walk_stats *ws);

static void walk_entry(struct fl_tree *t, uint64_t dir, const struct ent *e, int depth,
		       struct walk_stats *ws)
{
	char buf[8192];
	uint64_t found;
	ssize_t n;
	int r;

	r = t->ops->lookup(t, dir, e->name, &found);
	assert_errno(r, "lookup");
	if (r == 0)
		cr_assert_eq(found, e->node, "lookup %s", e->name);
	n = t->ops->listxattr(t, e->node, buf, sizeof(buf));
	assert_errno(n < 0 ? n : 0, "listxattr");
	if (n > 0) {
		char *val = malloc(65536);
		const char *p;

		cr_assert_not_null(val);
		for (p = buf; p < buf + n; p += strlen(p) + 1) {
			ssize_t v = t->ops->getxattr(t, e->node, p, val, 65536);

			assert_errno(v < 0 ? v : 0, "getxattr");
		}
		free(val);
	}
	if (S_ISLNK(e->st.st_mode)) {
		n = t->ops->readlink(t, e->node, buf, sizeof(buf));
		assert_errno(n < 0 ? n : 0, "readlink");
	}
	walk_node(t, e->node, depth + 1, ws);
}

static void walk_node(struct fl_tree *t, uint64_t node, int depth, struct walk_stats *ws)
{
	struct list l = { 0 };
	struct stat st;
	size_t i;
	int r;

	if (ws->budget == 0 || depth > 32)
		return;
	ws->budget--;
	ws->nodes++;
	r = t->ops->getattr(t, node, &st);
	assert_errno(r, "getattr");
	if (r < 0) {
		ws->errors++;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		walk_file(t, node, &st, ws);
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return;
	r = t->ops->readdir(t, node, 0, collect, &l);
	assert_errno(r, "readdir");
	if (r < 0)
		ws->errors++;
	for (i = 0; i < l.n; i++) {
		cr_assert(l.v[i].name[0] && !strchr(l.v[i].name, '/'));
		cr_assert(strcmp(l.v[i].name, ".") && strcmp(l.v[i].name, ".."));
		cr_assert_neq(l.v[i].next, 0);
		walk_entry(t, node, &l.v[i], depth, ws);
	}
	free(l.v);
}

/* Open (if it opens) and walk everything; returns the open result. */
static int robust_walk(const char *img, struct walk_stats *ws)
{
	struct fl_tree *t = NULL;
	struct fl_error err;
	struct statvfs sv;
	int r = try_open(img, 0, &t, &err);

	memset(ws, 0, sizeof(*ws));
	ws->budget = 2000;
	if (r < 0)
		return r;
	cr_assert_eq(t->ops->statfs(t, &sv), 0);
	walk_node(t, FL_TREE_ROOT, 0, ws);
	fl_tree_free(t);
	return 0;
}

/* ---- basic contents ---------------------------------------------------- */

Test(sqfs, contents)
{
	struct fl_tree *t = open_tree(build_image("gzip", true), 0);
	struct stat st, st2;
	char buf[256];

	assert_contents(t, "hello.txt", "hello, world\n", 13);
	assert_contents(t, "sub/deep/nested/file.txt", "nested\n", 7);
	assert_contents(t, "empty", "", 0);
	assert_contents(t, "café.txt", "unicode\n", 8);
	assert_contents(t, "日本語", "nihongo\n", 8);
	assert_contents(t, "sub/hard2", "hard link\n", 10);
	assert_contents(t, "big.bin", big, BIG_SIZE);

	stat_path(t, "hello.txt", &st);
	cr_assert_eq(st.st_mode, S_IFREG | 04755);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	cr_assert_eq(st.st_size, 13);
	cr_assert_eq(st.st_mtim.tv_sec, 1234567890);
	cr_assert_eq(st.st_nlink, 1);

	stat_path(t, "sub/deep", &st);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_nlink, 3);
	cr_assert_eq(t->ops->getattr(t, FL_TREE_ROOT, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));

	stat_path(t, "link", &st);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(st.st_size, 9);
	cr_assert_eq(t->ops->readlink(t, lookup_path(t, "link"), buf, sizeof(buf)), 9);
	cr_assert_str_eq(buf, "hello.txt");
	cr_assert_eq(t->ops->readlink(t, lookup_path(t, "sub/dangling"), buf, sizeof(buf)), 19);
	cr_assert_str_eq(buf, "/nonexistent/target");
	cr_assert_eq(t->ops->readlink(t, lookup_path(t, "link"), buf, 9), -ERANGE);

	stat_path(t, "fifo", &st);
	cr_assert(S_ISFIFO(st.st_mode));
	stat_path(t, "chr", &st);
	cr_assert(S_ISCHR(st.st_mode));
	cr_assert_eq(st.st_rdev, makedev(1, 3));
	stat_path(t, "blk", &st);
	cr_assert(S_ISBLK(st.st_mode));
	cr_assert_eq(st.st_rdev, makedev(8, 1));
	cr_assert_eq(st.st_mode & 07777, 0640);

	stat_path(t, "hard1", &st);
	stat_path(t, "sub/hard2", &st2);
	cr_assert_eq(st.st_ino, st2.st_ino);
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(st2.st_nlink, 2);
	cr_assert_eq(lookup_path(t, "hard1"), lookup_path(t, "sub/hard2"));
	stat_path(t, "big.bin", &st);
	cr_assert_neq(st.st_ino, st2.st_ino);
	fl_tree_free(t);
	free(big);
}

Test(sqfs, readdir_plus_matches_getattr)
{
	struct fl_tree *t = open_tree(build_image("gzip", false), 0);
	const char *want[] = { "blk", "café.txt", "chr", "empty", "empty_dir", "fifo",
			       "hard1", "hello.txt", "link", "sub", "日本語" };
	struct list l = list_dir(t, FL_TREE_ROOT);
	size_t i;

	cr_assert_eq(l.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < l.n; i++) {
		struct stat st;
		uint64_t node;

		/* Byte order, as squashfs stores it. */
		cr_assert_str_eq(l.v[i].name, want[i]);
		cr_assert_eq(l.v[i].next, i + 1);
		cr_assert_eq(t->ops->lookup(t, FL_TREE_ROOT, want[i], &node), 0);
		cr_assert_eq(node, l.v[i].node);
		cr_assert_eq(t->ops->getattr(t, node, &st), 0);
		cr_assert(memcmp(&st, &l.v[i].st, sizeof(st)) == 0, "stat of %s", want[i]);
	}
	free(l.v);
	l = list_dir(t, lookup_path(t, "empty_dir"));
	cr_assert_eq(l.n, 0);
	fl_tree_free(t);
}

Test(sqfs, readdir_cookies)
{
	struct list all = { 0 }, part = { 0 };
	struct fl_tree *t;
	uint64_t dir, off = 0;
	size_t i, rounds = 0;

	fl_test_mkdirs(path_of("src/d"));
	for (i = 0; i < 300; i++) {
		char name[64];

		snprintf(name, sizeof(name), "src/d/file-%03zu", i);
		fl_test_write(path_of(name), name, strlen(name));
	}
	mksquashfs(path_of("src"), path_of("img"), "");
	t = open_tree(path_of("img"), 0);
	dir = lookup_path(t, "d");
	cr_assert_eq(t->ops->readdir(t, dir, 0, collect, &all), 0);
	cr_assert_eq(all.n, 300);
	/* Resume from each batch's last cookie, 7 entries at a time. */
	do {
		size_t before = part.n;

		part.limit = part.n + 7;
		cr_assert_eq(t->ops->readdir(t, dir, off, collect, &part), 0);
		if (part.n == before)
			break;
		off = part.v[part.n - 1].next;
		rounds++;
	} while (rounds < 100);
	cr_assert_eq(part.n, 300);
	for (i = 0; i < 300; i++) {
		char name[64];

		snprintf(name, sizeof(name), "file-%03zu", i);
		cr_assert_str_eq(part.v[i].name, name);
		cr_assert_str_eq(all.v[i].name, name);
	}
	/* Past the end: nothing, no error. */
	part.n = 0;
	part.limit = 0;
	cr_assert_eq(t->ops->readdir(t, dir, 300, collect, &part), 0);
	cr_assert_eq(t->ops->readdir(t, dir, 1u << 30, collect, &part), 0);
	cr_assert_eq(part.n, 0);
	free(all.v);
	free(part.v);
	fl_tree_free(t);
}

Test(sqfs, xattrs)
{
	struct fl_tree *t = open_tree(build_image("gzip", false), 0);
	uint64_t node = lookup_path(t, "hello.txt");
	char names[512], val[4096];
	const char *want = have_root_xattrs ? "user.color\0trusted.t\0security.s\0user.long\0"
					    : "user.color\0user.long\0";
	size_t want_len = have_root_xattrs ? 42 : 21;
	ssize_t n;

	if (!have_user_xattrs) {
		fl_tree_free(t);
		cr_skip_test("the scratch file system has no user.* xattrs");
	}

	n = t->ops->listxattr(t, node, NULL, 0);
	cr_assert_eq(n, (ssize_t)want_len);
	n = t->ops->listxattr(t, node, names, sizeof(names));
	cr_assert_eq(n, (ssize_t)want_len);
	/* Order is the archive's; compare as a set. */
	for (const char *p = want; *p; p += strlen(p) + 1)
		cr_assert(memmem(names, (size_t)n, p, strlen(p) + 1), "missing %s", p);
	cr_assert_eq(t->ops->listxattr(t, node, names, 5), -ERANGE);

	cr_assert_eq(t->ops->getxattr(t, node, "user.color", NULL, 0), 4);
	cr_assert_eq(t->ops->getxattr(t, node, "user.color", val, sizeof(val)), 4);
	cr_assert(memcmp(val, "blue", 4) == 0);
	if (have_root_xattrs) {
		cr_assert_eq(t->ops->getxattr(t, node, "trusted.t", val, sizeof(val)), 2);
		cr_assert(memcmp(val, "tv", 2) == 0);
		cr_assert_eq(t->ops->getxattr(t, node, "security.s", val, sizeof(val)), 2);
		cr_assert(memcmp(val, "sv", 2) == 0);
	} else {
		cr_log_warn("not root: trusted.* and security.* xattrs not tested");
	}
	cr_assert_eq(t->ops->getxattr(t, node, "user.color", val, 3), -ERANGE);
	cr_assert_eq(t->ops->getxattr(t, node, "user.nope", val, sizeof(val)), -ENODATA);
	cr_assert_eq(t->ops->getxattr(t, node, "color", val, sizeof(val)), -ENODATA);
	for (int i = 0; i < 2; i++) {
		node = lookup_path(t, i ? "sub/deep/nested/file.txt" : "hello.txt");
		memset(val, 0, sizeof(val));
		cr_assert_eq(t->ops->getxattr(t, node, "user.long", val, sizeof(val)), 3000);
		cr_assert_eq(strspn(val, "x"), 3000);
	}
	cr_assert_eq(t->ops->listxattr(t, lookup_path(t, "empty"), names, sizeof(names)), 0);
	cr_assert_eq(t->ops->getxattr(t, lookup_path(t, "empty"), "user.a", val, 10), -ENODATA);
	fl_tree_free(t);
}

Test(sqfs, errors_on_wrong_kinds_and_ids)
{
	struct fl_tree *t = open_tree(build_image("gzip", false), 0);
	uint64_t node, fh, file = lookup_path(t, "hello.txt");
	struct stat st;
	char buf[64];

	cr_assert_eq(t->ops->getattr(t, 0, &st), -ENOENT);
	cr_assert_eq(t->ops->getattr(t, UINT64_MAX, &st), -ENOENT);
	cr_assert_eq(t->ops->getattr(t, (1ull << 47) + 5, &st), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, FL_TREE_ROOT, "nope", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, FL_TREE_ROOT, "", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, file, "x", &node), -ENOTDIR);
	cr_assert_eq(t->ops->readdir(t, file, 0, collect, &(struct list){ 0 }), -ENOTDIR);
	cr_assert_eq(t->ops->lookup(t, 0, "x", &node), -ENOENT);
	cr_assert_eq(t->ops->open(t, FL_TREE_ROOT, &fh), -EISDIR);
	cr_assert_eq(t->ops->open(t, lookup_path(t, "link"), &fh), -EINVAL);
	cr_assert_eq(t->ops->open(t, lookup_path(t, "fifo"), &fh), -EINVAL);
	cr_assert_eq(t->ops->readlink(t, file, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(t->ops->read(t, file, 12345, buf, 10, 0), -EBADF);

	cr_assert_eq(t->ops->open(t, file, &fh), 0);
	cr_assert_eq(t->ops->read(t, file, fh, buf, sizeof(buf), 0), 13);
	cr_assert_eq(t->ops->read(t, file, fh, buf, sizeof(buf), 10), 3);
	cr_assert(memcmp(buf, "ld\n", 3) == 0);
	cr_assert_eq(t->ops->read(t, file, fh, buf, sizeof(buf), 13), 0);
	cr_assert_eq(t->ops->read(t, file, fh, buf, sizeof(buf), 1u << 30), 0);
	cr_assert_eq(t->ops->read(t, FL_TREE_ROOT, fh, buf, sizeof(buf), 0), -EBADF);
	t->ops->release(t, file, fh);
	cr_assert_eq(t->ops->read(t, file, fh, buf, sizeof(buf), 0), -EBADF);
	fl_tree_free(t);
}

Test(sqfs, statfs)
{
	const char *img = build_image("gzip", false);
	struct fl_tree *t = open_tree(img, 0);
	struct statvfs sv;
	struct stat st;

	cr_assert_eq(stat(img, &st), 0);
	cr_assert_eq(t->ops->statfs(t, &sv), 0);
	cr_assert_eq(sv.f_bsize, 131072);
	cr_assert_eq(sv.f_namemax, 256);
	cr_assert(sv.f_flag & ST_RDONLY);
	/* 15 entries and the root; hard1 and sub/hard2 share one inode */
	cr_assert_eq(sv.f_files, 16);
	cr_assert(sv.f_blocks >= 1 && sv.f_blocks * sv.f_bsize <= (uint64_t)st.st_size + 131072);
	cr_assert_eq(sv.f_bfree, 0);
	fl_tree_free(t);
}

/* ---- data paths -------------------------------------------------------- */

Test(sqfs, big_file_random_reads)
{
	struct fl_tree *t = open_tree(build_image("gzip", true), 0);
	uint64_t node = lookup_path(t, "big.bin"), fh;
	char *buf = malloc(1 << 20);
	int i;

	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	srand(7);
	for (i = 0; i < 400; i++) {
		uint64_t off = (uint64_t)rand() % (BIG_SIZE + 1000);
		size_t len = (size_t)rand() % (1 << 20), want;
		ssize_t n = t->ops->read(t, node, fh, buf, len, off);

		want = off >= BIG_SIZE ? 0 : len < BIG_SIZE - off ? len : BIG_SIZE - off;
		cr_assert_eq(n, (ssize_t)want, "read %zu at %llu", len, (unsigned long long)off);
		cr_assert(memcmp(buf, big + off, want) == 0, "data at %llu",
			  (unsigned long long)off);
	}
	t->ops->release(t, node, fh);
	/* Unaligned chunk size over the whole file. */
	{
		size_t len;
		char *all = read_node(t, node, 12345, &len);

		cr_assert(memcmp(all, big, BIG_SIZE) == 0);
		free(all);
	}
	free(buf);
	free(big);
	fl_tree_free(t);
}

Test(sqfs, sparse_file)
{
	struct fl_tree *t = open_tree(build_image("gzip", true), 0);
	uint64_t node = lookup_path(t, "sparse"), fh, off;
	char *buf = malloc(1 << 20), *zero = calloc(1, 1 << 20);
	struct stat st;

	cr_assert_eq(t->ops->getattr(t, node, &st), 0);
	cr_assert_eq(st.st_size, SPARSE_SIZE);
	cr_assert_eq(t->ops->open(t, node, &fh), 0);
	for (off = 0; off < SPARSE_SIZE; off += 1 << 20) {
		cr_assert_eq(t->ops->read(t, node, fh, buf, 1 << 20, off), 1 << 20);
		if (off == MID_OFF) {
			cr_assert(memcmp(buf, "MIDDLE", 6) == 0);
			cr_assert(memcmp(buf + 6, zero, (1 << 20) - 6) == 0);
		} else {
			cr_assert(memcmp(buf, zero, 1 << 20) == 0, "hole at %llu",
				  (unsigned long long)off);
		}
	}
	/* Backwards, straddling the data. */
	cr_assert_eq(t->ops->read(t, node, fh, buf, 10, MID_OFF - 2), 10);
	cr_assert(memcmp(buf, "\0\0MIDDLE\0\0", 10) == 0);
	cr_assert_eq(t->ops->read(t, node, fh, buf, 100, SPARSE_SIZE - 10), 10);
	t->ops->release(t, node, fh);
	free(buf);
	free(zero);
	free(big);
	fl_tree_free(t);
}

Test(sqfs, every_compression)
{
	const char *comps[] = { "gzip", "xz", "lzo", "lz4", "zstd" };
	unsigned char *data = random_bytes(1 << 20, 9);
	char text[20000];
	size_t i;

	for (i = 0; i < sizeof(text); i++)
		text[i] = "squashfs "[i % 9];
	fl_test_mkdirs(path_of("src"));
	fl_test_write(path_of("src/random"), data, 1 << 20);
	fl_test_write(path_of("src/text"), text, sizeof(text));
	fl_test_write(path_of("src/small"), "small\n", 6);
	for (i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
		char opts[64];
		struct fl_tree *t;

		snprintf(opts, sizeof(opts), "-comp %s", comps[i]);
		mksquashfs(path_of("src"), path_of("img"), opts);
		t = open_tree(path_of("img"), 0);
		assert_contents(t, "random", data, 1 << 20);
		assert_contents(t, "text", text, sizeof(text));
		assert_contents(t, "small", "small\n", 6);
		fl_tree_free(t);
	}
	free(data);
}

Test(sqfs, block_sizes_and_no_fragments)
{
	const char *opts[] = { "-b 4096", "-b 1048576", "-no-fragments", "-always-use-fragments",
			       "-noI -noD -noF -noX" };
	unsigned char *data = random_bytes(300000, 3);
	size_t i;

	fl_test_mkdirs(path_of("src"));
	fl_test_write(path_of("src/f"), data, 300000);
	fl_test_write(path_of("src/g"), data, 5000);
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct fl_tree *t;

		mksquashfs(path_of("src"), path_of("img"), opts[i]);
		t = open_tree(path_of("img"), 0);
		assert_contents(t, "f", data, 300000);
		assert_contents(t, "g", data, 5000);
		fl_tree_free(t);
	}
	free(data);
}

Test(sqfs, image_at_offset)
{
	const char *img = build_image("xz", false);
	char *junk = (char *)random_bytes(4096, 1);
	struct fl_tree *t = NULL;
	struct fl_error err;

	memcpy(junk, "hsqs", 4); /* a decoy magic must not matter */
	fl_test_write(path_of("off.img"), junk, 4096);
	cr_assert_eq(fl_test_sh("cat '%s' >> '%s'", img, path_of("off.img")), 0);
	t = open_tree(path_of("off.img"), 4096);
	assert_contents(t, "hello.txt", "hello, world\n", 13);
	assert_contents(t, "sub/deep/nested/file.txt", "nested\n", 7);
	fl_tree_free(t);
	cr_assert_lt(try_open(path_of("off.img"), 0, &t, &err), 0);
	cr_assert_lt(try_open(path_of("off.img"), 4095, &t, &err), 0);
	cr_assert_lt(try_open(path_of("off.img"), 1u << 30, &t, &err), 0);
	free(junk);
}

static struct fl_tree *shared_tree;

/* Each thread walks the tree and reads big.bin; data is compared. */
static void *reader_thread(void *arg)
{
	struct walk_stats ws = { .budget = 1000 };
	struct fl_tree *t = shared_tree;
	size_t len;
	char *all;

	walk_node(t, FL_TREE_ROOT, 0, &ws);
	all = read_node(t, lookup_path(t, "big.bin"), 4096 * (1 + (size_t)(intptr_t)arg), &len);
	cr_assert(memcmp(all, big, BIG_SIZE) == 0);
	free(all);
	cr_assert_eq(ws.errors, 0);
	return NULL;
}

Test(sqfs, concurrent_readers)
{
	pthread_t th[4];
	intptr_t i;

	shared_tree = open_tree(build_image("zstd", true), 0);
	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader_thread, (void *)i), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	fl_tree_free(shared_tree);
	free(big);
}

/* ---- bad images -------------------------------------------------------- */

static void expect_open_error(const char *img, int errnum, const char *msg)
{
	struct fl_tree *t = NULL;
	struct fl_error err;

	cr_assert_eq(try_open(img, 0, &t, &err), -errnum, "%s: %s", img, err.msg);
	cr_assert(strstr(err.msg, msg), "message '%s' lacks '%s'", err.msg, msg);
}

static void patch(const char *img, uint64_t off, const void *bytes, size_t len)
{
	int fd = open(img, O_WRONLY | O_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

Test(sqfs, refused_images)
{
	static char img[PATH_MAX];
	uint32_t v32;
	uint16_t v16;
	uint64_t v64;

	snprintf(img, sizeof(img), "%s", path_of("img"));
	fl_test_write(img, "definitely not squashfs", 23);
	expect_open_error(img, EINVAL, "not a squashfs image");
	fl_test_write(img, "", 0);
	expect_open_error(img, EINVAL, "not a squashfs image");
	fl_test_write(img, "hsqs", 4);
	expect_open_error(img, EINVAL, "not a squashfs image");

	fl_test_mkdirs(path_of("src"));
	fl_test_write(path_of("src/a"), "a", 1);
	mksquashfs(path_of("src"), img, "-comp lzma");
	expect_open_error(img, ENOTSUP, "unsupported compression lzma");

	mksquashfs(path_of("src"), img, "");
	v16 = 3;
	patch(img, 28, &v16, 2); /* s_major */
	expect_open_error(img, ENOTSUP, "unsupported squashfs version 3.0");

	mksquashfs(path_of("src"), img, "");
	v32 = 12345;
	patch(img, 12, &v32, 4); /* block_size */
	expect_open_error(img, EIO, "corrupt superblock");

	mksquashfs(path_of("src"), img, "");
	v16 = 16;
	patch(img, 22, &v16, 2); /* block_log disagrees with block_size */
	expect_open_error(img, EIO, "corrupt superblock");

	mksquashfs(path_of("src"), img, "");
	v64 = 1ull << 40;
	patch(img, 40, &v64, 8); /* bytes_used */
	expect_open_error(img, EIO, "truncated");

	mksquashfs(path_of("src"), img, "");
	v64 = 1ull << 40;
	patch(img, 48, &v64, 8); /* id_table_start */
	expect_open_error(img, EIO, "corrupt superblock");

	mksquashfs(path_of("src"), img, "");
	v64 = 1ull << 40;
	patch(img, 32, &v64, 8); /* root_inode */
	expect_open_error(img, EIO, "corrupt superblock");

	mksquashfs(path_of("src"), img, "");
	v16 = 0;
	patch(img, 26, &v16, 2); /* no_ids */
	expect_open_error(img, EIO, "corrupt superblock");
}

Test(sqfs, truncated_images)
{
	const char *img = build_image("gzip", false);
	size_t len, i;
	char *data = slurp(img, &len);
	uint64_t used;
	const size_t cuts[] = { 0, 1, 50, 95, 96, 200, 1000, 4000 };

	memcpy(&used, data + 40, sizeof(used));
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]) + 6; i++) {
		size_t cut = i < 8 ? cuts[i] : used - (i - 8) * (used / 6) - 1;
		struct walk_stats ws;
		int r;

		if (cut >= len)
			continue;
		fl_test_write(path_of("cut"), data, cut);
		r = robust_walk(path_of("cut"), &ws);
		if (cut < used)
			cr_assert_lt(r, 0, "cut at %zu of %zu opened", cut, used);
	}
	/* Only the padding after bytes_used cut: still fine. */
	fl_test_write(path_of("cut"), data, used);
	{
		struct walk_stats ws;

		cr_assert_eq(robust_walk(path_of("cut"), &ws), 0);
		cr_assert_eq(ws.errors, 0);
		cr_assert_geq(ws.nodes, 12);
	}
	free(data);
}

static void flip_walk(const char *img, size_t step, unsigned int seed)
{
	size_t len, pos, opened = 0, tried = 0;
	char *data = slurp(img, &len);
	uint64_t used;

	memcpy(&used, data + 40, sizeof(used));
	srand(seed);
	for (pos = 0; pos < used; pos += step + (size_t)rand() % step) {
		struct walk_stats ws;
		unsigned char bit = (unsigned char)(1u << (rand() % 8));

		data[pos] ^= (char)bit;
		fl_test_write(path_of("flip"), data, len);
		if (robust_walk(path_of("flip"), &ws) == 0)
			opened++;
		data[pos] ^= (char)bit;
		tried++;
	}
	cr_log_info("%zu flips, %zu opened", tried, opened);
	cr_assert_gt(tried, 100);
	free(data);
}

Test(sqfs, bit_flips_compressed)
{
	const char *img = build_image("gzip", false);

	flip_walk(img, 2, 1);
}

Test(sqfs, bit_flips_uncompressed_metadata)
{
	build_src(path_of("src"), false);
	mksquashfs(path_of("src"), path_of("img"), "-noI -noD -noF -noX -p 'chr c 644 0 0 1 3'");
	/* Every metadata byte, with uncompressed tables, hits real fields. */
	flip_walk(path_of("img"), 2, 2);
}

/* Position of @needle in @img (asserting exactly one occurrence). */
static size_t find_once(const char *data, size_t len, const void *needle, size_t nlen)
{
	const char *p = memmem(data, len, needle, nlen);

	cr_assert_not_null(p, "pattern not found");
	cr_assert_null(memmem(p + 1, len - (size_t)(p - data) - 1, needle, nlen),
		       "pattern found twice");
	return (size_t)(p - data);
}

static struct fl_tree *patched_dir_image(uint16_t size_field, char at, char with)
{
	size_t len, pos;
	char *data;

	fl_test_mkdirs(path_of("src/d"));
	fl_test_mkdirs(path_of("src/other"));
	fl_test_write(path_of("src/d/alpha"), "a", 1);
	fl_test_write(path_of("src/d/victim_name"), "v", 1);
	fl_test_write(path_of("src/d/zulu"), "z", 1);
	fl_test_write(path_of("src/other/fine"), "fine\n", 5);
	mksquashfs(path_of("src"), path_of("img"), "-noI");
	data = slurp(path_of("img"), &len);
	pos = find_once(data, len, "victim_name", 11);
	if (at) {
		char *c = memchr(data + pos, at, 11);

		*c = with;
	} else {
		cr_assert_eq(data[pos - 2], 10); /* size - 1 */
		memcpy(data + pos - 2, &size_field, 2);
	}
	fl_test_write(path_of("img"), data, len);
	free(data);
	return open_tree(path_of("img"), 0);
}

static void check_overlong(uint16_t size_field)
{
	struct fl_tree *t = patched_dir_image(size_field, 0, 0);
	struct list l = { 0 };
	uint64_t d = lookup_path(t, "d"), node;
	int r;

	r = t->ops->readdir(t, d, 0, collect, &l);
	cr_assert(r == 0 || r == -EIO, "readdir: %d", r);
	for (size_t i = 0; i < l.n; i++)
		cr_assert(strlen(l.v[i].name) <= 256 && !strstr(l.v[i].name, "victim"));
	r = t->ops->lookup(t, d, "victim_name", &node);
	cr_assert(r == -ENOENT || r == -EIO);
	/* The rest of the image is unaffected. */
	assert_contents(t, "other/fine", "fine\n", 5);
	free(l.v);
	fl_tree_free(t);
}

Test(sqfs, overlong_name_257)
{
	check_overlong(256); /* size field is length - 1: 257 bytes */
}

Test(sqfs, overlong_name_64k)
{
	check_overlong(0xffff);
}

Test(sqfs, slash_in_name_is_skipped)
{
	struct fl_tree *t = patched_dir_image(0, 'm', '/');
	uint64_t d = lookup_path(t, "d"), node;
	struct list l = list_dir(t, d);

	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.v[0].name, "alpha");
	cr_assert_str_eq(l.v[1].name, "zulu");
	cr_assert_eq(t->ops->lookup(t, d, "victi", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, d, "victi/_name", &node), -ENOENT);
	assert_contents(t, "d/zulu", "z", 1);
	free(l.v);
	fl_tree_free(t);
}

Test(sqfs, dot_names_are_skipped)
{
	/* Entries {inode offset, inode number, type 2, size - 1} + name: turn
	 * "#" into "." and "%%" into "..", keeping the stream aligned. */
	const char one[] = "\x02\x00\x00\x00#", two[] = "\x02\x00\x01\x00%%";
	struct fl_tree *t;
	struct list l;
	uint64_t d, node;
	size_t len, pos;
	char *data;

	fl_test_mkdirs(path_of("src/d"));
	fl_test_write(path_of("src/d/#"), "1", 1);
	fl_test_write(path_of("src/d/%%"), "2", 1);
	fl_test_write(path_of("src/d/ok"), "ok", 2);
	mksquashfs(path_of("src"), path_of("img"), "-noI");
	data = slurp(path_of("img"), &len);
	pos = find_once(data, len, one, 5);
	data[pos + 4] = '.';
	pos = find_once(data, len, two, 6);
	data[pos + 4] = data[pos + 5] = '.';
	fl_test_write(path_of("img"), data, len);
	free(data);

	t = open_tree(path_of("img"), 0);
	d = lookup_path(t, "d");
	l = list_dir(t, d);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].name, "ok");
	cr_assert_eq(t->ops->lookup(t, d, "..", &node), -ENOENT);
	cr_assert_eq(t->ops->lookup(t, d, ".", &node), 0);
	cr_assert_eq(node, d);
	assert_contents(t, "d/ok", "ok", 2);
	free(l.v);
	fl_tree_free(t);
}

/* Found by the fuzz walk's contract check (tests/fuzz-regress/sqfs/
 * symlink-nul): a symlink target with a NUL byte read back cut at the NUL,
 * shorter than the st_size getattr gives, and so a different target. */
Test(sqfs, symlink_target_with_nul_is_eio)
{
	struct fl_tree *t;
	struct stat st;
	char buf[64], *data;
	size_t len, pos;

	fl_test_mkdirs(path_of("src"));
	cr_assert_eq(symlink("target_of_the_link", path_of("src/lnk")), 0);
	cr_assert_eq(symlink("fine", path_of("src/ok")), 0);
	mksquashfs(path_of("src"), path_of("img"), "-noI");
	data = slurp(path_of("img"), &len);
	pos = find_once(data, len, "target_of_the_link", 18);
	data[pos + 6] = '\0';
	fl_test_write(path_of("img"), data, len);
	free(data);

	t = open_tree(path_of("img"), 0);
	stat_path(t, "lnk", &st);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(st.st_size, 18);
	cr_assert_eq(t->ops->readlink(t, lookup_path(t, "lnk"), buf, sizeof(buf)), -EIO);
	cr_assert_eq(t->ops->readlink(t, lookup_path(t, "ok"), buf, sizeof(buf)), 4);
	cr_assert_str_eq(buf, "fine");
	fl_tree_free(t);
}

Test(sqfs, uid_index_out_of_range)
{
	size_t len, pos;
	uint32_t mtime = 1111111111;
	uint16_t bad = 0x7777;
	struct fl_tree *t;
	struct stat st;
	struct list l;
	uint64_t node, fh;
	char *data;

	fl_test_mkdirs(path_of("src/d"));
	fl_test_write(path_of("src/d/victim"), "v", 1);
	fl_test_write(path_of("src/d/good"), "good\n", 5);
	cr_assert_eq(fl_test_sh("touch -d @1111111111 '%s'", path_of("src/d/victim")), 0);
	mksquashfs(path_of("src"), path_of("img"), "-noI");
	data = slurp(path_of("img"), &len);
	pos = find_once(data, len, &mtime, 4);
	memcpy(data + pos - 4, &bad, 2); /* base inode: type, mode, uid, gid, mtime */
	fl_test_write(path_of("img"), data, len);
	free(data);

	t = open_tree(path_of("img"), 0);
	node = lookup_path(t, "d/victim");
	cr_assert_eq(t->ops->getattr(t, node, &st), -EIO);
	cr_assert_eq(t->ops->open(t, node, &fh), -EIO);
	l = list_dir(t, lookup_path(t, "d"));
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.v[1].name, "victim");
	cr_assert(S_ISREG(l.v[1].st.st_mode));
	assert_contents(t, "d/good", "good\n", 5);
	free(l.v);
	fl_tree_free(t);
}

/* ---- scale ------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(sqfs, two_hundred_thousand_entries, .timeout = 600)
{
	const int ndirs = 4, per = 50000;
	struct fl_tree *t;
	double t0, t_readdir, t_lookup;
	size_t total = 0;
	int d, i;

	for (d = 0; d < ndirs; d++) {
		char dir[PATH_MAX];

		cr_assert_lt(snprintf(dir, sizeof(dir), "%s/src/dir%d", tmp, d), PATH_MAX);
		fl_test_mkdirs(dir);
		for (i = 0; i < per; i++) {
			char p[PATH_MAX];
			int fd;

			cr_assert_lt(snprintf(p, sizeof(p), "%s/entry-%06d", dir, i), PATH_MAX);
			fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			cr_assert(fd >= 0);
			close(fd);
		}
	}
	mksquashfs(path_of("src"), path_of("img"), "");
	t = open_tree(path_of("img"), 0);

	t0 = now();
	for (d = 0; d < ndirs; d++) {
		char name[32];
		struct list l;

		snprintf(name, sizeof(name), "dir%d", d);
		l = list_dir(t, lookup_path(t, name));
		cr_assert_eq(l.n, (size_t)per);
		cr_assert_str_eq(l.v[per - 1].name, "entry-049999");
		cr_assert(S_ISREG(l.v[per - 1].st.st_mode));
		total += l.n;
		free(l.v);
	}
	t_readdir = now() - t0;

	t0 = now();
	for (d = 0; d < ndirs; d++) {
		char name[32];
		uint64_t dir, node;
		struct stat st;

		snprintf(name, sizeof(name), "dir%d", d);
		dir = lookup_path(t, name);
		for (i = 0; i < per; i++) {
			snprintf(name, sizeof(name), "entry-%06d", (i * 7919) % per);
			cr_assert_eq(t->ops->lookup(t, dir, name, &node), 0);
			cr_assert_eq(t->ops->getattr(t, node, &st), 0);
		}
	}
	t_lookup = now() - t0;
	cr_log_info("200000 entries: readdir+stat %.3f s, lookup+getattr %.3f s", t_readdir,
		    t_lookup);
	fprintf(stderr, "200000 entries: readdir+stat %.3f s, lookup+getattr %.3f s\n", t_readdir,
		t_lookup);
	cr_assert_eq(total, 200000);
	/* Generous for valgrind; natively both take well under a second. */
	cr_assert_lt(t_readdir, 60.0);
	cr_assert_lt(t_lookup, 60.0);
	fl_tree_free(t);
}
