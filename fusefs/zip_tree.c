/* SPDX-License-Identifier: MIT */
/*
 * The zip backend of the archive tree (tree.h): a node table built once at
 * open from the central directory; libzip only decodes the rare methods.
 *
 * Why not libzip (1.7.3) for the listing or the common methods: it finds
 * data in front of the archive only when told the offset, treats some
 * duplicate names as errors, gives no data offsets, cannot seek in
 * compressed data and one zip_t is not thread-safe, so our own reader
 * (zip_cd.h) already had to parse everything libzip would give.  Stored
 * entries are read by pread() at their data offset and deflated ones through
 * inflate.h, lock-free.  Entries with another method that the installed
 * libzip decodes (bzip2 on Debian 12) are read through zip_other.h, the one
 * user of <zip.h>, serialised on one zip_t opened on first use; methods it
 * cannot decode list normally and read as EIO, encrypted entries as EACCES.
 * Must never read outside the file, trust a size for an allocation, or
 * place a name outside the root.
 *
 * Choices (SPEC §4):
 *  - Names: "./" components and repeated slashes are dropped; absolute names,
 *    ".." components, embedded NULs and components over 255 bytes are skipped
 *    with a warning.  Bytes are kept as stored (no CP437 conversion).
 *  - Duplicates: the last entry wins.  A file and a directory with the same
 *    path: the directory is kept (its children would otherwise vanish).
 *  - Symlink targets holding a NUL byte read as EIO (tree.h: a string).
 *  - Modes: attr >> 16 when made on Unix and non-zero, else 0644 / 0755
 *    (directory by trailing '/' or the DOS directory bit).  Implied
 *    directories are 0755 with the archive file's mtime.
 *  - mtime: extended timestamp 0x5455 (UTC) when present, else the DOS time
 *    read as local time, as Info-ZIP unzip does.
 *  - Deflated files up to WHOLE_MAX are inflated whole (CRC checked) into an
 *    LRU cache of CACHE_MAX bytes shared by the tree; larger ones through a
 *    cursor per open handle with shared checkpoints every ~1 MiB.  libzip
 *    entries share the cache up to WHOLE_MAX; larger ones stream through a
 *    libzip cursor per handle that restarts the entry on a backward seek.
 *    Stored entries are not CRC-checked (served straight from the file).
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fusefs/inflate.h"
#include "fusefs/zip_cd.h"
#include "fusefs/zip_other.h"
#include "fusefs/zip_tree.h"

#define WHOLE_MAX ((uint64_t)4 << 20)
#define CACHE_MAX ((size_t)64 << 20)
#define NAME_MAX_LEN 255
#define NO_ENTRY UINT32_MAX

struct cache_ent {
	struct cache_ent *prev, *next;
	uint32_t node;
	unsigned refs;
	bool dead;             /* evicted while in use: freed by the last put */
	size_t len;
	unsigned char *data;
};

struct zt_node {
	const char *name;      /* one path component; "" for the root */
	uint32_t parent;       /* node index */
	uint32_t entry;        /* central-directory index, NO_ENTRY if implied */
	uint32_t first_child;  /* directories: index into tree->children */
	uint32_t nchildren;
	uint32_t nsubdirs;
	mode_t mode;
	time_t mtime;
	uint64_t data_off;     /* atomic; 0 until the local header is read */
	struct fl_inflate_index *index; /* atomic; large deflated files */
	struct cache_ent *cached;       /* under cache_lock */
};

struct zip_tree {
	struct fl_tree base;
	int fd;
	struct fl_zipcd *cd;
	struct fl_zip_other *other; /* libzip, for methods other than 0 and 8 */
	struct zt_node *nodes;
	size_t nnodes;
	uint32_t *children;    /* every directory's children, sorted by name */
	char *names;
	struct stat ast;       /* the archive file */
	pthread_mutex_t index_lock;
	pthread_mutex_t cache_lock;
	struct cache_ent *lru_head, *lru_tail;
	size_t cache_used;
};

/* An open file: large compressed files carry a cursor. */
struct zt_handle {
	uint32_t node;
	struct fl_inflate_cursor *cur;       /* deflate */
	struct fl_zip_other_cursor *ocur;    /* other methods */
};

