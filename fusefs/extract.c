/* SPDX-License-Identifier: MIT */
/*
 * Extraction of an archive tree into a directory, and its removal (see
 * extract.h).  Every file operation is relative to a directory descriptor
 * this code opened itself with O_NOFOLLOW; names come from the tree and are
 * checked again here (one component, never "." or ".."), so an archive can
 * never make us write outside the target.  It must never create device
 * nodes, never follow a symlink, never print.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fusefs/extract.h"

#define BUF_SIZE   (128u << 10)
#define PATH_CAP   (FL_EXTRACT_MAX_DEPTH * 256 + 256)
#define XATTR_CAP  (64u << 10)
#define MODE_BITS  (S_ISVTX | 0777) /* set-id bits are never kept */
#define REMOVE_MAX_DEPTH 1024

/* A small open-addressing map from a non-zero 64-bit key to a string (or to
 * a marker): visited directory nodes, and the first path of each hard-linked
 * inode. */
struct map {
	uint64_t *keys;
	char **vals;
	size_t cap, n;
};

struct ent {
	char *name;
	uint64_t node;
	struct stat st;
};

struct list {
	struct ent *v;
	size_t n, cap;
	bool oom;
};

struct ctx {
	struct fl_tree *t;
	const struct fl_extract_opts *opts;
	struct fl_extract_stats st;
	struct fl_error *err;
	int rootfd;
	char *path;  /* the current entry, relative to the root */
	size_t plen;
	char *buf;
	char *xbuf;
	struct map dirs, links;
};

static char MARK[] = "";

static size_t slot(const struct map *m, uint64_t key)
{
	size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (m->cap - 1);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static char *map_get(const struct map *m, uint64_t key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = slot(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

/* Insert @key (non-zero, not present) with @val, which the map then owns
 * unless it is MARK.  Returns 0 or -ENOMEM. */
static int map_put(struct map *m, uint64_t key, char *val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct map bigger = { .cap = m->cap ? m->cap * 2 : 256 };

		bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
		bigger.vals = calloc(bigger.cap, sizeof(*bigger.vals));
		if (!bigger.keys || !bigger.vals) {
			free(bigger.keys);
			free(bigger.vals);
			return -ENOMEM;
		}
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->keys[j])
				continue;
			i = slot(&bigger, m->keys[j]);
			bigger.keys[i] = m->keys[j];
			bigger.vals[i] = m->vals[j];
		}
		bigger.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = bigger;
	}
	i = slot(m, key);
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

static void map_free(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i] && m->vals[i] != MARK)
			free(m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = (struct map){ 0 };
}

/* ---- path and messages ------------------------------------------------- */

static size_t path_push(struct ctx *c, const char *name)
{
	size_t old = c->plen, len = strlen(name);

	if (c->plen)
		c->path[c->plen++] = '/';
	memcpy(c->path + c->plen, name, len + 1);
	c->plen += len;
	return old;
}

static void path_pop(struct ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static void skip(struct ctx *c, const char *why)
{
	char msg[FL_ERROR_MSG_MAX];

	c->st.skipped++;
	if (!c->opts || !c->opts->warn)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", c->plen ? c->path : ".", why);
	c->opts->warn(c->opts->warn_ctx, msg);
}

static int fail(struct ctx *c, int e, const char *what)
{
	return fl_error_set(c->err, e, "cannot %s %s: %s", what, c->plen ? c->path : ".",
			    strerror(e));
}

/* Errors that mean "the target cannot take this" rather than "this entry is
 * odd": they stop the extraction. */
static bool fatal_errno(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS || e == EIO || e == ENOMEM ||
	       e == EMFILE || e == ENFILE || e == EFBIG;
}

/* An entry could not be created: stop for a target error, else skip it. */
static int create_failed(struct ctx *c, int e)
{
	if (fatal_errno(e))
		return fail(c, e, "create");
	skip(c, strerror(e));
	return 0;
}

static bool name_ok(const char *name)
{
	return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       !strchr(name, '/') && strlen(name) <= 255;
}

/* ---- metadata ------------------------------------------------------------ */

static void copy_xattrs(struct ctx *c, uint64_t node, int fd)
{
	ssize_t len, vlen;

	if (!c->t->ops->listxattr || !c->t->ops->getxattr)
		return;
	len = c->t->ops->listxattr(c->t, node, c->xbuf, XATTR_CAP / 2);
	if (len <= 0)
		return;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(c->xbuf + i) + 1) {
		const char *name = c->xbuf + i;

		/* Only user.* is ever shown (SPEC §4), and never overlay's own. */
		if (strncmp(name, "user.", 5) != 0 || strncmp(name, "user.overlay.", 13) == 0)
			continue;
		vlen = c->t->ops->getxattr(c->t, node, name, c->xbuf + XATTR_CAP / 2,
					   XATTR_CAP / 2);
		if (vlen >= 0)
			fsetxattr(fd, name, c->xbuf + XATTR_CAP / 2, (size_t)vlen, 0);
	}
}

