/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the extraction engine (fusefs/extract.c): against the fake
 * tree (modes, symlinks, hard links, read-only directories, unsafe names a
 * backend should never produce, damaged files, a directory loop) and against
 * real zips and squashfs images made at test time (zip-slip names, symlink
 * traps).  Every test checks that nothing appears outside the target.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/archive.h"
#include "fusefs/extract.h"
#include "tests/unit/fake_tree.h"
#include "tests/unit/helpers.h"

static char tmp[1024];
static int warnings;
static char last_warning[FL_ERROR_MSG_MAX];

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	warnings++;
	snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

static const struct fl_extract_opts wopts = { .warn = on_warn };

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "%s", fl_test_tmpdir());
	warnings = 0;
	last_warning[0] = '\0';
}

static void teardown(void)
{
	fl_test_sh("chmod -R u+rwX '%s' 2>/dev/null", tmp);
	fl_test_rmtree(tmp);
}

TestSuite(extract, .init = setup, .fini = teardown, .timeout = 120);

static char *at(const char *rel)
{
	static char bufs[16][PATH_MAX];
	static int n;
	char *p = bufs[n++ % 16];

	snprintf(p, PATH_MAX, "%s/%s", tmp, rel);
	return p;
}

/* mkdir tmp/@rel and open it as an extraction target. */
static int target(const char *rel)
{
	int fd;

	cr_assert_eq(mkdir(at(rel), 0755), 0, "mkdir %s", rel);
	fd = open(at(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(fd >= 0);
	return fd;
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "%s", path);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert(n >= 0);
	buf[n] = '\0';
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path, strerror(errno));
	return st.st_mode;
}

static int extract(struct fl_tree *t, int fd, struct fl_extract_stats *st)
{
	struct fl_error err = { 0 };
	int r = fl_extract_tree(t, fd, &wopts, st, &err);

	cr_assert_eq(r, 0, "extract: %s", err.msg);
	return r;
}

/* ---- the fake tree ------------------------------------------------------- */

Test(extract, fake_tree_modes_links_times)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	struct fl_extract_stats st = { 0 };
	struct stat a, b;
	uint64_t bin, ro, sticky, f;
	char link[64];
	ssize_t n;
	int fd = target("out");

	fl_fake_tree_file(ft, FL_TREE_ROOT, "hello.txt", 0644, "hello, world\n", 13);
	bin = fl_fake_tree_dir(ft, FL_TREE_ROOT, "bin", 0755);
	f = fl_fake_tree_file(ft, bin, "prog", 06755, "#!/bin/sh\necho hi\n", 18);
	fl_fake_tree_hardlink(ft, FL_TREE_ROOT, "prog-again", f);
	fl_fake_tree_symlink(ft, FL_TREE_ROOT, "abs", "/etc/passwd");
	fl_fake_tree_symlink(ft, bin, "up", "../hello.txt");
	ro = fl_fake_tree_dir(ft, FL_TREE_ROOT, "ro", 0555);
	fl_fake_tree_file(ft, ro, "inside", 0444, "kept", 4);
	sticky = fl_fake_tree_dir(ft, FL_TREE_ROOT, "sticky", 01777);
	(void)sticky;
	fl_fake_tree_file(ft, FL_TREE_ROOT, "secret", 0600, "s", 1);

	extract(fl_fake_tree_tree(ft), fd, &st);
	cr_assert_str_eq(slurp(at("out/hello.txt")), "hello, world\n");
	cr_assert_eq(mode_of(at("out/hello.txt")), S_IFREG | 0644);
	cr_assert_eq(mode_of(at("out/bin/prog")), S_IFREG | 0755, "set-id bits cleared");
	cr_assert_eq(mode_of(at("out/secret")), S_IFREG | 0600);
	cr_assert_eq(mode_of(at("out/ro")), S_IFDIR | 0555);
	cr_assert_eq(mode_of(at("out/ro/inside")), S_IFREG | 0444);
	cr_assert_str_eq(slurp(at("out/ro/inside")), "kept");
	cr_assert_eq(mode_of(at("out/sticky")), S_IFDIR | 01777);
	n = readlink(at("out/abs"), link, sizeof(link));
	cr_assert_eq(n, 11);
	cr_assert_eq(memcmp(link, "/etc/passwd", 11), 0);
	n = readlink(at("out/bin/up"), link, sizeof(link));
	cr_assert_eq(n, 12);
	cr_assert_eq(memcmp(link, "../hello.txt", 12), 0);
	cr_assert_eq(lstat(at("out/bin/prog"), &a), 0);
	cr_assert_eq(lstat(at("out/prog-again"), &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino, "hard link kept");
	cr_assert_eq(a.st_nlink, 2);
	cr_assert_eq(a.st_mtim.tv_sec, 1700000000, "mtime kept");
	cr_assert_eq(lstat(at("out/ro"), &a), 0);
	cr_assert_eq(a.st_mtim.tv_sec, 1700000000, "dir mtime kept after its content");
	cr_assert_eq(st.files, 4, "the hard link is not a file of its own");
	cr_assert_eq(st.hardlinks, 1);
	cr_assert_eq(st.symlinks, 2);
	cr_assert_eq(st.dirs, 3);
	cr_assert_eq(st.skipped, 0);
	cr_assert_eq(warnings, 0, "%s", last_warning);
	close(fd);
	fl_tree_free(fl_fake_tree_tree(ft));
}