/* Construction state, freed once the node table is done. */
struct builder {
	struct zip_tree *t;
	const struct fl_tree_opts *opts;
	size_t ncap;
	uint32_t *hash;        /* open addressing over (parent, name); node+1 */
	size_t hcap;
	char *names_end;
};

static const struct fl_tree_ops zip_ops;

static void warnf(const struct fl_tree_opts *opts, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warnf(const struct fl_tree_opts *opts, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!opts || !opts->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	opts->warn(opts->warn_ctx, msg);
}

/* ---- building the node table ------------------------------------------- */

static uint64_t hash_key(uint32_t parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

static int hash_grow(struct builder *b)
{
	size_t cap = b->hcap ? b->hcap * 2 : 1024;
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < b->hcap; i++) {
		struct zt_node *n;
		size_t j;

		if (!b->hash[i])
			continue;
		n = &b->t->nodes[b->hash[i] - 1];
		j = hash_key(n->parent, n->name, strlen(n->name)) & (cap - 1);
		while (h[j])
			j = (j + 1) & (cap - 1);
		h[j] = b->hash[i];
	}
	free(b->hash);
	b->hash = h;
	b->hcap = cap;
	return 0;
}

/* Slot of (parent, name) in the hash: either it or the empty slot for it. */
static size_t hash_slot(struct builder *b, uint32_t parent, const char *name, size_t len)
{
	size_t j = hash_key(parent, name, len) & (b->hcap - 1);

	while (b->hash[j]) {
		struct zt_node *n = &b->t->nodes[b->hash[j] - 1];

		if (n->parent == parent && strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
			break;
		j = (j + 1) & (b->hcap - 1);
	}
	return j;
}

/* Find or create child @name of @parent; new nodes are implied dirs. */
static int child(struct builder *b, uint32_t parent, const char *name, size_t len,
		 uint32_t *ret_idx, bool *ret_new)
{
	struct zip_tree *t = b->t;
	struct zt_node *n;
	size_t slot;

	if ((t->nnodes + 1) * 2 > b->hcap && hash_grow(b) < 0)
		return -ENOMEM;
	slot = hash_slot(b, parent, name, len);
	*ret_new = !b->hash[slot];
	if (!*ret_new) {
		*ret_idx = b->hash[slot] - 1;
		return 0;
	}
	if (t->nnodes == b->ncap) {
		size_t cap = b->ncap * 2;
		struct zt_node *nn = cap < UINT32_MAX / 2 ? realloc(t->nodes, cap * sizeof(*nn)) : NULL;

		if (!nn)
			return -ENOMEM;
		t->nodes = nn;
		b->ncap = cap;
	}
	n = &t->nodes[t->nnodes];
	memset(n, 0, sizeof(*n));
	memcpy(b->names_end, name, len);
	b->names_end[len] = '\0';
	n->name = b->names_end;
	b->names_end += len + 1;
	n->parent = parent;
	n->entry = NO_ENTRY;
	n->mode = S_IFDIR | 0755;
	n->mtime = t->ast.st_mtime;
	b->hash[slot] = (uint32_t)++t->nnodes;
	*ret_idx = (uint32_t)(t->nnodes - 1);
	return 0;
}

/* Why @name (of @len bytes) cannot be placed, or NULL when it can. */
static const char *unsafe_name(const char *name, size_t len)
{
	size_t i = 0;

	if (strlen(name) != len)
		return "contains a NUL byte";
	if (name[0] == '/')
		return "absolute name";
	while (i < len) {
		size_t j = i;

		while (j < len && name[j] != '/')
			j++;
		if (j - i == 2 && name[i] == '.' && name[i + 1] == '.')
			return "contains a '..' component";
		if (j - i > NAME_MAX_LEN)
			return "component longer than 255 bytes";
		i = j + 1;
	}
	return NULL;
}

static mode_t entry_mode(const struct fl_zipcd_entry *e, bool dir_suffix)
{
	mode_t m = e->ext_attr >> 16;

	if (e->made_by == FL_ZIPCD_MADE_BY_UNIX && m != 0) {
		if (S_ISLNK(m) && !dir_suffix)
			return S_IFLNK | 0777;
		if (S_ISDIR(m) || dir_suffix)
			return S_IFDIR | (m & 07777);
		return S_IFREG | (m & 07777);
	}
	if (dir_suffix || (e->ext_attr & 0x10))
		return S_IFDIR | 0755;
	return S_IFREG | 0644;
}

/* Give node @idx the identity of entry @i (last entry wins). */
static void set_entry(struct zip_tree *t, uint32_t idx, uint32_t i, mode_t mode)
{
	struct zt_node *n = &t->nodes[idx];

	n->entry = i;
	n->mode = mode;
	n->mtime = fl_zipcd_mtime(&t->cd->entries[i]);
}

/* Walk to (creating) the parent directory of @name's last component. */
static int walk_dirs(struct builder *b, const char *name, size_t len, uint32_t *ret_dir,
		     const char **ret_last, size_t *ret_last_len)
{
	uint32_t dir = 0;
	size_t i = 0, last = 0, last_len = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && name[j] != '/')
			j++;
		if (j == i || (j - i == 1 && name[i] == '.')) {
			i = j + 1;
			continue;
		}
		if (last_len) {
			uint32_t next;
			bool created;
			int r = child(b, dir, name + last, last_len, &next, &created);

			if (r < 0)
				return r;
			if (!S_ISDIR(b->t->nodes[next].mode)) {
				warnf(b->opts, "zip: '%s' is a file and a directory; keeping the directory",
				      name);
				b->t->nodes[next].mode = S_IFDIR | 0755;
				b->t->nodes[next].entry = NO_ENTRY;
			}
			dir = next;
		}
		last = i;
		last_len = j - i;
		i = j + 1;
	}
	*ret_dir = dir;
	*ret_last = name + last;
	*ret_last_len = last_len;
	return 0;
}