static void times_of(const struct stat *st, struct timespec ts[2])
{
	ts[0] = st->st_atim;
	ts[1] = st->st_mtim;
}

/* ---- entries ------------------------------------------------------------- */

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int write_all_at(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Copy the data of @e into @fd.  Returns 0, 1 when the tree could not read
 * it (skipped), or -errno for a write error. */
static int copy_data(struct ctx *c, const struct ent *e, int fd)
{
	uint64_t fh = 0, off = 0;
	ssize_t n;
	int r;

	r = c->t->ops->open(c->t, e->node, &fh);
	if (r < 0) {
		skip(c, strerror(-r));
		return 1;
	}
	for (;;) {
		n = c->t->ops->read(c->t, e->node, fh, c->buf, BUF_SIZE, off);
		if (n <= 0)
			break;
		/* Runs of zeros become holes: sparse files stay sparse. */
		if (!all_zero(c->buf, (size_t)n)) {
			r = write_all_at(fd, c->buf, (size_t)n, (off_t)off);
			if (r < 0)
				break;
			c->st.bytes += (uint64_t)n;
		}
		off += (uint64_t)n;
	}
	c->t->ops->release(c->t, e->node, fh);
	if (r < 0)
		return fail(c, -r, "write");
	if (n < 0) {
		skip(c, strerror((int)-n));
		return 1;
	}
	if (ftruncate(fd, (off_t)off) < 0)
		return fail(c, errno, "write");
	return 0;
}

/* A second name for an inode already written: link it to the first one,
 * whose parent is found again beneath the root without following any
 * symlink.  Returns 0 when linked, 1 when the caller should copy instead. */
static int link_again(struct ctx *c, int dirfd, const struct ent *e, const char *first)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
	const char *slash = strrchr(first, '/');
	int pfd = c->rootfd, r;

	if (slash) {
		char parent[PATH_CAP];

		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - first), first);
		pfd = (int)syscall(SYS_openat2, c->rootfd, parent, &how, sizeof(how));
		if (pfd < 0)
			return 1;
	}
	r = linkat(pfd, slash ? slash + 1 : first, dirfd, e->name, 0);
	if (slash)
		close(pfd);
	if (r < 0)
		return 1;
	c->st.hardlinks++;
	return 0;
}

static int put_file(struct ctx *c, int dirfd, const struct ent *e)
{
	char *first = e->st.st_nlink > 1 ? map_get(&c->links, (uint64_t)e->st.st_ino + 1) : NULL;
	struct timespec ts[2];
	int fd, r;

	if (first && link_again(c, dirfd, e, first) == 0)
		return 0;
	fd = openat(dirfd, e->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		skip(c, "already exists; skipped");
		return 0;
	}
	if (fd < 0)
		return fail(c, errno, "create");
	r = copy_data(c, e, fd);
	if (r != 0) {
		close(fd);
		unlinkat(dirfd, e->name, 0);
		return r < 0 ? r : 0;
	}
	copy_xattrs(c, e->node, fd);
	times_of(&e->st, ts);
	if (fchmod(fd, e->st.st_mode & MODE_BITS) < 0 || futimens(fd, ts) < 0) {
		r = errno;
		close(fd);
		return fail(c, r, "set the mode of");
	}
	close(fd);
	c->st.files++;
	if (e->st.st_nlink > 1 && !first) {
		char *p = strdup(c->path);

		if (!p || map_put(&c->links, (uint64_t)e->st.st_ino + 1, p) < 0) {
			free(p);
			return fail(c, ENOMEM, "remember");
		}
	}
	return 0;
}