Test(extract, unsafe_names_never_leave_the_target)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	struct fl_extract_stats st = { 0 };
	uint64_t d;
	int fd = target("out");

	/* Names a backend must never produce: the engine refuses them anyway. */
	fl_fake_tree_file(ft, FL_TREE_ROOT, "../evil", 0644, "x", 1);
	fl_fake_tree_file(ft, FL_TREE_ROOT, "..", 0644, "x", 1);
	fl_fake_tree_file(ft, FL_TREE_ROOT, ".", 0644, "x", 1);
	fl_fake_tree_file(ft, FL_TREE_ROOT, "", 0644, "x", 1);
	d = fl_fake_tree_dir(ft, FL_TREE_ROOT, "d", 0755);
	fl_fake_tree_file(ft, d, "../../evil2", 0644, "x", 1);
	fl_fake_tree_file(ft, d, "a/b", 0644, "x", 1);
	fl_fake_tree_file(ft, d, "fine", 0644, "ok", 2);

	extract(fl_fake_tree_tree(ft), fd, &st);
	cr_assert_eq(count_entries(tmp), 1, "only the target in its parent");
	cr_assert_eq(count_entries(at("out")), 1);
	cr_assert_eq(count_entries(at("out/d")), 1);
	cr_assert_str_eq(slurp(at("out/d/fine")), "ok");
	cr_assert_eq(st.skipped, 6);
	cr_assert_eq(warnings, 6);
	close(fd);
	fl_tree_free(fl_fake_tree_tree(ft));
}

Test(extract, symlinks_in_the_archive_are_never_followed)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	uint64_t d;
	int fd;

	cr_assert_eq(mkdir(at("outside"), 0755), 0);
	fl_test_write(at("outside/victim"), "original", 8);
	fd = target("out");
	/* "trap" → the outside directory, then a directory "trap" with a file:
	 * the file must not land in outside/.  "file" → outside/victim, then a
	 * regular file "file": the victim must keep its content. */
	fl_fake_tree_symlink(ft, FL_TREE_ROOT, "trap", at("outside"));
	d = fl_fake_tree_dir(ft, FL_TREE_ROOT, "trap", 0755);
	fl_fake_tree_file(ft, d, "pwned", 0644, "x", 1);
	fl_fake_tree_symlink(ft, FL_TREE_ROOT, "file", at("outside/victim"));
	fl_fake_tree_file(ft, FL_TREE_ROOT, "file", 0644, "overwritten", 11);
	fl_fake_tree_symlink(ft, FL_TREE_ROOT, "fifo", at("outside/fifo"));

	extract(fl_fake_tree_tree(ft), fd, NULL);
	cr_assert_eq(count_entries(at("outside")), 1, "nothing written outside");
	cr_assert_str_eq(slurp(at("outside/victim")), "original");
	cr_assert(S_ISLNK(mode_of(at("out/trap"))));
	cr_assert(S_ISLNK(mode_of(at("out/file"))));
	cr_assert_eq(warnings, 2, "two entries skipped: %s", last_warning);
	cr_assert(strstr(last_warning, "file: already exists"), "%s", last_warning);
	close(fd);
	fl_tree_free(fl_fake_tree_tree(ft));
}