static int add_entry(struct builder *b, uint32_t i)
{
	const struct fl_zipcd_entry *e = &b->t->cd->entries[i];
	bool dir_suffix = e->name_len > 0 && e->name[e->name_len - 1] == '/', created;
	const char *why = unsafe_name(e->name, e->name_len), *last;
	size_t last_len;
	uint32_t dir, idx;
	mode_t mode;
	int r;

	if (why) {
		warnf(b->opts, "zip: skipping entry '%s': %s", e->name, why);
		return 0;
	}
	r = walk_dirs(b, e->name, e->name_len, &dir, &last, &last_len);
	if (r < 0 || last_len == 0)
		return r; /* "", "./": the root itself */
	mode = entry_mode(e, dir_suffix);
	r = child(b, dir, last, last_len, &idx, &created);
	if (r < 0)
		return r;
	if (!created && S_ISDIR(b->t->nodes[idx].mode) != S_ISDIR(mode))
		warnf(b->opts, "zip: '%s' is a file and a directory; keeping the directory",
		      e->name);
	if (!created && S_ISDIR(b->t->nodes[idx].mode) && !S_ISDIR(mode))
		return 0;
	else if (!created && !S_ISDIR(mode))
		warnf(b->opts, "zip: duplicate name '%s': the last entry wins", e->name);
	set_entry(b->t, idx, i, mode);
	return 0;
}