static int put_symlink(struct ctx *c, int dirfd, const struct ent *e)
{
	char target[4097];
	struct timespec ts[2];
	ssize_t n;

	n = c->t->ops->readlink(c->t, e->node, target, sizeof(target));
	if (n < 0) {
		skip(c, strerror((int)-n));
		return 0;
	}
	/* Created as a link, never resolved: its target may point anywhere. */
	if (symlinkat(target, dirfd, e->name) < 0) {
		if (errno == EEXIST) {
			skip(c, "already exists; skipped");
			return 0;
		}
		return create_failed(c, errno);
	}
	times_of(&e->st, ts);
	utimensat(dirfd, e->name, ts, AT_SYMLINK_NOFOLLOW);
	c->st.symlinks++;
	return 0;
}

static int put_fifo(struct ctx *c, int dirfd, const struct ent *e)
{
	struct timespec ts[2];

	if (mkfifoat(dirfd, e->name, 0600) < 0) {
		if (errno == EEXIST) {
			skip(c, "already exists; skipped");
			return 0;
		}
		return create_failed(c, errno);
	}
	/* AT_SYMLINK_NOFOLLOW: glibc does it through an O_PATH descriptor.  A
	 * fifo left at 0600 is harmless, so a failure is only a warning. */
	if (fchmodat(dirfd, e->name, e->st.st_mode & MODE_BITS, AT_SYMLINK_NOFOLLOW) < 0)
		skip(c, "cannot set the fifo's mode");
	times_of(&e->st, ts);
	utimensat(dirfd, e->name, ts, AT_SYMLINK_NOFOLLOW);
	c->st.fifos++;
	return 0;
}

static int put_tree(struct ctx *c, int dirfd, uint64_t dir, const struct stat *dst, int depth);

static int put_dir(struct ctx *c, int dirfd, const struct ent *e, int depth)
{
	int fd, r;

	if (depth >= FL_EXTRACT_MAX_DEPTH) {
		skip(c, "directory nested too deep; skipped");
		return 0;
	}
	if (map_get(&c->dirs, e->node)) {
		skip(c, "directory already extracted elsewhere (a loop in the archive); skipped");
		return 0;
	}
	if (map_put(&c->dirs, e->node, MARK) < 0)
		return fail(c, ENOMEM, "remember");
	if (mkdirat(dirfd, e->name, 0700) < 0) {
		if (errno == EEXIST) {
			skip(c, "already exists; skipped");
			return 0;
		}
		return fail(c, errno, "create");
	}
	fd = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(c, errno, "open");
	r = put_tree(c, fd, e->node, &e->st, depth + 1);
	close(fd);
	if (r == 0)
		c->st.dirs++;
	return r;
}

static bool collect(void *ctx, const char *name, uint64_t node, const struct stat *st,
		    uint64_t next_off)
{
	struct list *l = ctx;

	(void)next_off;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct ent *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return true;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name) {
		l->oom = true;
		return true;
	}
	l->v[l->n].node = node;
	l->v[l->n].st = *st;
	l->n++;
	return false;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* Every entry of @dir; the backend lists a whole directory in one call
 * when the callback never reports a full buffer. */
static int list_dir(struct ctx *c, uint64_t dir, struct list *l)
{
	int r = c->t->ops->readdir(c->t, dir, 0, collect, l);

	if (r == 0 && l->oom)
		r = -ENOMEM;
	return r < 0 ? fail(c, -r, "list") : 0;
}

