/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the copy-on-write tree (fusefs/cow.c): the POSIX behaviour
 * of --dynamic at the tree level, over the in-memory fake tree as the lower
 * layer and a scratch directory as the upper one.  No root and no mount,
 * except the ENOSPC test, which mounts a small tmpfs inside a user namespace
 * of its own (skipped where user namespaces are not allowed).
 */
#include <config.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fusefs/cow.h"
#include "tests/unit/fake_tree.h"
#include "tests/unit/helpers.h"

#define BIG_LEN (700 * 1024)
#define MANY	100000

static struct fl_fake_tree *ft;
static struct fl_tree *lower, *cow;
static uint64_t l_a, l_dir, l_big, l_hard1;
static char upper[4096];
static char *big;

/* --- fixture ---------------------------------------------------------------------- */

/*
 * /a.txt "hello" 0644 (user.color=blue)   /dir/b.txt "bee"   /dir/sub/c.txt "sea"
 * /link -> a.txt   /empty/   /hard1 + /dir/hard2 (one inode)   /big (700 KiB,
 * the middle 300 KiB zero)
 */
static void build_lower(void)
{
	uint64_t sub;
	size_t i;

	ft = fl_fake_tree_new(NULL);
	l_a = fl_fake_tree_file(ft, FL_TREE_ROOT, "a.txt", 0644, "hello", 5);
	fl_fake_tree_xattr(ft, l_a, "user.color", "blue", 4);
	l_dir = fl_fake_tree_dir(ft, FL_TREE_ROOT, "dir", 0755);
	fl_fake_tree_file(ft, l_dir, "b.txt", 0644, "bee", 3);
	sub = fl_fake_tree_dir(ft, l_dir, "sub", 0755);
	fl_fake_tree_file(ft, sub, "c.txt", 0600, "sea", 3);
	fl_fake_tree_symlink(ft, FL_TREE_ROOT, "link", "a.txt");
	fl_fake_tree_dir(ft, FL_TREE_ROOT, "empty", 0700);
	l_hard1 = fl_fake_tree_file(ft, FL_TREE_ROOT, "hard1", 0644, "shared", 6);
	fl_fake_tree_hardlink(ft, l_dir, "hard2", l_hard1);
	big = malloc(BIG_LEN);
	cr_assert_not_null(big);
	for (i = 0; i < BIG_LEN; i++)
		big[i] = (i >= 200 * 1024 && i < 500 * 1024) ? 0 : (char)('a' + i % 23);
	l_big = fl_fake_tree_file(ft, FL_TREE_ROOT, "big", 0755, big, BIG_LEN);
}

/*
 * The upper layer of a run is a tmpfs: use one where there is (/dev/shm), as
 * disk filesystems make 100 000 creates slow for reasons of their own.
 */
static void upper_dir(char *buf, size_t size)
{
	struct statfs sf;

	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
	    access("/dev/shm", W_OK | X_OK) == 0) {
		snprintf(buf, size, "/dev/shm/fl-test-cow-XXXXXX");
		cr_assert_not_null(mkdtemp(buf));
		return;
	}
	snprintf(buf, size, "%s", fl_test_tmpdir());
}

static void setup(void)
{
	struct fl_error err = { 0 };
	int fd;

	build_lower();
	lower = fl_fake_tree_tree(ft);
	upper_dir(upper, sizeof(upper));
	fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(fl_cow_new(lower, fd, &cow, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	fl_tree_free(cow);
	cow = NULL;
	fl_test_rmtree(upper);
	free(big);
}

TestSuite(cow, .init = setup, .fini = teardown, .timeout = 120);

/* --- helpers ---------------------------------------------------------------------- */

/* Walk @path ("a/b", relative to the root); returns the node id or -errno. */
static int64_t walk(const char *path)
{
	char buf[1024], *save = NULL, *p;
	uint64_t node = FL_TREE_ROOT;
	int r;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		uint64_t next;

		r = cow->ops->lookup(cow, node, p, &next);
		if (r < 0)
			return r;
		node = next;
	}
	return (int64_t)node;
}

static uint64_t node_of(const char *path)
{
	int64_t n = walk(path);

	cr_assert(n > 0, "lookup %s: %s", path, strerror((int)-n));
	return (uint64_t)n;
}

/* Split @path into its directory's node and the last component. */
static uint64_t parent_of(const char *path, const char **ret_name)
{
	char dir[1024];
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_name = path;
		return FL_TREE_ROOT;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	*ret_name = slash + 1;
	return node_of(dir);
}

static struct stat stat_of(const char *path)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	cr_assert_eq(cow->ops->getattr(cow, node_of(path), &st), 0, "getattr %s", path);
	return st;
}

