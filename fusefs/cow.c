/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write tree (cow.h), part one: node ids, the maps from lower
 * nodes, materialized directories, handles, and every reading verb.  Reading
 * never copies anything up.  One mutex guards all metadata; file data is read
 * and written outside it.  It never prints, and never writes the lower tree.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/cow_int.h"

/* Directories keep tombstones until they are more than half of the entries. */
#define COW_COMPACT_MIN 64

static struct fl_cow *cow_from(struct fl_tree *t)
{
	return (struct fl_cow *)t;
}

/* --- lower id and inode maps (tsearch) --------------------------------------------- */

struct cow_key {
	uint64_t key;
	uint64_t node;
};

static int cow_key_cmp(const void *a, const void *b)
{
	const struct cow_key *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static struct cow_node *cow_map_find(struct fl_cow *c, void **root, uint64_t key)
{
	struct cow_key k = { .key = key };
	struct cow_key **p = tfind(&k, root, cow_key_cmp);

	return p ? cow_node_get(c, (*p)->node) : NULL;
}

static int cow_map_put(void **root, uint64_t key, uint64_t node)
{
	struct cow_key *k = malloc(sizeof(*k));
	struct cow_key **p;

	if (!k)
		return -ENOMEM;
	k->key = key;
	k->node = node;
	p = tsearch(k, root, cow_key_cmp);
	if (!p) {
		free(k);
		return -ENOMEM;
	}
	if (*p != k) {
		(*p)->node = node;
		free(k);
	}
	return 0;
}

static void cow_map_del(void **root, uint64_t key, uint64_t node)
{
	struct cow_key k = { .key = key };
	struct cow_key **p = tfind(&k, root, cow_key_cmp);
	struct cow_key *found;

	if (!p || (*p)->node != node)
		return;
	found = *p;
	tdelete(&k, root, cow_key_cmp);
	free(found);
}

/* --- nodes ------------------------------------------------------------------------ */

struct cow_node *cow_node_get(struct fl_cow *c, uint64_t id)
{
	if (id == 0 || id > c->nnodes)
		return NULL;
	return c->nodes[id - 1];
}

/* A new node with the lowest free id; NULL when out of memory. */
struct cow_node *cow_node_alloc(struct fl_cow *c, mode_t type)
{
	struct cow_node *n = calloc(1, sizeof(*n));
	uint64_t id;

	if (!n)
		return NULL;
	if (c->nfree) {
		id = c->free_ids[--c->nfree];
	} else {
		if (c->nnodes == c->nodes_cap) {
			size_t cap = c->nodes_cap ? 2 * c->nodes_cap : 256;
			struct cow_node **v = realloc(c->nodes, cap * sizeof(*v));

			if (!v) {
				free(n);
				return NULL;
			}
			c->nodes = v;
			c->nodes_cap = cap;
		}
		id = ++c->nnodes;
	}
	c->nodes[id - 1] = n;
	c->nlive++;
	n->id = id;
	n->type = type & S_IFMT;
	return n;
}

/*
 * Free @n when nothing needs it any more: no FUSE reference, no open handle,
 * and either pure (the lower tree still has everything) or without a name.
 * The root and hard-linked lower files (several map keys) are kept.
 */
void cow_maybe_free(struct fl_cow *c, struct cow_node *n)
{
	char name[48];

	if (!n || n->id == FL_TREE_ROOT || n->nlookup || n->nopen || n->pinned)
		return;
	if (n->stateful && n->names > 0)
		return;
	/* Room on the free list first, so that a failure only keeps the node. */
	if (c->nfree == c->free_cap) {
		size_t cap = c->free_cap ? 2 * c->free_cap : 256;
		uint64_t *v = realloc(c->free_ids, cap * sizeof(*v));

		if (!v)
			return;
		c->free_ids = v;
		c->free_cap = cap;
	}
	if (n->upper) {
		cow_upper_name(n, name);
		unlinkat(c->upper_fd, name, 0);
	}
	if (n->lower)
		cow_map_del(&c->by_lower, n->lower, n->id);
	cow_dir_free(n->dir);
	cow_xattrs_free(n->xa);
	free(n->target);
	c->nodes[n->id - 1] = NULL;
	c->free_ids[c->nfree++] = n->id;
	c->nlive--;
	free(n);
}

/* The node for lower node @lower, made pure if there is none yet. */
static int cow_resolve_lower(struct fl_cow *c, uint64_t lower, struct cow_node **ret_node)
{
	struct cow_node *n = cow_map_find(c, &c->by_lower, lower);
	struct stat st;
	bool hardlinked;
	int r;

	if (n) {
		*ret_node = n;
		return 0;
	}
	memset(&st, 0, sizeof(st));
	r = c->lower->ops->getattr(c->lower, lower, &st);
	if (r < 0)
		return r;
	/* Copy-up is keyed on the inode, so every name of a hard link sees it. */
	hardlinked = S_ISREG(st.st_mode) && st.st_nlink > 1;
	if (hardlinked) {
		n = cow_map_find(c, &c->by_ino, (uint64_t)st.st_ino);
		if (n) {
			r = cow_map_put(&c->by_lower, lower, n->id);
			if (r < 0)
				return r;
			*ret_node = n;
			return 0;
		}
	}
	n = cow_node_alloc(c, st.st_mode);
	if (!n)
		return -ENOMEM;
	n->lower = lower;
	r = cow_map_put(&c->by_lower, lower, n->id);
	if (r == 0 && hardlinked)
		r = cow_map_put(&c->by_ino, (uint64_t)st.st_ino, n->id);
	if (r < 0) {
		cow_map_del(&c->by_lower, lower, n->id);
		cow_maybe_free(c, n);
		return r;
	}
	n->pinned = hardlinked;
	*ret_node = n;
	return 0;
}

/* The node an entry names.  @parent becomes a directory's parent. */
int cow_resolve(struct fl_cow *c, const struct cow_ent *e, uint64_t parent,
		struct cow_node **ret_node)
{
	struct cow_node *n;
	int r = 0;

	if (e->is_lower) {
		r = cow_resolve_lower(c, e->ref, &n);
	} else {
		n = cow_node_get(c, e->ref);
		if (!n)
			r = -EIO;
	}
	if (r < 0)
		return r;
	if (S_ISDIR(n->type) && parent)
		n->parent = parent;
	*ret_node = n;
	return 0;
}

/* Give a lower-backed node its own attributes, from the lower tree. */
int cow_stateify(struct fl_cow *c, struct cow_node *n)
{
	struct stat st;
	int r;

	if (n->stateful)
		return 0;
	memset(&st, 0, sizeof(st));
	r = c->lower->ops->getattr(c->lower, n->lower, &st);
	if (r < 0)
		return r;
	n->st = st;
	n->names = S_ISDIR(st.st_mode) || st.st_nlink < 1 ? 1 : (uint32_t)st.st_nlink;
	n->stateful = true;
	return 0;
}

/*
 * Upper files are named after the inode number the command sees, so that a
 * file's copy can be found from its name (tests do; so may a curious user),
 * with a suffix only if a damaged archive repeats an inode number.
 */
void cow_upper_name(const struct cow_node *n, char buf[static 48])
{
	if (n->upper <= 1)
		snprintf(buf, 48, "%" PRIu64, n->upper_ino);
	else
		snprintf(buf, 48, "%" PRIu64 ".%" PRIu64, n->upper_ino, n->upper);
}

void cow_touch(struct stat *st, bool mtime)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	st->st_ctim = now;
	if (mtime)
		st->st_mtim = now;
}