static int cmp_children(const void *a, const void *b, void *arg)
{
	const struct zt_node *nodes = arg;
	const struct zt_node *x = &nodes[*(const uint32_t *)a], *y = &nodes[*(const uint32_t *)b];

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sort all non-root nodes by (parent, name): each directory's children are
 * then one sorted run of tree->children. */
static int link_children(struct zip_tree *t)
{
	size_t n = t->nnodes - 1;

	t->children = malloc((n ? n : 1) * sizeof(*t->children));
	if (!t->children)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		t->children[i] = (uint32_t)(i + 1);
	qsort_r(t->children, n, sizeof(*t->children), cmp_children, t->nodes);
	for (size_t i = n; i-- > 0;) {
		struct zt_node *c = &t->nodes[t->children[i]], *p = &t->nodes[c->parent];

		p->first_child = (uint32_t)i;
		p->nchildren++;
		if (S_ISDIR(c->mode))
			p->nsubdirs++;
	}
	return 0;
}

static int build(struct zip_tree *t, const struct fl_tree_opts *opts)
{
	struct builder b = { .t = t, .opts = opts, .ncap = 64 };
	size_t names = 1;
	int r = -ENOMEM;

	for (size_t i = 0; i < t->cd->count; i++)
		names += t->cd->entries[i].name_len + 1;
	if (t->cd->count >= UINT32_MAX / 4)
		return -EFBIG;
	t->names = malloc(names);
	t->nodes = malloc(b.ncap * sizeof(*t->nodes));
	if (!t->names || !t->nodes)
		return -ENOMEM;
	b.names_end = t->names;
	*b.names_end++ = '\0';
	memset(&t->nodes[0], 0, sizeof(t->nodes[0]));
	t->nodes[0].name = t->names;
	t->nodes[0].entry = NO_ENTRY;
	t->nodes[0].mode = S_IFDIR | 0755;
	t->nodes[0].mtime = t->ast.st_mtime;
	t->nnodes = 1;
	if (hash_grow(&b) < 0)
		goto out;
	for (size_t i = 0; i < t->cd->count; i++) {
		r = add_entry(&b, (uint32_t)i);
		if (r < 0)
			goto out;
	}
	r = link_children(t);
out:
	free(b.hash);
	return r;
}

/* ---- node access ------------------------------------------------------- */

static struct zt_node *get_node(struct zip_tree *t, uint64_t id)
{
	if (id == 0 || id > t->nnodes)
		return NULL;
	return &t->nodes[id - 1];
}

static const struct fl_zipcd_entry *node_entry(struct zip_tree *t, const struct zt_node *n)
{
	return n->entry == NO_ENTRY ? NULL : &t->cd->entries[n->entry];
}

static void fill_stat(struct zip_tree *t, const struct zt_node *n, struct stat *st)
{
	const struct fl_zipcd_entry *e = node_entry(t, n);

	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)(n - t->nodes) + 1;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 + n->nsubdirs : 1;
	st->st_uid = t->ast.st_uid;
	st->st_gid = t->ast.st_gid;
	st->st_size = S_ISDIR(n->mode) || !e ? 0 : (off_t)e->usize;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
	st->st_mtim.tv_sec = n->mtime;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static struct zip_tree *zt(struct fl_tree *t)
{
	return (struct zip_tree *)t;
}

static int zip_lookup(struct fl_tree *tree, uint64_t dir, const char *name, uint64_t *ret_node)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *d = get_node(t, dir);
	size_t lo, hi;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	lo = d->first_child;
	hi = lo + d->nchildren;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->nodes[t->children[mid]].name, name);

		if (c == 0) {
			*ret_node = (uint64_t)t->children[mid] + 1;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

static int zip_getattr(struct fl_tree *tree, uint64_t node, struct stat *ret_st)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *n = get_node(t, node);

	if (!n)
		return -ENOENT;
	fill_stat(t, n, ret_st);
	return 0;
}

static int zip_readdir(struct fl_tree *tree, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
		       void *ctx)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *d = get_node(t, dir);
	struct stat st;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	for (uint64_t i = off; i < d->nchildren; i++) {
		uint32_t c = t->children[d->first_child + i];

		fill_stat(t, &t->nodes[c], &st);
		if (fill(ctx, t->nodes[c].name, (uint64_t)c + 1, &st, i + 1))
			break;
	}
	return 0;
}

/* ---- data -------------------------------------------------------------- */

static bool is_other(const struct fl_zipcd_entry *e)
{
	return e->method != FL_ZIPCD_METHOD_STORE && e->method != FL_ZIPCD_METHOD_DEFLATE;
}

/* Can @e's data be served?  -EACCES encrypted, -EIO method not decodable. */
static int check_entry(const struct fl_zipcd_entry *e)
{
	if (e->flags & (FL_ZIPCD_FLAG_ENCRYPTED | FL_ZIPCD_FLAG_STRONG_ENC))
		return -EACCES;
	if (is_other(e) && !fl_zip_other_supported(e->method))
		return -EIO;
	if (e->method == FL_ZIPCD_METHOD_STORE && e->csize != e->usize)
		return -EIO;
	return 0;
}