Test(extract, unreadable_file_is_skipped_the_rest_kept)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	struct fl_extract_stats st = { 0 };
	uint64_t bad;
	int fd = target("out");

	bad = fl_fake_tree_file(ft, FL_TREE_ROOT, "bad.bin", 0644, "damaged", 7);
	fl_fake_tree_fail_read(ft, bad, EIO);
	fl_fake_tree_file(ft, FL_TREE_ROOT, "good.txt", 0644, "good", 4);
	extract(fl_fake_tree_tree(ft), fd, &st);
	cr_assert_eq(access(at("out/bad.bin"), F_OK), -1, "the damaged file is not left half-written");
	cr_assert_str_eq(slurp(at("out/good.txt")), "good");
	cr_assert_eq(st.skipped, 1);
	cr_assert_str_eq(last_warning, "bad.bin: Input/output error");
	close(fd);
	fl_tree_free(fl_fake_tree_tree(ft));
}

/* A tree whose directory "d" also lists the root as "loop": what a hostile
 * squashfs image can do with a directory inode reference. */
static struct fl_tree_ops loop_ops;
static const struct fl_tree_ops *fake_ops;
static uint64_t loop_dir;

struct loop_fill {
	fl_tree_fill_fn fill;
	void *ctx;
};

static int loop_readdir(struct fl_tree *t, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
			void *ctx)
{
	struct stat st;
	int r = fake_ops->readdir(t, dir, off, fill, ctx);

	if (r == 0 && dir == loop_dir && off == 0) {
		fake_ops->getattr(t, FL_TREE_ROOT, &st);
		fill(ctx, "loop", FL_TREE_ROOT, &st, 1000);
	}
	return r;
}

Test(extract, directory_loop_is_cut)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	struct fl_tree *t;
	struct fl_extract_stats st = { 0 };
	int fd = target("out");

	loop_dir = fl_fake_tree_dir(ft, FL_TREE_ROOT, "d", 0755);
	fl_fake_tree_file(ft, loop_dir, "f", 0644, "f", 1);
	t = fl_fake_tree_tree(ft);
	fake_ops = t->ops;
	loop_ops = *t->ops;
	loop_ops.readdir = loop_readdir;
	t->ops = &loop_ops;
	extract(t, fd, &st);
	cr_assert_str_eq(slurp(at("out/d/f")), "f");
	cr_assert_eq(access(at("out/d/loop"), F_OK), -1);
	cr_assert_eq(st.skipped, 1);
	cr_assert(strstr(last_warning, "d/loop: directory already extracted"), "%s", last_warning);
	t->ops = fake_ops;
	close(fd);
	fl_tree_free(t);
}

Test(extract, target_full_is_an_error)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(NULL);
	struct fl_error err = { 0 };
	int fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	fl_fake_tree_file(ft, FL_TREE_ROOT, "x", 0644, "x", 1);
	cr_assert(fl_extract_tree(fl_fake_tree_tree(ft), fd, &wopts, NULL, &err) < 0);
	cr_assert(strstr(err.msg, "cannot create x: "), "%s", err.msg);
	close(fd);
	fl_tree_free(fl_fake_tree_tree(ft));
}

/* ---- removal ----------------------------------------------------------- */

Test(extract, remove_read_only_tree_without_following_links)
{
	int dfd;

	cr_assert_eq(mkdir(at("outside"), 0755), 0);
	fl_test_write(at("outside/keep"), "keep", 4);
	fl_test_mkdirs(at("run/a/b/c"));
	fl_test_write(at("run/a/b/c/f"), "f", 1);
	cr_assert_eq(symlink(at("outside"), at("run/a/link")), 0);
	cr_assert_eq(symlink(at("outside/keep"), at("run/a/flink")), 0);
	cr_assert_eq(fl_test_sh("chmod 0444 '%s/run/a/b/c/f' && chmod 0500 '%s/run/a/b/c' && "
				"chmod 0 '%s/run/a/b' && chmod 0555 '%s/run/a'",
				tmp, tmp, tmp, tmp),
		     0);
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(fl_extract_remove(dfd, "run"), 0);
	cr_assert_eq(access(at("run"), F_OK), -1);
	cr_assert_str_eq(slurp(at("outside/keep")), "keep");
	cr_assert_eq(mode_of(at("outside")), S_IFDIR | 0755);
	cr_assert_eq(fl_extract_remove(dfd, "run"), 0, "a missing name is success");
	close(dfd);
}

/* ---- real archives ------------------------------------------------------- */

static struct fl_tree *open_archive(const char *path)
{
	struct fl_tree_opts to = { 0 };
	struct fl_error err = { 0 };
	struct fl_tree *t = NULL;
	enum fl_format fmt;
	int fd = fl_test_open(path);

	cr_assert_eq(fl_archive_open(fd, &to, &t, &fmt, &err), 0, "%s: %s", path, err.msg);
	return t;
}