static bool cow_ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

int cow_getattr_locked(struct fl_cow *c, struct cow_node *n, struct stat *ret_st)
{
	struct stat up;
	char name[48];

	if (!n->stateful) {
		memset(ret_st, 0, sizeof(*ret_st));
		return c->lower->ops->getattr(c->lower, n->lower, ret_st);
	}
	*ret_st = n->st;
	if (!S_ISDIR(n->type))
		ret_st->st_nlink = n->names;
	if (n->upper) {
		/* Data, size and times are the upper file's own. */
		cow_upper_name(n, name);
		if (fstatat(c->upper_fd, name, &up, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		ret_st->st_size = up.st_size;
		ret_st->st_blocks = up.st_blocks;
		ret_st->st_blksize = up.st_blksize;
		ret_st->st_atim = up.st_atim;
		ret_st->st_mtim = up.st_mtim;
		if (cow_ts_after(&up.st_ctim, &ret_st->st_ctim))
			ret_st->st_ctim = up.st_ctim;
	}
	return 0;
}

/* --- materialized directories ------------------------------------------------------- */

static int cow_ent_cmp(const void *a, const void *b)
{
	const struct cow_ent *x = a, *y = b;

	return strcmp(x->name, y->name);
}

struct cow_ent *cow_dir_find(struct cow_dir *d, const char *name)
{
	struct cow_ent k = { .name = (char *)name };
	struct cow_ent **p = tfind(&k, &d->byname, cow_ent_cmp);

	return p ? *p : NULL;
}

static int cow_dir_append(struct cow_dir *d, const char *name, uint64_t seq,
			  const struct cow_ent *like, struct cow_ent **ret_ent)
{
	struct cow_ent *e, **p;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct cow_ent **v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->name = strdup(name);
	if (!e->name) {
		free(e);
		return -ENOMEM;
	}
	e->seq = seq;
	e->ref = like->ref;
	e->ino = like->ino;
	e->type = like->type;
	e->is_lower = like->is_lower;
	p = tsearch(e, &d->byname, cow_ent_cmp);
	if (!p || *p != e) {
		/* Out of memory, or a duplicate name from a damaged lower tree. */
		free(e->name);
		free(e);
		return p ? -EEXIST : -ENOMEM;
	}
	d->v[d->n++] = e;
	d->nlive++;
	if (ret_ent)
		*ret_ent = e;
	return 0;
}

int cow_dir_add(struct cow_dir *d, const char *name, const struct cow_ent *like,
		struct cow_ent **ret_ent)
{
	int r = cow_dir_append(d, name, d->next_seq, like, ret_ent);

	if (r == 0)
		d->next_seq++;
	return r;
}

static void cow_dir_compact(struct cow_dir *d)
{
	size_t i, out = 0;

	for (i = 0; i < d->n; i++) {
		if (d->v[i]->name)
			d->v[out++] = d->v[i];
		else
			free(d->v[i]);
	}
	d->n = out;
}

void cow_dir_del(struct cow_dir *d, struct cow_ent *e)
{
	tdelete(e, &d->byname, cow_ent_cmp);
	free(e->name);
	e->name = NULL;
	d->nlive--;
	if (d->n >= COW_COMPACT_MIN && d->nlive < d->n / 2)
		cow_dir_compact(d);
}

static void cow_noop_free(void *p)
{
	(void)p;
}

void cow_dir_free(struct cow_dir *d)
{
	size_t i;

	if (!d)
		return;
	tdestroy(d->byname, cow_noop_free);
	for (i = 0; i < d->n; i++) {
		free(d->v[i]->name);
		free(d->v[i]);
	}
	free(d->v);
	free(d);
}

struct cow_collect {
	struct cow_dir *d;
	uint64_t last;
	bool monotone;
	int err;
};

static bool cow_collect_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
			     uint64_t next_off)
{
	struct cow_collect *cc = ctx;
	struct cow_ent like = {
		.ref = node,
		.ino = (uint64_t)st->st_ino,
		.type = st->st_mode & S_IFMT,
		.is_lower = true,
	};
	int r;

	if (next_off <= cc->last)
		cc->monotone = false;
	cc->last = next_off;
	r = cow_dir_append(cc->d, name, next_off, &like, NULL);
	if (r == -EEXIST)
		return false;
	if (r < 0) {
		cc->err = r;
		return true;
	}
	return false;
}

/*
 * Take the lower listing of @dn into memory before its first change.  The
 * entries keep the lower cookies, so a listing that was under way goes on
 * where it was; only a lower tree whose cookies do not increase (none of
 * ours) gets fresh ones.
 */
int cow_materialize(struct fl_cow *c, struct cow_node *dn)
{
	struct cow_collect cc = { .monotone = true };
	size_t i;
	int r;

	if (dn->dir)
		return 0;
	r = cow_stateify(c, dn);
	if (r < 0)
		return r;
	cc.d = calloc(1, sizeof(*cc.d));
	if (!cc.d)
		return -ENOMEM;
	r = c->lower->ops->readdir(c->lower, dn->lower, 0, cow_collect_fill, &cc);
	if (r == 0)
		r = cc.err;
	if (r < 0) {
		cow_dir_free(cc.d);
		return r;
	}
	if (!cc.monotone) {
		for (i = 0; i < cc.d->n; i++)
			cc.d->v[i]->seq = i + 1;
		cc.last = cc.d->n;
	}
	cc.d->next_seq = cc.last + 1;
	dn->dir = cc.d;
	return 0;
}

/* A live directory node, for lookups and changes inside it. */
int cow_dir_node(struct fl_cow *c, uint64_t id, struct cow_node **ret_dir)
{
	struct cow_node *d = cow_node_get(c, id);

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->type))
		return -ENOTDIR;
	if (d->stateful && d->names == 0)
		return -ENOENT; /* removed */
	*ret_dir = d;
	return 0;
}