static int data_offset(struct zip_tree *t, struct zt_node *n, uint64_t *ret_off)
{
	uint64_t off = __atomic_load_n(&n->data_off, __ATOMIC_ACQUIRE);
	int r;

	if (off)
		goto done;
	r = fl_zipcd_data_offset(t->fd, t->cd, node_entry(t, n), &off);
	if (r < 0)
		return r;
	__atomic_store_n(&n->data_off, off, __ATOMIC_RELEASE);
done:
	*ret_off = off;
	return 0;
}

static int inflate_src(struct zip_tree *t, struct zt_node *n, struct fl_inflate_src *src)
{
	const struct fl_zipcd_entry *e = node_entry(t, n);
	int r = data_offset(t, n, &src->off);

	src->fd = t->fd;
	src->csize = e->csize;
	src->usize = e->usize;
	src->crc = e->crc;
	return r;
}

static ssize_t pread_full(int fd, void *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, (char *)buf + done, size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void cache_unlink(struct zip_tree *t, struct cache_ent *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		t->lru_tail = c->prev;
	c->prev = c->next = NULL;
}

static void cache_push(struct zip_tree *t, struct cache_ent *c)
{
	c->next = t->lru_head;
	if (t->lru_head)
		t->lru_head->prev = c;
	t->lru_head = c;
	if (!t->lru_tail)
		t->lru_tail = c;
}

static void cache_ent_free(struct cache_ent *c)
{
	free(c->data);
	free(c);
}

/* Drop least recently used entries until the cache fits; caller locks. */
static void cache_trim(struct zip_tree *t)
{
	while (t->cache_used > CACHE_MAX && t->lru_tail && t->lru_tail != t->lru_head) {
		struct cache_ent *c = t->lru_tail;

		cache_unlink(t, c);
		t->nodes[c->node].cached = NULL;
		t->cache_used -= c->len;
		if (c->refs)
			c->dead = true;
		else
			cache_ent_free(c);
	}
}

/* Insert @c (refs 1) unless another thread was first; returns the winner. */
static struct cache_ent *cache_insert(struct zip_tree *t, struct cache_ent *c)
{
	struct zt_node *n = &t->nodes[c->node];
	struct cache_ent *old;

	pthread_mutex_lock(&t->cache_lock);
	old = n->cached;
	if (old) {
		old->refs++;
	} else {
		n->cached = c;
		cache_push(t, c);
		t->cache_used += c->len;
		cache_trim(t);
	}
	pthread_mutex_unlock(&t->cache_lock);
	if (old)
		cache_ent_free(c);
	return old ? old : c;
}

/* Decompress all of small node @n into @out (usize bytes). */
static int whole(struct zip_tree *t, struct zt_node *n, void *out)
{
	struct fl_inflate_src src;
	int r;

	if (is_other(node_entry(t, n)))
		return fl_zip_other_whole(t->other, n->entry, out);
	r = inflate_src(t, n, &src);
	return r < 0 ? r : fl_inflate_whole(&src, out);
}

/* The whole decompressed data of small node @n, referenced; see cache_put(). */
static int cache_get(struct zip_tree *t, struct zt_node *n, struct cache_ent **ret)
{
	uint64_t usize = node_entry(t, n)->usize;
	struct cache_ent *c;
	int r;

	pthread_mutex_lock(&t->cache_lock);
	c = n->cached;
	if (c) {
		c->refs++;
		cache_unlink(t, c);
		cache_push(t, c);
	}
	pthread_mutex_unlock(&t->cache_lock);
	if (c)
		goto done;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->data = malloc(usize ? (size_t)usize : 1))) {
		free(c);
		return -ENOMEM;
	}
	c->node = (uint32_t)(n - t->nodes);
	c->len = (size_t)usize;
	c->refs = 1;
	r = whole(t, n, c->data);
	if (r < 0) {
		cache_ent_free(c);
		return r;
	}
	c = cache_insert(t, c);
done:
	*ret = c;
	return 0;
}

static void cache_put(struct zip_tree *t, struct cache_ent *c)
{
	bool gone;

	pthread_mutex_lock(&t->cache_lock);
	gone = --c->refs == 0 && c->dead;
	pthread_mutex_unlock(&t->cache_lock);
	if (gone)
		cache_ent_free(c);
}