static int put_entry(struct ctx *c, int dirfd, const struct ent *e, int depth)
{
	switch (e->st.st_mode & S_IFMT) {
	case S_IFREG:
		return put_file(c, dirfd, e);
	case S_IFDIR:
		return put_dir(c, dirfd, e, depth);
	case S_IFLNK:
		return put_symlink(c, dirfd, e);
	case S_IFIFO:
		return put_fifo(c, dirfd, e);
	default:
		/* A device node on disk would be a live device. */
		skip(c, "device nodes and sockets are not extracted");
		return 0;
	}
}

/* Fill the open directory @dirfd with the entries of tree directory @dir,
 * then give it @dst's mode, xattrs and times (after the content, so that a
 * read-only directory can be filled). */
static int put_tree(struct ctx *c, int dirfd, uint64_t dir, const struct stat *dst, int depth)
{
	struct list l = { 0 };
	struct timespec ts[2];
	int r;

	r = list_dir(c, dir, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		size_t old = path_push(c, name_ok(l.v[i].name) ? l.v[i].name : "?");

		if (!name_ok(l.v[i].name))
			skip(c, "unsafe name; skipped");
		else
			r = put_entry(c, dirfd, &l.v[i], depth);
		path_pop(c, old);
	}
	list_free(&l);
	if (r < 0)
		return r;
	copy_xattrs(c, dir, dirfd);
	times_of(dst, ts);
	if (fchmod(dirfd, dst->st_mode & MODE_BITS) < 0 || futimens(dirfd, ts) < 0)
		return fail(c, errno, "set the mode of");
	return 0;
}

int fl_extract_tree(struct fl_tree *tree, int dirfd, const struct fl_extract_opts *opts,
		    struct fl_extract_stats *ret_stats, struct fl_error *err)
{
	struct ctx c = { .t = tree, .opts = opts, .err = err, .rootfd = dirfd };
	struct stat root;
	int r;

	r = tree->ops->getattr(tree, FL_TREE_ROOT, &root);
	if (r < 0)
		return fl_error_set(err, -r, "cannot read the archive's root: %s", strerror(-r));
	c.path = calloc(1, PATH_CAP);
	c.buf = malloc(BUF_SIZE);
	c.xbuf = malloc(XATTR_CAP);
	r = -ENOMEM;
	if (c.path && c.buf && c.xbuf && map_put(&c.dirs, FL_TREE_ROOT, MARK) == 0)
		r = put_tree(&c, dirfd, FL_TREE_ROOT, &root, 0);
	else
		fl_error_set(err, ENOMEM, "out of memory");
	if (r == 0 && ret_stats)
		*ret_stats = c.st;
	map_free(&c.dirs);
	map_free(&c.links);
	free(c.path);
	free(c.buf);
	free(c.xbuf);
	return r;
}

/* ---- removal ------------------------------------------------------------- */

static int remove_in(int dirfd, const char *name, dev_t dev, int depth);

/* Remove every entry of the open directory @fd; returns how many are left
 * to retry (removal while reading may skip entries) or -errno. */
static int empty_dir(int fd, dev_t dev, int depth, int *first_err)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int removed = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_in(fd, de->d_name, dev, depth + 1);
		if (r < 0 && !*first_err)
			*first_err = r;
		if (r == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

static int remove_in(int dirfd, const char *name, dev_t dev, int depth)
{
	struct stat st;
	int fd, first_err = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (st.st_dev != dev)
		return -EBUSY;  /* something is mounted here: not ours to empty */
	if (depth > REMOVE_MAX_DEPTH)
		return -ELOOP;
	/* A read-only directory must become writable before it can be
	 * emptied; AT_SYMLINK_NOFOLLOW never changes what a symlink names. */
	if ((st.st_mode & 0700) != 0700 && fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != dev) {
		close(fd);
		return -EBUSY;
	}
	for (int pass = 0; pass < 3; pass++) {
		int n = empty_dir(fd, dev, depth, &first_err);

		if (n <= 0)
			break;
	}
	close(fd);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return first_err ? first_err : -errno;
	return first_err;
}

int fl_extract_remove(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return remove_in(dirfd, name, st.st_dev, 0);
}