Test(extract, zip_slip_and_symlink_trap)
{
	struct fl_tree *t;
	char link[256];
	ssize_t n;
	int fd;

	cr_assert_eq(mkdir(at("outside"), 0755), 0);
	cr_assert_eq(
		fl_test_sh(
			"cd '%s' && python3 - <<'EOF'\n"
			"import zipfile, stat\n"
			"z = zipfile.ZipFile('evil.zip', 'w')\n"
			"def add(name, data, mode=0o100644):\n"
			"    zi = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))\n"
			"    zi.create_system = 3\n"
			"    zi.external_attr = mode << 16\n"
			"    z.writestr(zi, data)\n"
			"add('../evil.txt', 'x')\n"
			"add('/abs.txt', 'x')\n"
			"add('ok/../../evil2.txt', 'x')\n"
			"add('link', '%s/outside', 0o120777)\n"
			"add('link/pwned', 'x')\n"
			"add('tool', '#!/bin/sh\\n', 0o104755)\n"
			"add('dir/ro.txt', 'ro', 0o100444)\n"
			"z.close()\n"
			"EOF",
			tmp, tmp),
		0);
	t = open_archive(at("evil.zip"));
	fd = target("out");
	extract(t, fd, NULL);
	cr_assert_eq(count_entries(at("outside")), 0, "nothing through the symlink");
	cr_assert_eq(count_entries(tmp), 3, "evil.zip, outside, out: nothing else");
	cr_assert_eq(mode_of(at("out/tool")), S_IFREG | 0755);
	cr_assert_eq(mode_of(at("out/dir/ro.txt")), S_IFREG | 0444);
	cr_assert_str_eq(slurp(at("out/dir/ro.txt")), "ro");
	if (S_ISLNK(mode_of(at("out/link")))) {
		n = readlink(at("out/link"), link, sizeof(link) - 1);
		cr_assert(n > 0);
	} else {
		/* The zip backend keeps the directory when a name is both. */
		cr_assert(S_ISDIR(mode_of(at("out/link"))));
	}
	close(fd);
	fl_tree_free(t);
}

Test(extract, squashfs_hard_links_sparse_fifo_symlinks)
{
	struct fl_extract_stats st = { 0 };
	struct fl_tree *t;
	struct stat a, b;
	int fd;

	if (!fl_test_have("mksquashfs"))
		cr_skip_test("mksquashfs is not installed");
	cr_assert_eq(fl_test_sh("cd '%s' && mkdir -p src/sub src/ro && echo one > src/one && "
				"ln src/one src/sub/one-again && truncate -s 64M src/sparse && "
				"printf end >> src/sparse && mkfifo src/fifo && "
				"ln -s ../one src/sub/rel && echo r > src/ro/r && chmod 0555 src/ro && "
				"chmod 0750 src/sub && touch -d @1600000000 src/one && "
				"mksquashfs src img.sfs -noappend -no-progress -quiet >/dev/null",
				tmp),
		     0);
	t = open_archive(at("img.sfs"));
	fd = target("out");
	extract(t, fd, &st);
	cr_assert_str_eq(slurp(at("out/one")), "one\n");
	cr_assert_eq(lstat(at("out/one"), &a), 0);
	cr_assert_eq(lstat(at("out/sub/one-again"), &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(a.st_mtim.tv_sec, 1600000000);
	cr_assert_eq(lstat(at("out/sparse"), &a), 0);
	cr_assert_eq(a.st_size, (64 << 20) + 3);
	cr_assert_lt(a.st_blocks * 512, 1 << 20, "the sparse file stays sparse");
	cr_assert(S_ISFIFO(mode_of(at("out/fifo"))));
	cr_assert(S_ISLNK(mode_of(at("out/sub/rel"))));
	cr_assert_eq(mode_of(at("out/sub")), S_IFDIR | 0750);
	cr_assert_eq(mode_of(at("out/ro")), S_IFDIR | 0555);
	cr_assert_str_eq(slurp(at("out/ro/r")), "r\n");
	cr_assert_eq(st.hardlinks, 1);
	cr_assert_eq(st.fifos, 1);
	cr_assert_eq(fl_test_sh("cd '%s' && cmp src/sparse out/sparse", tmp), 0);
	close(fd);
	fl_tree_free(t);
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(fl_extract_remove(fd, "out"), 0);
	cr_assert_eq(access(at("out"), F_OK), -1);
	close(fd);
}