/* The shared checkpoint index of large deflated node @n, made on first use. */
static int get_index(struct zip_tree *t, struct zt_node *n, struct fl_inflate_index **ret)
{
	struct fl_inflate_index *idx = __atomic_load_n(&n->index, __ATOMIC_ACQUIRE);
	struct fl_inflate_src src;
	int r = 0;

	if (idx)
		goto done;
	r = inflate_src(t, n, &src);
	if (r < 0)
		return r;
	pthread_mutex_lock(&t->index_lock);
	idx = n->index;
	if (!idx) {
		r = fl_inflate_index_new(&src, FL_INFLATE_SPAN, &idx);
		if (r == 0)
			__atomic_store_n(&n->index, idx, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&t->index_lock);
done:
	*ret = idx;
	return r;
}

/* Compressed and too large to decompress whole: read through a cursor. */
static bool is_large(const struct fl_zipcd_entry *e)
{
	return e->method != FL_ZIPCD_METHOD_STORE && e->usize > WHOLE_MAX;
}

/* Read large node @n of another method, with @h's cursor or a one-off one. */
static ssize_t read_other(struct zip_tree *t, struct zt_node *n, struct zt_handle *h, void *buf,
			  size_t size, uint64_t off)
{
	struct fl_zip_other_cursor *cur;
	ssize_t r;

	if (h && h->ocur)
		return fl_zip_other_cursor_read(h->ocur, buf, size, off);
	r = fl_zip_other_cursor_new(t->other, n->entry, &cur);
	if (r < 0)
		return r;
	r = fl_zip_other_cursor_read(cur, buf, size, off);
	fl_zip_other_cursor_free(cur);
	return r;
}

/* Read from a regular file or symlink node; @h may be NULL. */
static ssize_t read_node(struct zip_tree *t, struct zt_node *n, struct zt_handle *h, void *buf,
			 size_t size, uint64_t off)
{
	const struct fl_zipcd_entry *e = node_entry(t, n);
	struct fl_inflate_index *idx;
	struct fl_inflate_cursor *cur;
	struct cache_ent *c;
	uint64_t doff;
	ssize_t r = e ? check_entry(e) : -EIO;

	if (r < 0)
		return r;
	if (off >= e->usize || size == 0)
		return 0;
	if (size > e->usize - off)
		size = (size_t)(e->usize - off);
	if (e->method == FL_ZIPCD_METHOD_STORE) {
		r = data_offset(t, n, &doff);
		return r < 0 ? r : pread_full(t->fd, buf, size, doff + off);
	}
	if (!is_large(e)) {
		r = cache_get(t, n, &c);
		if (r < 0)
			return r;
		memcpy(buf, c->data + off, size);
		cache_put(t, c);
		return (ssize_t)size;
	}
	if (is_other(e))
		return read_other(t, n, h, buf, size, off);
	if (h && h->cur)
		return fl_inflate_cursor_read(h->cur, buf, size, off);
	r = get_index(t, n, &idx);
	if (r < 0 || (r = fl_inflate_cursor_new(idx, &cur)) < 0)
		return r;
	r = fl_inflate_cursor_read(cur, buf, size, off);
	fl_inflate_cursor_free(cur);
	return r;
}

static int zip_open(struct fl_tree *tree, uint64_t node, uint64_t *ret_fh)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *n = get_node(t, node);
	const struct fl_zipcd_entry *e;
	struct fl_inflate_index *idx;
	struct zt_handle *h;
	uint64_t doff;
	int r;

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	e = node_entry(t, n);
	if (!S_ISREG(n->mode) || !e)
		return -EINVAL;
	r = check_entry(e);
	if (r == 0)
		r = data_offset(t, n, &doff);
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->node = (uint32_t)(n - t->nodes);
	if (is_large(e) && is_other(e)) {
		r = fl_zip_other_cursor_new(t->other, n->entry, &h->ocur);
	} else if (is_large(e)) {
		r = get_index(t, n, &idx);
		if (r == 0)
			r = fl_inflate_cursor_new(idx, &h->cur);
	}
	if (r < 0) {
		free(h);
		return r;
	}
	*ret_fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static ssize_t zip_read(struct fl_tree *tree, uint64_t node, uint64_t fh, void *buf, size_t size,
			uint64_t off)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *n = get_node(t, node);
	struct zt_handle *h = (struct zt_handle *)(uintptr_t)fh;

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (h && &t->nodes[h->node] != n)
		return -EBADF;
	return read_node(t, n, h, buf, size, off);
}