/* The whole content of @path, NUL-terminated; caller frees.  *ret_len if set. */
static char *slurp(const char *path, size_t *ret_len)
{
	uint64_t node = node_of(path), fh;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	cr_assert_eq(cow->ops->open(cow, node, &fh), 0, "open %s", path);
	for (;;) {
		if (len == cap)
			buf = realloc(buf, (cap *= 2) + 1);
		n = cow->ops->read(cow, node, fh, buf + len, cap - len, len);
		cr_assert(n >= 0, "read %s: %s", path, strerror((int)-n));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	cow->ops->release(cow, node, fh);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

static void assert_content(const char *path, const char *want)
{
	char *got = slurp(path, NULL);

	cr_assert_str_eq(got, want, "%s", path);
	free(got);
}

/* Open @path with @flags, write @data at @off, release; returns 0 or -errno. */
static int put(const char *path, int flags, const char *data, uint64_t off)
{
	uint64_t node = node_of(path), fh;
	ssize_t n;
	int r = cow->ops->open_flags(cow, node, flags, &fh);

	if (r < 0)
		return r;
	n = cow->ops->write(cow, node, fh, data, strlen(data), off);
	cow->ops->release(cow, node, fh);
	if (n < 0)
		return (int)n;
	cr_assert_eq((size_t)n, strlen(data));
	return 0;
}

static uint64_t make_file(const char *path, const char *data)
{
	const char *name;
	uint64_t dir = parent_of(path, &name), node, fh;
	int r = cow->ops->create(cow, dir, name, 0644, O_RDWR, &node, &fh);

	cr_assert_eq(r, 0, "create %s: %s", path, strerror(-r));
	cr_assert_eq(cow->ops->write(cow, node, fh, data, strlen(data), 0), (ssize_t)strlen(data));
	cow->ops->release(cow, node, fh);
	return node;
}

static int rm(const char *path)
{
	const char *name;
	uint64_t dir = parent_of(path, &name);

	return cow->ops->unlink(cow, dir, name);
}

static int rmd(const char *path)
{
	const char *name;
	uint64_t dir = parent_of(path, &name);

	return cow->ops->rmdir(cow, dir, name);
}

static int mkd(const char *path, mode_t mode)
{
	const char *name;
	uint64_t dir = parent_of(path, &name), node;

	return cow->ops->mkdir(cow, dir, name, mode, &node);
}

static int mv(const char *from, const char *to, unsigned flags)
{
	const char *n1, *n2;
	uint64_t d1 = parent_of(from, &n1), d2 = parent_of(to, &n2);

	return cow->ops->rename(cow, d1, n1, d2, n2, flags);
}

struct listing {
	char names[64][64];
	uint64_t cookies[64];
	size_t n, max;
};

static bool list_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
		      uint64_t next_off)
{
	struct listing *l = ctx;

	if (l->n == l->max)
		return true;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->cookies[l->n++] = next_off;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names in @path, sorted, joined with ','. */
static char *ls(const char *path)
{
	struct listing l = { .max = 64 };
	static char out[4096];
	size_t i;

	cr_assert_eq(cow->ops->readdir(cow, node_of(path), 0, list_fill, &l), 0);
	qsort(l.names, l.n, sizeof(l.names[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < l.n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, l.names[i]);
	}
	return out;
}

/* Regular files in the upper directory. */
static int upper_files(void)
{
	DIR *d = opendir(upper);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* What the lower tree itself holds for @node: it must never change. */
static void assert_lower(uint64_t node, const char *want)
{
	char buf[64];
	uint64_t fh;
	ssize_t n;

	cr_assert_eq(lower->ops->open(lower, node, &fh), 0);
	n = lower->ops->read(lower, node, fh, buf, sizeof(buf) - 1, 0);
	lower->ops->release(lower, node, fh);
	cr_assert(n >= 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, want);
}

/* --- reading ---------------------------------------------------------------------- */

Test(cow, reading_never_copies_up)
{
	struct stat st;
	char target[64];
	size_t len;
	char *data;

	assert_content("a.txt", "hello");
	assert_content("dir/sub/c.txt", "sea");
	data = slurp("big", &len);
	cr_assert_eq(len, BIG_LEN);
	cr_assert_eq(memcmp(data, big, BIG_LEN), 0);
	free(data);
	cr_assert_eq(cow->ops->readlink(cow, node_of("link"), target, sizeof(target)), 5);
	cr_assert_str_eq(target, "a.txt");
	cr_assert_str_eq(ls(""), "a.txt,big,dir,empty,hard1,link");
	cr_assert_str_eq(ls("dir"), "b.txt,hard2,sub");
	st = stat_of("dir/sub/c.txt");
	cr_assert_eq(st.st_mode, S_IFREG | 0600);
	cr_assert_eq(st.st_size, 3);
	cr_assert_eq(walk("nope"), -ENOENT);
	cr_assert_eq(walk("a.txt/x"), -ENOTDIR);
	cr_assert_eq(upper_files(), 0, "a file that is only read is never copied");
}

Test(cow, inode_numbers_and_hard_links_of_the_archive)
{
	struct stat h1 = stat_of("hard1"), h2 = stat_of("dir/hard2"), a = stat_of("a.txt");

	cr_assert_eq(h1.st_ino, h2.st_ino);
	cr_assert_eq(h1.st_nlink, 2);
	cr_assert_neq(a.st_ino, h1.st_ino);
	cr_assert_eq(node_of("hard1"), node_of("dir/hard2"), "one node for one inode");
	/* Writing one name of a hard link shows through the other. */
	cr_assert_eq(put("dir/hard2", O_WRONLY, "SH", 0), 0);
	assert_content("hard1", "SHared");
	assert_content("dir/hard2", "SHared");
	cr_assert_eq(upper_files(), 1);
	assert_lower(l_hard1, "shared");
}

/* --- writing ---------------------------------------------------------------------- */

Test(cow, write_copies_up_once_and_leaves_the_archive_alone)
{
	struct stat before = stat_of("a.txt"), after;
	char path[4200];

	cr_assert_eq(put("a.txt", O_WRONLY, "J", 0), 0);
	assert_content("a.txt", "Jello");
	cr_assert_eq(put("a.txt", O_RDWR, "!", 5), 0);
	assert_content("a.txt", "Jello!");
	cr_assert_eq(upper_files(), 1);
	after = stat_of("a.txt");
	cr_assert_eq(after.st_ino, before.st_ino, "copy-up keeps the inode number");
	/* The copy is named after that inode number. */
	snprintf(path, sizeof(path), "%s/%llu", upper, (unsigned long long)after.st_ino);
	cr_assert_eq(access(path, F_OK), 0, "%s", path);
	cr_assert_eq(after.st_size, 6);
	cr_assert_eq(after.st_mode, S_IFREG | 0644);
	assert_lower(l_a, "hello");
}

Test(cow, copy_up_of_a_large_sparse_file)
{
	size_t len;
	char *data;
	struct stat st;

	cr_assert_eq(put("big", O_WRONLY, "XY", BIG_LEN - 2), 0);
	data = slurp("big", &len);
	cr_assert_eq(len, BIG_LEN);
	cr_assert_eq(memcmp(data, big, BIG_LEN - 2), 0);
	cr_assert_eq(memcmp(data + BIG_LEN - 2, "XY", 2), 0);
	free(data);
	st = stat_of("big");
	cr_assert_eq(st.st_size, BIG_LEN);
	/* The zero run stayed a hole: fewer blocks than the size needs. */
	cr_assert_lt(st.st_blocks * 512, BIG_LEN - 200 * 1024, "blocks %lld",
		     (long long)st.st_blocks);
}

Test(cow, o_trunc_copies_nothing)
{
	uint64_t node = node_of("big"), fh;

	cr_assert_eq(cow->ops->open_flags(cow, node, O_WRONLY | O_TRUNC, &fh), 0);
	cr_assert_eq(cow->ops->write(cow, node, fh, "new", 3, 0), 3);
	cow->ops->release(cow, node, fh);
	assert_content("big", "new");
	cr_assert_eq(stat_of("big").st_size, 3);
}

Test(cow, a_reader_opened_before_copy_up_sees_the_new_data)
{
	uint64_t node = node_of("a.txt"), rfh;
	char buf[16];

	cr_assert_eq(cow->ops->open(cow, node, &rfh), 0);
	cr_assert_eq(cow->ops->read(cow, node, rfh, buf, 5, 0), 5);
	cr_assert_eq(put("a.txt", O_WRONLY, "Y", 0), 0);
	cr_assert_eq(cow->ops->read(cow, node, rfh, buf, 5, 0), 5);
	cr_assert_eq(memcmp(buf, "Yello", 5), 0);
	cow->ops->release(cow, node, rfh);
}

Test(cow, writing_through_a_read_only_handle_fails)
{
	uint64_t node = node_of("a.txt"), fh;

	cr_assert_eq(cow->ops->open(cow, node, &fh), 0);
	cr_assert_eq(cow->ops->write(cow, node, fh, "x", 1, 0), -EBADF);
	cow->ops->release(cow, node, fh);
	cr_assert_eq(cow->ops->write(cow, node, 12345, "x", 1, 0), -EBADF, "bad handle");
	cr_assert_eq(cow->ops->getattr(cow, 999999, &(struct stat){ 0 }), -ENOENT, "bad id");
	cr_assert_eq(upper_files(), 0);
}

Test(cow, create_unlink_and_create_again)
{
	uint64_t first = make_file("dir/new.txt", "one");
	struct stat st = stat_of("dir/new.txt");
	uint64_t node, fh;

	cr_assert_eq(st.st_mode, S_IFREG | 0644);
	cr_assert_eq(st.st_nlink, 1);
	assert_content("dir/new.txt", "one");
	cr_assert_eq(cow->ops->create(cow, node_of("dir"), "new.txt", 0600, O_RDWR, &node, &fh),
		     -EEXIST);
	cr_assert_eq(rm("dir/new.txt"), 0);
	cr_assert_eq(walk("dir/new.txt"), -ENOENT);
	cr_assert_str_eq(ls("dir"), "b.txt,hard2,sub");
	make_file("dir/new.txt", "two");
	assert_content("dir/new.txt", "two");
	(void)first;
}

Test(cow, unlink_of_archive_files_is_a_whiteout)
{
	uint64_t old_ino = stat_of("a.txt").st_ino;

	cr_assert_eq(rm("a.txt"), 0);
	cr_assert_eq(walk("a.txt"), -ENOENT);
	cr_assert_eq(rm("a.txt"), -ENOENT);
	cr_assert_str_eq(ls(""), "big,dir,empty,hard1,link");
	/* The symlink now dangles, as it would on disk. */
	cr_assert_eq(walk("link") > 0, 1);
	make_file("a.txt", "fresh");
	assert_content("a.txt", "fresh");
	cr_assert_neq(stat_of("a.txt").st_ino, old_ino);
	cr_assert_eq(rm("dir"), -EISDIR);
	assert_lower(l_a, "hello");
}

Test(cow, mkdir_and_rmdir)
{
	struct stat st;
	uint64_t node;

	cr_assert_eq(mkd("x", 0750), 0);
	st = stat_of("x");
	cr_assert_eq(st.st_mode, S_IFDIR | 0750);
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(mkd("x", 0755), -EEXIST);
	cr_assert_eq(mkd("a.txt", 0755), -EEXIST);
	make_file("x/f", "f");
	cr_assert_eq(rmd("x"), -ENOTEMPTY);
	cr_assert_eq(rmd("dir"), -ENOTEMPTY, "archive directory with entries");
	cr_assert_eq(rmd("a.txt"), -ENOTDIR);
	cr_assert_eq(rm("x/f"), 0);
	cr_assert_eq(rmd("x"), 0);
	cr_assert_eq(walk("x"), -ENOENT);
	cr_assert_eq(rmd("empty"), 0, "empty archive directory");
	cr_assert_eq(walk("empty"), -ENOENT);
	/* Emptied archive directories can go too, and come back empty. */
	cr_assert_eq(rm("dir/sub/c.txt"), 0);
	cr_assert_eq(rmd("dir/sub"), 0);
	cr_assert_eq(mkd("dir/sub", 0700), 0);
	cr_assert_str_eq(ls("dir/sub"), "");
	cr_assert_eq(walk("dir/sub/c.txt"), -ENOENT);
	cr_assert_eq(cow->ops->mkdir(cow, node_of("a.txt"), "y", 0755, &node), -ENOTDIR);
}

Test(cow, directory_link_counts)
{
	nlink_t n0 = stat_of("").st_nlink;

	cr_assert_eq(mkd("x", 0755), 0);
	cr_assert_eq(stat_of("").st_nlink, n0 + 1);
	cr_assert_eq(mv("x", "dir/x", 0), 0);
	cr_assert_eq(stat_of("").st_nlink, n0);
	cr_assert_eq(rmd("dir/x"), 0);
	cr_assert_eq(stat_of("").st_nlink, n0);
}

/* --- renames ---------------------------------------------------------------------- */

Test(cow, rename_files)
{
	uint64_t ino = stat_of("a.txt").st_ino;

	cr_assert_eq(mv("a.txt", "dir/moved.txt", 0), 0);
	cr_assert_eq(walk("a.txt"), -ENOENT);
	assert_content("dir/moved.txt", "hello");
	cr_assert_eq(stat_of("dir/moved.txt").st_ino, ino);
	cr_assert_eq(upper_files(), 0, "a rename copies nothing");
	/* Over an existing file: the target's content is gone. */
	cr_assert_eq(mv("dir/moved.txt", "dir/b.txt", 0), 0);
	assert_content("dir/b.txt", "hello");
	cr_assert_str_eq(ls("dir"), "b.txt,hard2,sub");
	cr_assert_eq(mv("nope", "x", 0), -ENOENT);
	/* Two names of one file: nothing happens (POSIX). */
	cr_assert_eq(mv("hard1", "dir/hard2", 0), 0);
	cr_assert_eq(walk("hard1") > 0, 1);
	cr_assert_eq(walk("dir/hard2") > 0, 1);
}

Test(cow, rename_flags)
{
	cr_assert_eq(mv("a.txt", "dir/b.txt", RENAME_NOREPLACE), -EEXIST);
	cr_assert_eq(mv("a.txt", "dir/free.txt", RENAME_NOREPLACE), 0);
	cr_assert_eq(mv("dir/free.txt", "dir/b.txt", RENAME_EXCHANGE), 0);
	assert_content("dir/b.txt", "hello");
	assert_content("dir/free.txt", "bee");
	cr_assert_eq(mv("dir/b.txt", "nothing", RENAME_EXCHANGE), -ENOENT);
	cr_assert_eq(mv("dir/b.txt", "x", RENAME_WHITEOUT), -EINVAL);
	cr_assert_eq(mv("dir/b.txt", "x", RENAME_EXCHANGE | RENAME_NOREPLACE), -EINVAL);
	/* Exchanging a file and a directory. */
	cr_assert_eq(mv("dir/sub", "a", RENAME_NOREPLACE), 0);
	make_file("f", "file");
	cr_assert_eq(mv("a", "f", RENAME_EXCHANGE), 0);
	assert_content("a", "file");
	assert_content("f/c.txt", "sea");
}

Test(cow, rename_directories_from_the_archive)
{
	cr_assert_eq(mv("dir", "empty/moved", 0), 0);
	cr_assert_eq(walk("dir"), -ENOENT);
	assert_content("empty/moved/sub/c.txt", "sea");
	assert_content("empty/moved/b.txt", "bee");
	make_file("empty/moved/sub/new", "n");
	cr_assert_str_eq(ls("empty/moved/sub"), "c.txt,new");
	/* And back, over an empty directory. */
	cr_assert_eq(mkd("dir", 0755), 0);
	cr_assert_eq(mv("empty/moved", "dir", 0), 0);
	cr_assert_str_eq(ls("dir/sub"), "c.txt,new");
	cr_assert_str_eq(ls("empty"), "");
	cr_assert_eq(upper_files(), 1);
}

Test(cow, rename_errors)
{
	cr_assert_eq(mv("dir", "dir/sub/inside", 0), -EINVAL, "into itself");
	cr_assert_eq(mv("dir", "dir/sub", RENAME_EXCHANGE), -EINVAL);
	cr_assert_eq(mv("empty", "dir", 0), -ENOTEMPTY);
	cr_assert_eq(mv("a.txt", "dir", 0), -EISDIR);
	cr_assert_eq(mv("dir", "a.txt", 0), -ENOTDIR);
	cr_assert_eq(mv("a.txt", "a.txt", 0), 0);
	cr_assert_str_eq(ls(""), "a.txt,big,dir,empty,hard1,link");
}

/* --- links ------------------------------------------------------------------------ */

Test(cow, hard_link_to_an_archive_file)
{
	uint64_t node = node_of("a.txt"), got;
	struct stat a, b;

	cr_assert_eq(cow->ops->link(cow, node, node_of("dir"), "a2", &got), 0);
	cr_assert_eq(got, node);
	a = stat_of("a.txt");
	b = stat_of("dir/a2");
	cr_assert_eq(a.st_ino, b.st_ino);
	cr_assert_eq(a.st_nlink, 2);
	cr_assert_eq(put("dir/a2", O_WRONLY, "C", 0), 0);
	assert_content("a.txt", "Cello");
	cr_assert_eq(rm("a.txt"), 0);
	assert_content("dir/a2", "Cello");
	cr_assert_eq(stat_of("dir/a2").st_nlink, 1);
	cr_assert_eq(cow->ops->link(cow, node_of("dir"), FL_TREE_ROOT, "d2", &got), -EPERM);
	cr_assert_eq(cow->ops->link(cow, node, FL_TREE_ROOT, "hard1", &got), -EEXIST);
	cr_assert_eq(upper_files(), 1);
	assert_lower(l_a, "hello");
}

Test(cow, symlinks)
{
	char buf[64];
	uint64_t node;

	cr_assert_eq(cow->ops->symlink(cow, FL_TREE_ROOT, "s", "dir/b.txt", &node), 0);
	cr_assert_eq(stat_of("s").st_mode & S_IFMT, S_IFLNK);
	cr_assert_eq(stat_of("s").st_size, 9);
	cr_assert_eq(cow->ops->readlink(cow, node, buf, sizeof(buf)), 9);
	cr_assert_str_eq(buf, "dir/b.txt");
	cr_assert_eq(cow->ops->readlink(cow, node, buf, 4), -ERANGE);
	cr_assert_eq(cow->ops->readlink(cow, node_of("a.txt"), buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(cow->ops->symlink(cow, FL_TREE_ROOT, "link", "x", &node), -EEXIST);
	cr_assert_eq(mv("s", "dir/s", 0), 0);
	cr_assert_eq(cow->ops->readlink(cow, node_of("dir/s"), buf, sizeof(buf)), 9);
}

Test(cow, mknod)
{
	uint64_t node;

	cr_assert_eq(cow->ops->mknod(cow, FL_TREE_ROOT, "fifo", S_IFIFO | 0640, 0, &node), 0);
	cr_assert_eq(stat_of("fifo").st_mode, S_IFIFO | 0640);
	cr_assert_eq(cow->ops->mknod(cow, FL_TREE_ROOT, "reg", S_IFREG | 0600, 0, &node), 0);
	assert_content("reg", "");
	cr_assert_eq(
	    cow->ops->mknod(cow, FL_TREE_ROOT, "null", S_IFCHR | 0666, makedev(1, 3), &node),
	    -EPERM);
	cr_assert_eq(walk("null"), -ENOENT);
	cr_assert_str_eq(ls(""), "a.txt,big,dir,empty,fifo,hard1,link,reg");
}

/* --- attributes ------------------------------------------------------------------- */

Test(cow, chmod_and_utimens_copy_nothing)
{
	struct fl_tree_setattr sa = { .valid = FL_TREE_SET_MODE, .mode = 0600 };
	struct stat st;

	cr_assert_eq(cow->ops->setattr(cow, node_of("a.txt"), 0, &sa), 0);
	cr_assert_eq(stat_of("a.txt").st_mode, S_IFREG | 0600);
	sa = (struct fl_tree_setattr){ .valid = FL_TREE_SET_MTIME | FL_TREE_SET_ATIME,
				       .mtime = { 1234567890, 5 },
				       .atime = { 1111111111, 0 } };
	cr_assert_eq(cow->ops->setattr(cow, node_of("dir"), 0, &sa), 0);
	st = stat_of("dir");
	cr_assert_eq(st.st_mtim.tv_sec, 1234567890);
	cr_assert_eq(st.st_mtim.tv_nsec, 5);
	cr_assert_eq(st.st_atim.tv_sec, 1111111111);
	cr_assert_eq(upper_files(), 0);
	/* After a copy-up, times live on the upper file. */
	cr_assert_eq(put("a.txt", O_WRONLY, "x", 0), 0);
	sa.valid = FL_TREE_SET_MTIME;
	cr_assert_eq(cow->ops->setattr(cow, node_of("a.txt"), 0, &sa), 0);
	st = stat_of("a.txt");
	cr_assert_eq(st.st_mtim.tv_sec, 1234567890);
	cr_assert_eq(st.st_mode, S_IFREG | 0600, "mode kept across copy-up");
}

Test(cow, copy_up_keeps_times)
{
	struct stat before = stat_of("dir/b.txt"), after;
	struct fl_tree_setattr sa = { .valid = FL_TREE_SET_MODE, .mode = 0444 };

	cr_assert_eq(cow->ops->setattr(cow, node_of("dir/b.txt"), 0, &sa), 0);
	cr_assert_eq(put("dir/b.txt", O_RDWR, "B", 3), 0);
	after = stat_of("dir/b.txt");
	cr_assert_eq(after.st_mode, S_IFREG | 0444);
	cr_assert_gt(after.st_mtim.tv_sec, before.st_mtim.tv_sec, "written: mtime moves");
	assert_content("dir/b.txt", "beeB");
}

Test(cow, truncate)
{
	struct fl_tree_setattr sa = { .valid = FL_TREE_SET_SIZE, .size = 2 };
	char *data;
	size_t len;

	cr_assert_eq(cow->ops->setattr(cow, node_of("a.txt"), 0, &sa), 0);
	assert_content("a.txt", "he");
	sa.size = 8;
	cr_assert_eq(cow->ops->setattr(cow, node_of("a.txt"), 0, &sa), 0);
	data = slurp("a.txt", &len);
	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(data, "he\0\0\0\0\0\0", 8), 0);
	free(data);
	sa.size = 0;
	cr_assert_eq(cow->ops->setattr(cow, node_of("big"), 0, &sa), 0);
	cr_assert_eq(stat_of("big").st_size, 0);
	cr_assert_eq(cow->ops->setattr(cow, node_of("dir"), 0, &sa), -EISDIR);
	cr_assert_eq(cow->ops->setattr(cow, node_of("link"), 0, &sa), -EINVAL);
	assert_lower(l_a, "hello");
}

Test(cow, xattrs)
{
	uint64_t a = node_of("a.txt");
	char buf[256];

	cr_assert_eq(cow->ops->getxattr(cow, a, "user.color", buf, sizeof(buf)), 4);
	cr_assert_eq(memcmp(buf, "blue", 4), 0);
	cr_assert_eq(cow->ops->setxattr(cow, a, "user.color", "red", 3, XATTR_CREATE), -EEXIST);
	cr_assert_eq(cow->ops->setxattr(cow, a, "user.new", "v", 1, XATTR_REPLACE), -ENODATA);
	cr_assert_eq(cow->ops->setxattr(cow, a, "user.color", "red", 3, XATTR_REPLACE), 0);
	cr_assert_eq(cow->ops->setxattr(cow, a, "user.new", "v", 1, 0), 0);
	cr_assert_eq(cow->ops->getxattr(cow, a, "user.color", buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "red", 3), 0);
	cr_assert_eq(cow->ops->listxattr(cow, a, NULL, 0), 20);
	cr_assert_eq(cow->ops->listxattr(cow, a, buf, sizeof(buf)), 20);
	cr_assert_eq(memcmp(buf, "user.color\0user.new\0", 20), 0);
	cr_assert_eq(cow->ops->listxattr(cow, a, buf, 5), -ERANGE);
	cr_assert_eq(cow->ops->removexattr(cow, a, "user.color"), 0);
	cr_assert_eq(cow->ops->removexattr(cow, a, "user.color"), -ENODATA);
	cr_assert_eq(cow->ops->getxattr(cow, a, "user.color", buf, sizeof(buf)), -ENODATA);
	cr_assert_eq(cow->ops->setxattr(cow, node_of("dir"), "user.d", "1", 1, 0), 0);
	cr_assert_eq(cow->ops->getxattr(cow, node_of("dir"), "user.d", buf, 0), 1);
	cr_assert_eq(upper_files(), 0);
}

Test(cow, statfs_is_the_upper_filesystem)
{
	struct statvfs got, want;
	int fd = open(upper, O_RDONLY | O_DIRECTORY);

	cr_assert_eq(cow->ops->statfs(cow, &got), 0);
	cr_assert_eq(fstatvfs(fd, &want), 0);
	close(fd);
	cr_assert_eq(got.f_bsize, want.f_bsize);
	cr_assert_eq(got.f_blocks, want.f_blocks);
	cr_assert_eq(got.f_fsid, want.f_fsid);
}

/* --- listings --------------------------------------------------------------------- */

Test(cow, readdir_cookies_survive_changes)
{
	struct listing l = { .max = 2 }, rest = { .max = 64 };
	uint64_t dir = node_of("dir");
	size_t i;
	char all[512] = "";

	/* Start listing an untouched archive directory... */
	cr_assert_eq(cow->ops->readdir(cow, dir, 0, list_fill, &l), 0);
	cr_assert_eq(l.n, 2);
	/* ...change it (an entry already listed goes, a new one comes)... */
	cr_assert_eq(rm("dir/b.txt"), 0);
	make_file("dir/z", "z");
	/* ...and the listing goes on from its cookie, each entry once. */
	cr_assert_eq(cow->ops->readdir(cow, dir, l.cookies[1], list_fill, &rest), 0);
	for (i = 0; i < l.n; i++)
		strcat(strcat(all, l.names[i]), ",");
	for (i = 0; i < rest.n; i++)
		strcat(strcat(all, rest.names[i]), ",");
	cr_assert_str_eq(all, "b.txt,sub,hard2,z,");
}

Test(cow, readdir_in_a_changing_directory)
{
	char name[32], seen[40] = { 0 };
	struct listing l = { .max = 10 }, rest = { .max = 64 };
	uint64_t dir;
	size_t i;
	int k;

	cr_assert_eq(mkd("d", 0755), 0);
	for (k = 0; k < 40; k++) {
		snprintf(name, sizeof(name), "d/f%02d", k);
		make_file(name, "x");
	}
	dir = node_of("d");
	cr_assert_eq(cow->ops->readdir(cow, dir, 0, list_fill, &l), 0);
	cr_assert_eq(l.n, 10);
	/* Delete read and unread entries, rename one unread one. */
	cr_assert_eq(rm("d/f03"), 0);
	cr_assert_eq(rm("d/f20"), 0);
	cr_assert_eq(mv("d/f30", "d/renamed", 0), 0);
	cr_assert_eq(cow->ops->readdir(cow, dir, l.cookies[9], list_fill, &rest), 0);
	for (i = 0; i < l.n; i++)
		seen[atoi(l.names[i] + 1)]++;
	for (i = 0; i < rest.n; i++) {
		cr_assert_str_neq(rest.names[i], "f20", "deleted entry listed");
		cr_assert_str_neq(rest.names[i], "f30", "renamed entry listed under its old name");
		if (rest.names[i][0] == 'f')
			seen[atoi(rest.names[i] + 1)]++;
	}
	for (k = 0; k < 40; k++)
		if (k != 20 && k != 30)
			cr_assert_eq(seen[k], 1, "f%02d seen %d times", k, seen[k]);
}

/* --- lookup counting and scale ---------------------------------------------------------- */

Test(cow, forgotten_nodes_are_freed)
{
	size_t base = fl_cow_nodes(cow);
	uint64_t node = node_of("dir/b.txt"), fh, again;

	cr_assert_gt(fl_cow_nodes(cow), base);
	/* node_of looked up "dir" and "dir/b.txt" once each. */
	cow->ops->forget(cow, node, 1);
	cow->ops->forget(cow, node_of("dir"), 2);
	cr_assert_eq(fl_cow_nodes(cow), base, "pure archive nodes go when forgotten");
	/* An unlinked file stays while open, and its upper file goes with it. */
	node = make_file("gone", "data");
	cr_assert_eq(cow->ops->open(cow, node, &fh), 0);
	cr_assert_eq(rm("gone"), 0);
	cr_assert_eq(cow->ops->lookup(cow, FL_TREE_ROOT, "gone", &again), -ENOENT);
	cr_assert_eq(cow->ops->read(cow, node, fh, (char[8]){ 0 }, 8, 0), 4);
	cow->ops->forget(cow, node, 1);
	cr_assert_eq(upper_files(), 1, "still open");
	cow->ops->release(cow, node, fh);
	cr_assert_eq(upper_files(), 0);
	cr_assert_eq(fl_cow_nodes(cow), base);
}

static bool count_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
		       uint64_t next_off)
{
	(*(uint64_t *)ctx)++;
	return false;
}

Test(cow, a_hundred_thousand_creates)
{
	char name[32];
	uint64_t dir, node, fh, total = 0;
	size_t base;
	int k;

	cr_assert_eq(mkd("many", 0755), 0);
	dir = node_of("many");
	base = fl_cow_nodes(cow);
	for (k = 0; k < MANY; k++) {
		snprintf(name, sizeof(name), "f%06d", k);
		if (k % 1000 == 0) {
			cr_assert_eq(cow->ops->create(cow, dir, name, 0644, O_RDWR, &node, &fh), 0);
			cr_assert_eq(cow->ops->write(cow, node, fh, name, 7, 0), 7);
			cow->ops->release(cow, node, fh);
		} else {
			cr_assert_eq(cow->ops->mknod(cow, dir, name, S_IFREG | 0644, 0, &node), 0,
				     "%s", name);
		}
	}
	cr_assert_eq(fl_cow_nodes(cow), base + MANY);
	cr_assert_eq(cow->ops->readdir(cow, dir, 0, count_fill, &total), 0);
	cr_assert_eq(total, MANY);
	assert_content("many/f042000", "f042000");
	cow->ops->forget(cow, node_of("many/f042000"), 2); /* the two walks' references */
	/* Remove them all and let the kernel forget them: memory comes back. */
	for (k = 0; k < MANY; k++) {
		snprintf(name, sizeof(name), "f%06d", k);
		cr_assert_eq(cow->ops->lookup(cow, dir, name, &node), 0);
		cr_assert_eq(cow->ops->unlink(cow, dir, name), 0);
		cow->ops->forget(cow, node, 2);
	}
	cr_assert_eq(fl_cow_nodes(cow), base);
	cr_assert_eq(upper_files(), 0);
	cr_assert_str_eq(ls("many"), "");
}

/* --- threads ---------------------------------------------------------------------- */

static void *worker(void *arg)
{
	long id = (long)arg;
	char name[32], data[32];
	uint64_t node, fh;
	int k;

	for (k = 0; k < 300; k++) {
		snprintf(name, sizeof(name), "t%ld-%d", id, k);
		snprintf(data, sizeof(data), "%ld:%d", id, k);
		if (cow->ops->create(cow, FL_TREE_ROOT, name, 0644, O_RDWR, &node, &fh) != 0)
			return (void *)1;
		if (cow->ops->write(cow, node, fh, data, strlen(data), 0) != (ssize_t)strlen(data))
			return (void *)2;
		cow->ops->release(cow, node, fh);
		if (put("a.txt", O_WRONLY, "h", 0) != 0)
			return (void *)3;
		if (k % 3 == 0 && cow->ops->unlink(cow, FL_TREE_ROOT, name) != 0)
			return (void *)4;
	}
	return NULL;
}

Test(cow, two_threads)
{
	pthread_t th[2];
	void *ret;
	char name[32], want[32];
	long i;
	int k;

	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], &ret);
		cr_assert_null(ret, "worker %ld failed at step %ld", i, (long)ret);
	}
	for (i = 0; i < 2; i++) {
		for (k = 0; k < 300; k++) {
			snprintf(name, sizeof(name), "t%ld-%d", i, k);
			if (k % 3 == 0) {
				cr_assert_eq(walk(name), -ENOENT);
				continue;
			}
			snprintf(want, sizeof(want), "%ld:%d", i, k);
			assert_content(name, want);
		}
	}
	assert_content("a.txt", "hello");
}

/* --- a full upper filesystem ---------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* In a child with its own user and mount namespace: a 256 KiB tmpfs upper. */
static int enospc_child(const char *dir)
{
	struct fl_error err = { 0 };
	char map[64], chunk[4096];
	uint64_t node, fh, off = 0;
	uid_t uid = getuid();
	gid_t gid = getgid();
	ssize_t w = 0;
	char *data;
	int fd;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return 77;
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0 ||
	    write_file("/proc/self/setgroups", "deny") < 0)
		return 77;
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
	if (write_file("/proc/self/gid_map", map) < 0)
		return 77;
	if (mount("none", dir, "tmpfs", 0, "size=256k") < 0)
		return 77;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(upper, sizeof(upper), "%s", dir);
	build_lower();
	if (fd < 0 || fl_cow_new(fl_fake_tree_tree(ft), fd, &cow, &err) < 0)
		return 10;
	/* Copy-up of a file larger than the tmpfs: ENOSPC, nothing left behind. */
	if (put("big", O_WRONLY, "x", 0) != -ENOSPC)
		return 11;
	if (upper_files() != 0)
		return 12;
	/* Writes until full get ENOSPC, and the tree keeps working. */
	if (cow->ops->create(cow, FL_TREE_ROOT, "fill", 0644, O_RDWR, &node, &fh) < 0)
		return 13;
	memset(chunk, 'f', sizeof(chunk));
	while ((w = cow->ops->write(cow, node, fh, chunk, sizeof(chunk), off)) > 0)
		off += (uint64_t)w;
	cow->ops->release(cow, node, fh);
	if (w != -ENOSPC || off == 0 || off > 256 * 1024)
		return 14;
	if (cow->ops->unlink(cow, FL_TREE_ROOT, "fill") < 0)
		return 15;
	cow->ops->forget(cow, node, 1);
	if (upper_files() != 0)
		return 16;
	if (put("a.txt", O_WRONLY, "J", 0) != 0)
		return 17;
	data = slurp("a.txt", NULL);
	if (strcmp(data, "Jello") != 0)
		return 18;
	free(data);
	fl_tree_free(cow);
	return 0;
}

Test(cow_enospc, full_upper_gives_enospc, .timeout = 60)
{
	char dir[4096];
	pid_t pid;
	int status;

	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(enospc_child(dir));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	fl_test_rmtree(dir);
	cr_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		cr_skip_test("user namespaces with tmpfs mounts are not allowed here");
	cr_assert_eq(WEXITSTATUS(status), 0, "step %d failed", WEXITSTATUS(status));
}
