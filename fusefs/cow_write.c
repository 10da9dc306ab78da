/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write tree (cow.h), part two: copy-up and the write verbs.
 * Only regular files that are written get an upper file; every other change
 * (names, whiteouts, renames, modes, times, xattrs) is kept in memory.  The
 * lower tree is only ever read.  Each verb takes the tree's lock; file data
 * moves outside it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fusefs/cow_int.h"

#define COW_COPY_CHUNK (256 * 1024)
#define COW_HOLE_BLOCK 4096
/* Suffixes tried when an upper name is taken (repeated inode numbers). */
#define COW_CREATE_TRIES 16

static struct fl_cow *cow_from(struct fl_tree *t)
{
	return (struct fl_cow *)t;
}

/* --- upper files ------------------------------------------------------------------ */

/*
 * Make @n's new, empty upper file (its attributes must be set: the name comes
 * from st_ino).  Sets n->upper and returns the descriptor (O_RDWR).
 */
static int cow_upper_create(struct fl_cow *c, struct cow_node *n)
{
	char name[48];
	uint64_t k;
	int fd;

	n->upper_ino = (uint64_t)n->st.st_ino;
	for (k = 1; k <= COW_CREATE_TRIES; k++) {
		n->upper = k;
		cow_upper_name(n, name);
		fd = openat(c->upper_fd, name,
			    O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	fd = errno == EEXIST ? -EEXIST : -errno;
	n->upper = 0;
	return fd;
}

static bool cow_all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int cow_pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -ENOSPC;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Write @n bytes at @off, leaving whole zero blocks as holes. */
static int cow_write_sparse(int fd, const char *p, size_t n, uint64_t off)
{
	size_t i = 0, start;
	int r;

	while (i < n) {
		size_t len = n - i < COW_HOLE_BLOCK ? n - i : COW_HOLE_BLOCK;

		if (cow_all_zero(p + i, len)) {
			i += len;
			continue;
		}
		/* Gather the run of blocks that hold data. */
		start = i;
		while (i < n &&
		       !cow_all_zero(p + i, n - i < COW_HOLE_BLOCK ? n - i : COW_HOLE_BLOCK))
			i += n - i < COW_HOLE_BLOCK ? n - i : COW_HOLE_BLOCK;
		r = cow_pwrite_all(fd, p + start, i - start, off + start);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copy the lower file's bytes into @fd; zero blocks stay holes. */
static int cow_copy_data(struct fl_cow *c, struct cow_node *n, int fd)
{
	struct fl_tree *lo = c->lower;
	uint64_t fh = 0, off = 0;
	char *buf = malloc(COW_COPY_CHUNK);
	int r;

	if (!buf)
		return -ENOMEM;
	r = lo->ops->open(lo, n->lower, &fh);
	while (r == 0) {
		ssize_t got = lo->ops->read(lo, n->lower, fh, buf, COW_COPY_CHUNK, off);

		if (got < 0)
			r = (int)got;
		if (got <= 0)
			break;
		r = cow_write_sparse(fd, buf, (size_t)got, off);
		off += (uint64_t)got;
	}
	if (r == 0 || fh)
		lo->ops->release(lo, n->lower, fh);
	free(buf);
	if (r == 0 && ftruncate(fd, (off_t)off) < 0)
		r = -errno;
	return r;
}

/*
 * Give regular file @n an upper file holding its data (none with @trunc).
 * Under the tree's lock: a large copy stalls other requests, but never shows
 * a half-copied file.
 */
int cow_copyup(struct fl_cow *c, struct cow_node *n, bool trunc)
{
	struct timespec ts[2];
	char name[48];
	int fd, r;

	if (n->upper)
		return 0;
	if (!S_ISREG(n->type))
		return -EINVAL;
	r = cow_stateify(c, n);
	if (r < 0)
		return r;
	fd = cow_upper_create(c, n);
	if (fd < 0)
		return fd;
	if (!trunc && n->lower)
		r = cow_copy_data(c, n, fd);
	if (r == 0) {
		/* Times stay the file's own until it is changed. */
		ts[0] = n->st.st_atim;
		ts[1] = n->st.st_mtim;
		if (!trunc && futimens(fd, ts) < 0)
			r = -errno;
	}
	close(fd);
	if (r < 0) {
		cow_upper_name(n, name);
		unlinkat(c->upper_fd, name, 0);
		n->upper = 0;
	}
	return r;
}

/* --- new entries ------------------------------------------------------------------ */

/*
 * A stateful node of type @mode for name @name in directory @dir, not yet
 * linked: the caller finishes it and calls cow_entry_commit(), or drops it
 * with cow_entry_drop().
 */
static int cow_entry_new(struct fl_cow *c, uint64_t dir, const char *name, mode_t mode,
			 struct cow_node **ret_dir, struct cow_node **ret_node)
{
	struct cow_node *d, *n;
	int r = cow_dir_node(c, dir, &d);

	if (r == 0)
		r = cow_materialize(c, d);
	if (r < 0)
		return r;
	if (cow_dir_find(d->dir, name))
		return -EEXIST;
	n = cow_node_alloc(c, mode);
	if (!n)
		return -ENOMEM;
	n->stateful = true;
	n->st.st_mode = mode;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_ino = (ino_t)(COW_INO_BASE + n->id);
	n->st.st_uid = d->st.st_uid;
	n->st.st_gid = d->st.st_gid;
	n->st.st_blksize = 4096;
	cow_touch(&n->st, true);
	n->st.st_atim = n->st.st_mtim;
	if (S_ISDIR(mode))
		n->parent = d->id;
	*ret_dir = d;
	*ret_node = n;
	return 0;
}

static void cow_entry_drop(struct fl_cow *c, struct cow_node *n)
{
	n->names = 0;
	cow_maybe_free(c, n);
}

/* Link @n under @name in @d and count the caller's reference; on failure
 * nothing changed. */
static int cow_entry_commit(struct fl_cow *c, struct cow_node *d, const char *name,
			    struct cow_node *n)
{
	struct cow_ent like = { .ref = n->id };
	int r = cow_dir_add(d->dir, name, &like, NULL);

	if (r < 0)
		return r;
	n->names = 1;
	n->nlookup++;
	if (S_ISDIR(n->type))
		d->st.st_nlink++;
	cow_touch(&d->st, true);
	return 0;
}

int cow_op_create(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, int flags,
		  uint64_t *ret_node, uint64_t *ret_fh)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n = NULL;
	uint64_t fh = 0;
	int r, fd = -1;

	pthread_mutex_lock(&c->lock);
	r = cow_entry_new(c, dir, name, S_IFREG | (mode & 07777), &d, &n);
	if (r == 0) {
		fd = cow_upper_create(c, n);
		r = fd < 0 ? fd : cow_handle_new(c, n, &fh);
	}
	if (r == 0) {
		c->handles[fh - 1].fd = fd;
		c->handles[fh - 1].writable = true;
		r = cow_entry_commit(c, d, name, n);
		if (r < 0) {
			c->handles[fh - 1] = (struct cow_handle){ .fd = -1 };
			n->nopen--;
		}
	}
	if (r < 0 && fd >= 0)
		close(fd);
	if (r < 0 && n)
		cow_entry_drop(c, n);
	if (r == 0) {
		*ret_node = n->id;
		*ret_fh = fh;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_mknod(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		 uint64_t *ret_node)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n;
	int r, fd;

	/* Device nodes would need privilege on any local filesystem, and could
	 * never be opened here (nodev): refuse them as an unprivileged mknod does. */
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return -EPERM;
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = cow_entry_new(c, dir, name, (mode & S_IFMT) | (mode & 07777), &d, &n);
	if (r == 0 && S_ISREG(mode)) {
		fd = cow_upper_create(c, n);
		if (fd < 0) {
			r = fd;
			cow_entry_drop(c, n);
		} else {
			close(fd);
		}
	}
	if (r == 0) {
		r = cow_entry_commit(c, d, name, n);
		if (r < 0)
			cow_entry_drop(c, n);
	}
	if (r == 0)
		*ret_node = n->id;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_mkdir(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, uint64_t *ret_node)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n;
	int r;

	pthread_mutex_lock(&c->lock);
	r = cow_entry_new(c, dir, name, S_IFDIR | (mode & 07777), &d, &n);
	if (r == 0) {
		n->dir = calloc(1, sizeof(*n->dir));
		if (!n->dir) {
			r = -ENOMEM;
			cow_entry_drop(c, n);
		} else {
			n->dir->next_seq = 1;
		}
	}
	if (r == 0) {
		r = cow_entry_commit(c, d, name, n);
		if (r < 0)
			cow_entry_drop(c, n);
	}
	if (r == 0)
		*ret_node = n->id;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_symlink(struct fl_tree *t, uint64_t dir, const char *name, const char *target,
		   uint64_t *ret_node)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n;
	int r;

	pthread_mutex_lock(&c->lock);
	r = cow_entry_new(c, dir, name, S_IFLNK | 0777, &d, &n);
	if (r == 0) {
		n->target = strdup(target);
		if (!n->target) {
			r = -ENOMEM;
			cow_entry_drop(c, n);
		} else {
			n->st.st_size = (off_t)strlen(target);
		}
	}
	if (r == 0) {
		r = cow_entry_commit(c, d, name, n);
		if (r < 0)
			cow_entry_drop(c, n);
	}
	if (r == 0)
		*ret_node = n->id;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_link(struct fl_tree *t, uint64_t node, uint64_t dir, const char *name,
		uint64_t *ret_node)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n;
	int r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	r = n ? 0 : -ENOENT;
	if (r == 0 && S_ISDIR(n->type))
		r = -EPERM;
	if (r == 0)
		r = cow_dir_node(c, dir, &d);
	if (r == 0)
		r = cow_materialize(c, d);
	if (r == 0 && cow_dir_find(d->dir, name))
		r = -EEXIST;
	if (r == 0)
		r = cow_stateify(c, n);
	if (r == 0 && n->names == 0)
		r = -ENOENT; /* already unlinked */
	if (r == 0)
		r = cow_dir_add(d->dir, name, &(struct cow_ent){ .ref = n->id }, NULL);
	if (r == 0) {
		n->names++;
		n->nlookup++;
		cow_touch(&n->st, false);
		cow_touch(&d->st, true);
		*ret_node = n->id;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* --- removing and renaming ---------------------------------------------------------- */

/* The entry @name of directory @dir, materialized, and the node it names. */
static int cow_find_entry(struct fl_cow *c, uint64_t dir, const char *name,
			  struct cow_node **ret_dir, struct cow_ent **ret_ent,
			  struct cow_node **ret_node)
{
	struct cow_node *d;
	struct cow_ent *e;
	int r = cow_dir_node(c, dir, &d);

	if (r == 0)
		r = cow_materialize(c, d);
	if (r < 0)
		return r;
	e = cow_dir_find(d->dir, name);
	if (!e)
		return -ENOENT;
	r = cow_resolve(c, e, dir, ret_node);
	if (r == 0)
		r = cow_stateify(c, *ret_node);
	if (r < 0)
		return r;
	*ret_dir = d;
	*ret_ent = e;
	return 0;
}

/* Take one name away from @n (whose entry is already gone) in directory @d. */
static void cow_name_gone(struct fl_cow *c, struct cow_node *d, struct cow_node *n)
{
	if (S_ISDIR(n->type)) {
		n->names = 0;
		n->st.st_nlink = 0;
		cow_dir_free(n->dir);
		n->dir = NULL;
		d->st.st_nlink--;
	} else if (n->names > 0) {
		n->names--;
	}
	cow_touch(&n->st, false);
	cow_touch(&d->st, true);
}

static int cow_remove(struct fl_tree *t, uint64_t dir, const char *name, bool isdir)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n;
	struct cow_ent *e;
	int r;

	pthread_mutex_lock(&c->lock);
	r = cow_find_entry(c, dir, name, &d, &e, &n);
	if (r == 0 && isdir && !S_ISDIR(n->type))
		r = -ENOTDIR;
	if (r == 0 && !isdir && S_ISDIR(n->type))
		r = -EISDIR;
	if (r == 0 && isdir) {
		r = cow_dir_empty(c, n);
		r = r == 1 ? 0 : r == 0 ? -ENOTEMPTY : r;
	}
	if (r == 0) {
		cow_dir_del(d->dir, e);
		cow_name_gone(c, d, n);
		cow_maybe_free(c, n);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_unlink(struct fl_tree *t, uint64_t dir, const char *name)
{
	return cow_remove(t, dir, name, false);
}

int cow_op_rmdir(struct fl_tree *t, uint64_t dir, const char *name)
{
	return cow_remove(t, dir, name, true);
}

/* Make @dst name what @src names (its name and cookie stay). */
static void cow_ent_take(struct cow_ent *dst, const struct cow_ent *src)
{
	dst->ref = src->ref;
	dst->ino = src->ino;
	dst->type = src->type;
	dst->is_lower = src->is_lower;
}

/* Whether directory @a is @d or one of its ancestors. */
static bool cow_is_ancestor(struct fl_cow *c, const struct cow_node *a, struct cow_node *d)
{
	size_t depth;

	/* Parents are refreshed at each lookup; the walk is bounded anyway. */
	for (depth = 0; d && depth < 65536; depth++) {
		if (d == a)
			return true;
		if (d->id == FL_TREE_ROOT)
			return false;
		d = cow_node_get(c, d->parent);
	}
	return false;
}

/* Whether @n2 may be replaced by @n1 in a plain rename. */
static int cow_rename_check(struct fl_cow *c, struct cow_node *n1, struct cow_node *n2)
{
	int r;

	if (S_ISDIR(n1->type) && !S_ISDIR(n2->type))
		return -ENOTDIR;
	if (!S_ISDIR(n1->type) && S_ISDIR(n2->type))
		return -EISDIR;
	if (!S_ISDIR(n2->type))
		return 0;
	r = cow_dir_empty(c, n2);
	return r == 1 ? 0 : r == 0 ? -ENOTEMPTY : r;
}

/* A directory moved from @from to @to: fix its parent and both link counts. */
static void cow_dir_moved(struct cow_node *n, struct cow_node *from, struct cow_node *to)
{
	if (!S_ISDIR(n->type))
		return;
	n->parent = to->id;
	if (from != to) {
		from->st.st_nlink--;
		to->st.st_nlink++;
	}
}

static int cow_rename_locked(struct fl_cow *c, uint64_t dir, const char *name, uint64_t newdir,
			     const char *newname, unsigned flags)
{
	struct cow_node *d1, *d2, *n1, *n2 = NULL;
	struct cow_ent *e1, *e2, tmp;
	int r = cow_find_entry(c, dir, name, &d1, &e1, &n1);

	if (r == 0)
		r = cow_dir_node(c, newdir, &d2);
	if (r == 0)
		r = cow_materialize(c, d2);
	if (r < 0)
		return r;
	e2 = cow_dir_find(d2->dir, newname);
	if (!e2 && (flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (e2 && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (e2) {
		r = cow_resolve(c, e2, newdir, &n2);
		if (r == 0)
			r = cow_stateify(c, n2);
		if (r < 0)
			return r;
	}
	/* The same entry, or two names of one file: nothing to do (POSIX). */
	if (e1 == e2 || n1 == n2)
		return 0;
	/* The kernel checks this too; the tree must not rely on it. */
	if (S_ISDIR(n1->type) && cow_is_ancestor(c, n1, d2))
		return -EINVAL;
	if (n2 && (flags & RENAME_EXCHANGE) && S_ISDIR(n2->type) && cow_is_ancestor(c, n2, d1))
		return -EINVAL;
	if (flags & RENAME_EXCHANGE) {
		tmp = *e1;
		cow_ent_take(e1, e2);
		cow_ent_take(e2, &tmp);
		cow_dir_moved(n1, d1, d2);
		cow_dir_moved(n2, d2, d1);
		cow_touch(&n2->st, false);
	} else if (n2) {
		r = cow_rename_check(c, n1, n2);
		if (r < 0)
			return r;
		/* The target's entry (and its cookie) now names the source. */
		cow_ent_take(e2, e1);
		cow_dir_del(d1->dir, e1);
		cow_name_gone(c, d2, n2);
		cow_dir_moved(n1, d1, d2);
		cow_maybe_free(c, n2);
	} else {
		r = cow_dir_add(d2->dir, newname, e1, NULL);
		if (r < 0)
			return r;
		cow_dir_del(d1->dir, e1);
		cow_dir_moved(n1, d1, d2);
	}
	cow_touch(&n1->st, false);
	cow_touch(&d1->st, true);
	cow_touch(&d2->st, true);
	return 0;
}

int cow_op_rename(struct fl_tree *t, uint64_t dir, const char *name, uint64_t newdir,
		  const char *newname, unsigned flags)
{
	struct fl_cow *c = cow_from(t);
	int r;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	r = cow_rename_locked(c, dir, name, newdir, newname, flags);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* --- file data and attributes ---------------------------------------------------------- */

/* The upper descriptor of writable handle @fh, or -EBADF. */
static int cow_write_fd(struct fl_cow *c, uint64_t node, uint64_t fh)
{
	struct cow_handle *h;
	int fd;

	pthread_mutex_lock(&c->lock);
	h = cow_handle_get(c, fh, node);
	fd = h && h->writable && h->fd >= 0 ? h->fd : -EBADF;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

ssize_t cow_op_write(struct fl_tree *t, uint64_t node, uint64_t fh, const void *buf, size_t size,
		     uint64_t off)
{
	int fd = cow_write_fd(cow_from(t), node, fh);
	ssize_t w;

	if (fd < 0)
		return fd;
	/* The kernel releases the handle only after its last write. */
	w = pwrite(fd, buf, size, (off_t)off);
	return w < 0 ? -errno : w;
}

int cow_op_fsync(struct fl_tree *t, uint64_t node, uint64_t fh, bool datasync)
{
	struct fl_cow *c = cow_from(t);
	struct cow_handle *h;
	int fd;

	pthread_mutex_lock(&c->lock);
	h = cow_handle_get(c, fh, node);
	fd = h ? h->fd : -EBADF;
	pthread_mutex_unlock(&c->lock);
	if (fd == -EBADF)
		return fd;
	if (fd < 0)
		return 0; /* a read-only handle on the archive: nothing written */
	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

int cow_op_fallocate(struct fl_tree *t, uint64_t node, uint64_t fh, int mode, uint64_t off,
		     uint64_t len)
{
	int fd = cow_write_fd(cow_from(t), node, fh);

	if (fd < 0)
		return fd;
	return fallocate(fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static int cow_truncate(struct fl_cow *c, struct cow_node *n, uint64_t fh, uint64_t size)
{
	struct cow_handle *h = fh ? cow_handle_get(c, fh, n->id) : NULL;
	int r, fd;

	if (S_ISDIR(n->type))
		return -EISDIR;
	if (!S_ISREG(n->type))
		return -EINVAL;
	if (size > INT64_MAX)
		return -EFBIG;
	r = cow_copyup(c, n, size == 0);
	if (r < 0)
		return r;
	if (h && h->writable && h->fd >= 0)
		return ftruncate(h->fd, (off_t)size) < 0 ? -errno : 0;
	fd = cow_upper_open(c, n, O_WRONLY);
	if (fd < 0)
		return fd;
	r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static void cow_times(const struct fl_tree_setattr *sa, struct timespec ts[2])
{
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	if (sa->valid & FL_TREE_SET_ATIME)
		ts[0] = sa->atime;
	if (sa->valid & FL_TREE_SET_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	if (sa->valid & FL_TREE_SET_MTIME)
		ts[1] = sa->mtime;
	if (sa->valid & FL_TREE_SET_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
}

/* Times of a node without an upper file, kept in memory. */
static void cow_times_mem(struct cow_node *n, const struct timespec ts[2])
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (ts[0].tv_nsec != UTIME_OMIT)
		n->st.st_atim = ts[0].tv_nsec == UTIME_NOW ? now : ts[0];
	if (ts[1].tv_nsec != UTIME_OMIT)
		n->st.st_mtim = ts[1].tv_nsec == UTIME_NOW ? now : ts[1];
	n->st.st_ctim = now;
}

int cow_op_setattr(struct fl_tree *t, uint64_t node, uint64_t fh, const struct fl_tree_setattr *sa)
{
	struct fl_cow *c = cow_from(t);
	unsigned tmask =
	    FL_TREE_SET_ATIME | FL_TREE_SET_MTIME | FL_TREE_SET_ATIME_NOW | FL_TREE_SET_MTIME_NOW;
	struct timespec ts[2];
	struct cow_node *n;
	char name[48];
	int r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	r = n ? cow_stateify(c, n) : -ENOENT;
	if (r == 0 && (sa->valid & FL_TREE_SET_SIZE))
		r = cow_truncate(c, n, fh, sa->size);
	if (r == 0 && (sa->valid & FL_TREE_SET_MODE)) {
		n->st.st_mode = n->type | (sa->mode & 07777);
		cow_touch(&n->st, false);
	}
	if (r == 0 && (sa->valid & tmask)) {
		cow_times(sa, ts);
		if (n->upper) {
			cow_upper_name(n, name);
			if (utimensat(c->upper_fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
				r = -errno;
		} else {
			cow_times_mem(n, ts);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* --- extended attributes ------------------------------------------------------------ */

void cow_xattrs_free(struct cow_xattrs *xa)
{
	size_t i;

	if (!xa)
		return;
	for (i = 0; i < xa->n; i++) {
		free(xa->v[i].name);
		free(xa->v[i].value);
	}
	free(xa->v);
	free(xa);
}

static int cow_xattr_put(struct cow_xattrs *xa, const char *name, const void *value, size_t len)
{
	struct cow_xattr *v = realloc(xa->v, (xa->n + 1) * sizeof(*v));
	struct cow_xattr *x;

	if (!v)
		return -ENOMEM;
	xa->v = v;
	x = &xa->v[xa->n];
	x->name = strdup(name);
	x->value = malloc(len ? len : 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	memcpy(x->value, value, len);
	x->len = len;
	xa->n++;
	xa->bytes += strlen(name) + 1 + len;
	return 0;
}

/* Copy the lower node's xattrs into memory before the first change. */
static int cow_xattrs_copy(struct fl_cow *c, struct cow_node *n, struct cow_xattrs *xa)
{
	struct fl_tree *lo = c->lower;
	ssize_t len, vlen;
	char *list, *p, *val = NULL;
	int r = 0;

	if (!n->lower || !lo->ops->listxattr)
		return 0;
	len = lo->ops->listxattr(lo, n->lower, NULL, 0);
	if (len <= 0)
		return (int)len;
	list = malloc((size_t)len);
	if (!list)
		return -ENOMEM;
	len = lo->ops->listxattr(lo, n->lower, list, (size_t)len);
	for (p = list; r == 0 && len > 0 && p < list + len; p += strlen(p) + 1) {
		vlen = lo->ops->getxattr ? lo->ops->getxattr(lo, n->lower, p, NULL, 0) : -ENODATA;
		if (vlen < 0 || vlen > COW_XATTR_VALUE_MAX)
			continue;
		val = malloc((size_t)vlen + 1);
		if (!val) {
			r = -ENOMEM;
			break;
		}
		vlen = lo->ops->getxattr(lo, n->lower, p, val, (size_t)vlen);
		if (vlen >= 0)
			r = cow_xattr_put(xa, p, val, (size_t)vlen);
		free(val);
	}
	free(list);
	return len < 0 ? (int)len : r;
}

int cow_xattrs_load(struct fl_cow *c, struct cow_node *n)
{
	struct cow_xattrs *xa;
	int r;

	if (n->xa)
		return 0;
	r = cow_stateify(c, n);
	if (r < 0)
		return r;
	xa = calloc(1, sizeof(*xa));
	if (!xa)
		return -ENOMEM;
	r = cow_xattrs_copy(c, n, xa);
	if (r < 0) {
		cow_xattrs_free(xa);
		return r;
	}
	n->xa = xa;
	return 0;
}

static struct cow_xattr *cow_xattr_find(struct cow_xattrs *xa, const char *name)
{
	size_t i;

	for (i = 0; i < xa->n; i++)
		if (strcmp(xa->v[i].name, name) == 0)
			return &xa->v[i];
	return NULL;
}

int cow_xattr_list(struct fl_cow *c, struct cow_node *n, char *buf, size_t size)
{
	size_t i, need = 0, pos = 0;

	if (!n->xa) {
		if (!n->lower || !c->lower->ops->listxattr)
			return 0;
		return (int)c->lower->ops->listxattr(c->lower, n->lower, buf, size);
	}
	for (i = 0; i < n->xa->n; i++)
		need += strlen(n->xa->v[i].name) + 1;
	if (size == 0)
		return (int)need;
	if (need > size)
		return -ERANGE;
	for (i = 0; i < n->xa->n; i++) {
		size_t l = strlen(n->xa->v[i].name) + 1;

		memcpy(buf + pos, n->xa->v[i].name, l);
		pos += l;
	}
	return (int)need;
}

int cow_xattr_get(struct fl_cow *c, struct cow_node *n, const char *name, void *buf, size_t size)
{
	struct cow_xattr *x;

	if (!n->xa) {
		if (!n->lower || !c->lower->ops->getxattr)
			return -ENODATA;
		return (int)c->lower->ops->getxattr(c->lower, n->lower, name, buf, size);
	}
	x = cow_xattr_find(n->xa, name);
	if (!x)
		return -ENODATA;
	if (size == 0)
		return (int)x->len;
	if (x->len > size)
		return -ERANGE;
	memcpy(buf, x->value, x->len);
	return (int)x->len;
}

int cow_op_setxattr(struct fl_tree *t, uint64_t node, const char *name, const void *value,
		    size_t size, int flags)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	struct cow_xattr *x = NULL;
	char *copy;
	int r;

	if (size > COW_XATTR_VALUE_MAX)
		return -E2BIG;
	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	r = n ? cow_xattrs_load(c, n) : -ENOENT;
	if (r == 0) {
		x = cow_xattr_find(n->xa, name);
		if (x && (flags & XATTR_CREATE))
			r = -EEXIST;
		else if (!x && (flags & XATTR_REPLACE))
			r = -ENODATA;
		else if (n->xa->bytes + strlen(name) + 1 + size > COW_XATTR_NODE_MAX)
			r = -ENOSPC;
	}
	if (r == 0 && x) {
		copy = malloc(size ? size : 1);
		if (!copy) {
			r = -ENOMEM;
		} else {
			memcpy(copy, value, size);
			n->xa->bytes = n->xa->bytes - x->len + size;
			free(x->value);
			x->value = copy;
			x->len = size;
		}
	} else if (r == 0) {
		r = cow_xattr_put(n->xa, name, value, size);
	}
	if (r == 0)
		cow_touch(&n->st, false);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int cow_op_removexattr(struct fl_tree *t, uint64_t node, const char *name)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	struct cow_xattr *x = NULL;
	int r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	r = n ? cow_xattrs_load(c, n) : -ENOENT;
	if (r == 0) {
		x = cow_xattr_find(n->xa, name);
		if (!x)
			r = -ENODATA;
	}
	if (r == 0) {
		n->xa->bytes -= strlen(x->name) + 1 + x->len;
		free(x->name);
		free(x->value);
		*x = n->xa->v[--n->xa->n];
		cow_touch(&n->st, false);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}