static void zip_release(struct fl_tree *tree, uint64_t node, uint64_t fh)
{
	struct zt_handle *h = (struct zt_handle *)(uintptr_t)fh;

	if (!h)
		return;
	fl_inflate_cursor_free(h->cur);
	fl_zip_other_cursor_free(h->ocur);
	free(h);
}

static ssize_t zip_readlink(struct fl_tree *tree, uint64_t node, char *buf, size_t size)
{
	struct zip_tree *t = zt(tree);
	struct zt_node *n = get_node(t, node);
	const struct fl_zipcd_entry *e;
	ssize_t r;

	if (!n)
		return -ENOENT;
	e = node_entry(t, n);
	if (!S_ISLNK(n->mode) || !e)
		return -EINVAL;
	if (e->usize >= size)
		return -ERANGE;
	r = read_node(t, n, NULL, buf, size - 1, 0);
	if (r < 0)
		return r;
	/* A target with a NUL byte would be cut short by every reader of
	 * the string: damaged, like a short one. */
	if ((uint64_t)r != e->usize || memchr(buf, '\0', (size_t)r))
		return -EIO;
	buf[r] = '\0';
	return r;
}

static int zip_statfs(struct fl_tree *tree, struct statvfs *ret_st)
{
	struct zip_tree *t = zt(tree);

	memset(ret_st, 0, sizeof(*ret_st));
	ret_st->f_bsize = 4096;
	ret_st->f_frsize = 4096;
	ret_st->f_blocks = ((uint64_t)t->ast.st_size + 4095) / 4096;
	ret_st->f_files = t->nnodes;
	ret_st->f_namemax = NAME_MAX_LEN;
	ret_st->f_flag = ST_RDONLY;
	return 0;
}

static void zip_destroy(struct fl_tree *tree)
{
	struct zip_tree *t = zt(tree);

	if (t->nodes) {
		for (size_t i = 0; i < t->nnodes; i++)
			fl_inflate_index_free(t->nodes[i].index);
	}
	while (t->lru_head) {
		struct cache_ent *c = t->lru_head;

		cache_unlink(t, c);
		cache_ent_free(c);
	}
	pthread_mutex_destroy(&t->index_lock);
	pthread_mutex_destroy(&t->cache_lock);
	free(t->children);
	free(t->nodes);
	free(t->names);
	fl_zip_other_free(t->other);
	fl_zipcd_free(t->cd);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct fl_tree_ops zip_ops = {
	.lookup = zip_lookup,
	.getattr = zip_getattr,
	.readdir = zip_readdir,
	.open = zip_open,
	.read = zip_read,
	.release = zip_release,
	.readlink = zip_readlink,
	.statfs = zip_statfs,
	.destroy = zip_destroy,
};

int fl_zip_tree_open(int fd, const struct fl_tree_opts *opts, struct fl_tree **ret_tree,
		     struct fl_error *err)
{
	struct zip_tree *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return fl_error_set(err, ENOMEM, "out of memory opening the zip archive");
	t->base.ops = &zip_ops;
	t->fd = -1;
	pthread_mutex_init(&t->index_lock, NULL);
	pthread_mutex_init(&t->cache_lock, NULL);
	if (fstat(fd, &t->ast) < 0) {
		r = fl_error_set(err, errno, "cannot stat the zip archive: %s", strerror(errno));
		goto fail;
	}
	r = fl_zipcd_read(fd, &t->cd, err);
	if (r < 0)
		goto fail;
	r = build(t, opts);
	if (r == 0)
		r = fl_zip_other_new(fd, t->cd, &t->other);
	if (r < 0) {
		fl_error_set(err, -r, "cannot build the zip tree: %s", strerror(-r));
		goto fail;
	}
	t->fd = fd;
	*ret_tree = &t->base;
	return 0;
fail:
	zip_destroy(&t->base);
	return r;
}