static bool cow_probe_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
			   uint64_t next_off)
{
	*(bool *)ctx = true;
	return true;
}

/* 1 if directory @n has no entries, 0 if it has, or -errno. */
int cow_dir_empty(struct fl_cow *c, struct cow_node *n)
{
	bool any = false;
	int r;

	if (n->dir)
		return n->dir->nlive == 0;
	if (!n->lower)
		return 1;
	r = c->lower->ops->readdir(c->lower, n->lower, 0, cow_probe_fill, &any);
	return r < 0 ? r : !any;
}

/* --- handles ---------------------------------------------------------------------- */

struct cow_handle *cow_handle_get(struct fl_cow *c, uint64_t fh, uint64_t node)
{
	struct cow_handle *h;

	if (fh == 0 || fh > c->nhandles)
		return NULL;
	h = &c->handles[fh - 1];
	return h->node && h->node == node ? h : NULL;
}

int cow_handle_new(struct fl_cow *c, struct cow_node *n, uint64_t *ret_fh)
{
	size_t i;

	for (i = 0; i < c->nhandles; i++)
		if (c->handles[i].node == 0)
			break;
	if (i == c->nhandles) {
		size_t cap = c->nhandles ? 2 * c->nhandles : 64;
		struct cow_handle *v = realloc(c->handles, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + c->nhandles, 0, (cap - c->nhandles) * sizeof(*v));
		c->handles = v;
		c->nhandles = cap;
	}
	c->handles[i] = (struct cow_handle){ .node = n->id, .fd = -1 };
	n->nopen++;
	*ret_fh = i + 1;
	return 0;
}

/* Open @n's upper file with @flags; returns the descriptor or -errno. */
int cow_upper_open(struct fl_cow *c, struct cow_node *n, int flags)
{
	char name[48];
	int fd;

	cow_upper_name(n, name);
	fd = openat(c->upper_fd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* --- reading verbs ---------------------------------------------------------------- */

static int cow_lookup(struct fl_tree *t, uint64_t dir, const char *name, uint64_t *ret_node)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *d, *n = NULL;
	struct cow_ent *e, le = { .is_lower = true };
	int r;

	pthread_mutex_lock(&c->lock);
	r = cow_dir_node(c, dir, &d);
	if (r == 0 && d->dir) {
		e = cow_dir_find(d->dir, name);
		r = e ? cow_resolve(c, e, dir, &n) : -ENOENT;
	} else if (r == 0) {
		r = c->lower->ops->lookup(c->lower, d->lower, name, &le.ref);
		if (r == 0)
			r = cow_resolve(c, &le, dir, &n);
	}
	if (r == 0) {
		n->nlookup++;
		*ret_node = n->id;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int cow_getattr(struct fl_tree *t, uint64_t node, struct stat *ret_st)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	int r = -ENOENT;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (n)
		r = cow_getattr_locked(c, n, ret_st);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* What a listing needs of a stateful node (tree.h): no upper fstat. */
static void cow_list_st(const struct cow_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->st.st_ino;
	st->st_mode = n->st.st_mode;
}

/*
 * What a listing shows for a lower entry: its node's state if it has one,
 * else what the lower listing said (a plain readdir needs only the type and
 * inode number, tree.h), so a damaged entry does not break the listing.
 */
static int cow_peek_lower(struct fl_cow *c, const struct cow_ent *e, struct stat *st,
			  uint64_t *ret_id)
{
	struct cow_node *n = cow_map_find(c, &c->by_lower, e->ref);

	if (!n && S_ISREG(e->type))
		n = cow_map_find(c, &c->by_ino, e->ino);
	*ret_id = n ? n->id : 0;
	if (n && n->stateful) {
		cow_list_st(n, st);
		return 0;
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)e->ino;
	st->st_mode = e->type;
	return 0;
}

struct cow_pass {
	struct fl_cow *c;
	fl_tree_fill_fn fill;
	void *ctx;
	int err;
};

/* A listing straight from the lower tree, with copied-up state shown. */
static bool cow_pass_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
			  uint64_t next_off)
{
	struct cow_pass *p = ctx;
	struct cow_node *n = cow_map_find(p->c, &p->c->by_lower, node);
	struct stat mine;

	if (!n && S_ISREG(st->st_mode) && st->st_nlink > 1)
		n = cow_map_find(p->c, &p->c->by_ino, (uint64_t)st->st_ino);
	if (n && n->stateful) {
		cow_list_st(n, &mine);
		st = &mine;
	}
	return p->fill(p->ctx, name, n ? n->id : 0, st, next_off);
}

static int cow_readdir_mem(struct fl_cow *c, struct cow_node *dn, uint64_t off,
			   fl_tree_fill_fn fill, void *ctx)
{
	struct cow_dir *d = dn->dir;
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->v[mid]->seq <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < d->n; lo++) {
		struct cow_ent *e = d->v[lo];
		struct stat st;
		uint64_t id = 0;
		int r;

		if (!e->name)
			continue;
		if (e->is_lower) {
			r = cow_peek_lower(c, e, &st, &id);
		} else {
			struct cow_node *n = cow_node_get(c, e->ref);

			r = n ? 0 : -EIO;
			if (n)
				cow_list_st(n, &st);
			id = e->ref;
		}
		if (r < 0)
			return r;
		if (fill(ctx, e->name, id, &st, e->seq))
			break;
	}
	return 0;
}

static int cow_readdir(struct fl_tree *t, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
		       void *ctx)
{
	struct fl_cow *c = cow_from(t);
	struct cow_pass p = { .c = c, .fill = fill, .ctx = ctx };
	struct cow_node *d;
	int r;

	pthread_mutex_lock(&c->lock);
	r = cow_dir_node(c, dir, &d);
	if (r == 0 && d->dir) {
		r = cow_readdir_mem(c, d, off, fill, ctx);
	} else if (r == 0) {
		r = c->lower->ops->readdir(c->lower, d->lower, off, cow_pass_fill, &p);
		if (r == 0)
			r = p.err;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/*
 * Open for reading or writing.  Writing (or O_TRUNC) copies the file up
 * first; a read-only handle reads the lower file until someone copies it up,
 * and the upper file from then on.
 */
static int cow_open_flags(struct fl_tree *t, uint64_t node, int flags, uint64_t *ret_fh)
{
	struct fl_cow *c = cow_from(t);
	bool wr = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct cow_handle *h;
	struct cow_node *n;
	uint64_t fh = 0, lfh = 0;
	int r = 0, fd = -1;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (!n)
		r = -ENOENT;
	else if (S_ISDIR(n->type))
		r = -EISDIR;
	else if (!S_ISREG(n->type))
		r = -EINVAL;
	if (r == 0 && wr)
		r = cow_copyup(c, n, (flags & O_TRUNC) != 0);
	if (r == 0 && n->upper) {
		fd = cow_upper_open(c, n, wr ? O_RDWR : O_RDONLY);
		r = fd < 0 ? fd : 0;
		if (r == 0 && (flags & O_TRUNC) && ftruncate(fd, 0) < 0)
			r = -errno;
	} else if (r == 0) {
		r = c->lower->ops->open(c->lower, n->lower, &lfh);
	}
	if (r == 0)
		r = cow_handle_new(c, n, &fh);
	if (r == 0) {
		h = &c->handles[fh - 1];
		h->fd = fd;
		h->writable = wr;
		h->lower_open = !n->upper;
		h->lower_fh = lfh;
		*ret_fh = fh;
		fd = -1;
	} else if (n && !n->upper && lfh) {
		c->lower->ops->release(c->lower, n->lower, lfh);
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int cow_open(struct fl_tree *t, uint64_t node, uint64_t *ret_fh)
{
	return cow_open_flags(t, node, O_RDONLY, ret_fh);
}

static ssize_t cow_read(struct fl_tree *t, uint64_t node, uint64_t fh, void *buf, size_t size,
			uint64_t off)
{
	struct fl_cow *c = cow_from(t);
	struct cow_handle *h;
	struct cow_node *n;
	uint64_t lower = 0, lfh = 0;
	int fd = -1, r = 0;
	ssize_t got;

	pthread_mutex_lock(&c->lock);
	h = cow_handle_get(c, fh, node);
	n = cow_node_get(c, node);
	if (!h || !n) {
		r = -EBADF;
	} else if (n->upper) {
		if (h->fd < 0) {
			/* Copied up since this handle was opened. */
			fd = cow_upper_open(c, n, O_RDONLY);
			if (fd < 0)
				r = fd;
			else
				h->fd = fd;
		}
		fd = h->fd;
	} else {
		lower = n->lower;
		lfh = h->lower_fh;
	}
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	/* The kernel releases a handle only after its last read: fd and lfh stay. */
	if (fd >= 0) {
		got = pread(fd, buf, size, (off_t)off);
		return got < 0 ? -errno : got;
	}
	return c->lower->ops->read(c->lower, lower, lfh, buf, size, off);
}

static void cow_release(struct fl_tree *t, uint64_t node, uint64_t fh)
{
	struct fl_cow *c = cow_from(t);
	struct cow_handle *h;
	struct cow_node *n;

	pthread_mutex_lock(&c->lock);
	h = cow_handle_get(c, fh, node);
	n = cow_node_get(c, node);
	if (h && n) {
		if (h->fd >= 0)
			close(h->fd);
		if (h->lower_open)
			c->lower->ops->release(c->lower, n->lower, h->lower_fh);
		*h = (struct cow_handle){ .fd = -1 };
		n->nopen--;
		cow_maybe_free(c, n);
	}
	pthread_mutex_unlock(&c->lock);
}

static ssize_t cow_readlink(struct fl_tree *t, uint64_t node, char *buf, size_t size)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	ssize_t r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (!n) {
		r = -ENOENT;
	} else if (!S_ISLNK(n->type)) {
		r = -EINVAL;
	} else if (n->target) {
		size_t len = strlen(n->target);

		r = len + 1 > size ? -ERANGE : (ssize_t)len;
		if (r >= 0)
			memcpy(buf, n->target, len + 1);
	} else {
		r = c->lower->ops->readlink(c->lower, n->lower, buf, size);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static ssize_t cow_listxattr(struct fl_tree *t, uint64_t node, char *buf, size_t size)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	ssize_t r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (!n)
		r = -ENOENT;
	else
		r = cow_xattr_list(c, n, buf, size);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static ssize_t cow_getxattr(struct fl_tree *t, uint64_t node, const char *name, void *buf,
			    size_t size)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;
	ssize_t r;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (!n)
		r = -ENOENT;
	else
		r = cow_xattr_get(c, n, name, buf, size);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Space is the upper tmpfs's: that is where writes go. */
static int cow_statfs(struct fl_tree *t, struct statvfs *ret_st)
{
	struct fl_cow *c = cow_from(t);

	return fstatvfs(c->upper_fd, ret_st) < 0 ? -errno : 0;
}

static void cow_forget(struct fl_tree *t, uint64_t node, uint64_t nlookup)
{
	struct fl_cow *c = cow_from(t);
	struct cow_node *n;

	pthread_mutex_lock(&c->lock);
	n = cow_node_get(c, node);
	if (n) {
		n->nlookup = nlookup < n->nlookup ? n->nlookup - nlookup : 0;
		cow_maybe_free(c, n);
	}
	pthread_mutex_unlock(&c->lock);
}

static void cow_free_key(void *p)
{
	free(p);
}

static void cow_destroy(struct fl_tree *t)
{
	struct fl_cow *c = cow_from(t);
	char name[48];
	size_t i;

	for (i = 0; i < c->nhandles; i++)
		if (c->handles[i].node && c->handles[i].fd >= 0)
			close(c->handles[i].fd);
	for (i = 0; i < c->nnodes; i++) {
		struct cow_node *n = c->nodes[i];

		if (!n)
			continue;
		if (n->upper) {
			cow_upper_name(n, name);
			unlinkat(c->upper_fd, name, 0);
		}
		cow_dir_free(n->dir);
		cow_xattrs_free(n->xa);
		free(n->target);
		free(n);
	}
	tdestroy(c->by_lower, cow_free_key);
	tdestroy(c->by_ino, cow_free_key);
	free(c->nodes);
	free(c->free_ids);
	free(c->handles);
	close(c->upper_fd);
	fl_tree_free(c->lower);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const struct fl_tree_ops fl_cow_ops = {
	.lookup = cow_lookup,
	.getattr = cow_getattr,
	.readdir = cow_readdir,
	.open = cow_open,
	.read = cow_read,
	.release = cow_release,
	.readlink = cow_readlink,
	.listxattr = cow_listxattr,
	.getxattr = cow_getxattr,
	.statfs = cow_statfs,
	.destroy = cow_destroy,
	.forget = cow_forget,
	.open_flags = cow_open_flags,
	.create = cow_op_create,
	.write = cow_op_write,
	.fsync = cow_op_fsync,
	.fallocate = cow_op_fallocate,
	.setattr = cow_op_setattr,
	.mknod = cow_op_mknod,
	.mkdir = cow_op_mkdir,
	.symlink = cow_op_symlink,
	.link = cow_op_link,
	.unlink = cow_op_unlink,
	.rmdir = cow_op_rmdir,
	.rename = cow_op_rename,
	.setxattr = cow_op_setxattr,
	.removexattr = cow_op_removexattr,
};

int fl_cow_new(struct fl_tree *lower, int upper_fd, struct fl_tree **ret_tree, struct fl_error *err)
{
	struct fl_cow *c;
	struct cow_node *root;
	struct stat st;
	int r;

	memset(&st, 0, sizeof(st));
	r = lower->ops->getattr(lower, FL_TREE_ROOT, &st);
	if (r < 0)
		return fl_error_set(err, -r, "copy-on-write: the archive root: %s", strerror(-r));
	if (!S_ISDIR(st.st_mode))
		return fl_error_set(err, ENOTDIR,
				    "copy-on-write: the archive root is not a directory");
	c = calloc(1, sizeof(*c));
	if (!c)
		return fl_error_set(err, ENOMEM, "copy-on-write: out of memory");
	c->tree.ops = &fl_cow_ops;
	c->lower = lower;
	c->upper_fd = upper_fd;
	pthread_mutex_init(&c->lock, NULL);
	root = cow_node_alloc(c, S_IFDIR);
	if (!root || cow_map_put(&c->by_lower, FL_TREE_ROOT, FL_TREE_ROOT) < 0) {
		c->upper_fd = -1;
		c->lower = NULL;
		free(root);
		free(c->nodes);
		tdestroy(c->by_lower, cow_free_key);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return fl_error_set(err, ENOMEM, "copy-on-write: out of memory");
	}
	root->lower = FL_TREE_ROOT;
	root->parent = FL_TREE_ROOT;
	*ret_tree = &c->tree;
	return 0;
}

size_t fl_cow_nodes(struct fl_tree *t)
{
	struct fl_cow *c = cow_from(t);
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->nlive;
	pthread_mutex_unlock(&c->lock);
	return n;
}
