/* SPDX-License-Identifier: MIT */
/*
 * The in-memory archive tree of the FUSE layer's unit tests (fake_tree.h).
 * Follows the tree.h contract (bounds-checked ids, -errno results, resumable
 * readdir cookies) so that fusefs/ll.c can be tested without an archive.
 * Never modified after it is served, so readers need no lock.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/fake_tree.h"

struct fl_fake_dirent {
	char *name;
	uint64_t node;
};

struct fl_fake_xattr {
	char *name;
	char *value;
	size_t len;
};

struct fl_fake_node {
	struct stat st;
	char *data; /* file content or symlink target */
	size_t len;
	struct fl_fake_dirent *ents;
	size_t nents;
	struct fl_fake_xattr *xattrs;
	size_t nxattrs;
	int read_err;
	int getattr_err;
};

struct fl_fake_tree {
	struct fl_tree tree; /* first, as tree.h requires */
	struct fl_fake_stats *stats;
	struct fl_fake_node *nodes; /* node id n is nodes[n - 1] */
	size_t nnodes;
	atomic_uint_fast64_t next_fh;
};

static struct fl_fake_tree *fl_fake_from(struct fl_tree *t)
{
	return (struct fl_fake_tree *)t;
}

/* NULL for an id that does not exist: callers answer -ENOENT. */
static struct fl_fake_node *fl_fake_node(struct fl_fake_tree *ft, uint64_t id)
{
	if (id == 0 || id > ft->nnodes)
		return NULL;
	return &ft->nodes[id - 1];
}

static void *fl_fake_xalloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	cr_assert_not_null(p, "fake tree: out of memory");
	return p;
}

static uint64_t fl_fake_add_node(struct fl_fake_tree *ft, mode_t mode)
{
	struct fl_fake_node *n;
	uint64_t id;

	ft->nodes = fl_fake_xalloc(ft->nodes, (ft->nnodes + 1) * sizeof(*ft->nodes));
	n = &ft->nodes[ft->nnodes++];
	id = ft->nnodes;
	memset(n, 0, sizeof(*n));
	n->st.st_mode = mode;
	n->st.st_ino = FL_FAKE_INO_BASE + id;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = FL_FAKE_UID;
	n->st.st_gid = FL_FAKE_GID;
	n->st.st_blksize = 4096;
	n->st.st_mtim.tv_sec = 1700000000;
	n->st.st_atim = n->st.st_mtim;
	n->st.st_ctim = n->st.st_mtim;
	return id;
}

static void fl_fake_link_name(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			      uint64_t node)
{
	struct fl_fake_node *dir = fl_fake_node(ft, parent);

	cr_assert(dir && S_ISDIR(dir->st.st_mode), "fake tree: %llu is not a directory",
		  (unsigned long long)parent);
	dir->ents = fl_fake_xalloc(dir->ents, (dir->nents + 1) * sizeof(*dir->ents));
	dir->ents[dir->nents].name = strdup(name);
	dir->ents[dir->nents].node = node;
	dir->nents++;
}

static uint64_t fl_fake_add(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			    mode_t mode, const void *data, size_t len)
{
	uint64_t id = fl_fake_add_node(ft, mode);
	struct fl_fake_node *n = fl_fake_node(ft, id);

	n->data = fl_fake_xalloc(NULL, len + 1);
	if (len)
		memcpy(n->data, data, len);
	n->data[len] = '\0';
	n->len = len;
	n->st.st_size = (off_t)len;
	n->st.st_blocks = (blkcnt_t)((len + 511) / 512);
	fl_fake_link_name(ft, parent, name, id);
	return id;
}

uint64_t fl_fake_tree_dir(struct fl_fake_tree *ft, uint64_t parent, const char *name, mode_t mode)
{
	return fl_fake_add(ft, parent, name, S_IFDIR | mode, NULL, 0);
}

uint64_t fl_fake_tree_file(struct fl_fake_tree *ft, uint64_t parent, const char *name, mode_t mode,
			   const void *data, size_t len)
{
	return fl_fake_add(ft, parent, name, S_IFREG | mode, data, len);
}

uint64_t fl_fake_tree_symlink(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			      const char *target)
{
	return fl_fake_add(ft, parent, name, S_IFLNK | 0777, target, strlen(target));
}

uint64_t fl_fake_tree_hardlink(struct fl_fake_tree *ft, uint64_t parent, const char *name,
			       uint64_t target)
{
	struct fl_fake_node *t = fl_fake_node(ft, target);
	uint64_t id;

	cr_assert(t && S_ISREG(t->st.st_mode), "fake tree: hard link to a non-file");
	id = fl_fake_add(ft, parent, name, t->st.st_mode, t->data, t->len);
	t = fl_fake_node(ft, target); /* the node array may have moved */
	t->st.st_nlink++;
	fl_fake_node(ft, id)->st.st_ino = t->st.st_ino;
	fl_fake_node(ft, id)->st.st_nlink = t->st.st_nlink;
	return id;
}

void fl_fake_tree_xattr(struct fl_fake_tree *ft, uint64_t node, const char *name,
			const void *value, size_t len)
{
	struct fl_fake_node *n = fl_fake_node(ft, node);
	struct fl_fake_xattr *x;

	cr_assert_not_null(n);
	n->xattrs = fl_fake_xalloc(n->xattrs, (n->nxattrs + 1) * sizeof(*n->xattrs));
	x = &n->xattrs[n->nxattrs++];
	x->name = strdup(name);
	x->value = fl_fake_xalloc(NULL, len);
	memcpy(x->value, value, len);
	x->len = len;
}

void fl_fake_tree_fail_read(struct fl_fake_tree *ft, uint64_t node, int err)
{
	cr_assert_not_null(fl_fake_node(ft, node));
	fl_fake_node(ft, node)->read_err = err;
}

void fl_fake_tree_fail_getattr(struct fl_fake_tree *ft, uint64_t node, int err)
{
	cr_assert_not_null(fl_fake_node(ft, node));
	fl_fake_node(ft, node)->getattr_err = err;
}

/* --- the tree.h operations ------------------------------------------------------ */

static int fl_fake_lookup(struct fl_tree *t, uint64_t dir, const char *name, uint64_t *ret_node)
{
	struct fl_fake_node *d = fl_fake_node(fl_fake_from(t), dir);
	size_t i;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->st.st_mode))
		return -ENOTDIR;
	for (i = 0; i < d->nents; i++) {
		if (strcmp(d->ents[i].name, name) == 0) {
			*ret_node = d->ents[i].node;
			return 0;
		}
	}
	return -ENOENT;
}

static int fl_fake_getattr(struct fl_tree *t, uint64_t node, struct stat *ret_st)
{
	struct fl_fake_node *n = fl_fake_node(fl_fake_from(t), node);

	if (!n)
		return -ENOENT;
	if (n->getattr_err)
		return -n->getattr_err;
	*ret_st = n->st;
	return 0;
}

/* Cookie k resumes at entry index k: entry i is handed out with cookie i + 1. */
static int fl_fake_readdir(struct fl_tree *t, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
			   void *ctx)
{
	struct fl_fake_tree *ft = fl_fake_from(t);
	struct fl_fake_node *d = fl_fake_node(ft, dir);
	uint64_t i;

	if (!d)
		return -ENOENT;
	if (!S_ISDIR(d->st.st_mode))
		return -ENOTDIR;
	for (i = off; i < d->nents; i++) {
		struct fl_fake_node *c = fl_fake_node(ft, d->ents[i].node);

		if (fill(ctx, d->ents[i].name, d->ents[i].node, &c->st, i + 1))
			break;
	}
	return 0;
}

static int fl_fake_open(struct fl_tree *t, uint64_t node, uint64_t *ret_fh)
{
	struct fl_fake_tree *ft = fl_fake_from(t);
	struct fl_fake_node *n = fl_fake_node(ft, node);

	if (!n)
		return -ENOENT;
	if (S_ISDIR(n->st.st_mode))
		return -EISDIR;
	*ret_fh = atomic_fetch_add(&ft->next_fh, 1);
	if (ft->stats)
		atomic_fetch_add(&ft->stats->opens, 1);
	return 0;
}

static ssize_t fl_fake_read(struct fl_tree *t, uint64_t node, uint64_t fh, void *buf, size_t size,
			    uint64_t off)
{
	struct fl_fake_node *n = fl_fake_node(fl_fake_from(t), node);
	size_t len;

	if (!n)
		return -ENOENT;
	if (n->read_err)
		return -n->read_err;
	if (!S_ISREG(n->st.st_mode))
		return -EISDIR;
	if (off >= n->len)
		return 0;
	len = n->len - off < size ? n->len - off : size;
	memcpy(buf, n->data + off, len);
	return (ssize_t)len;
}

static void fl_fake_release(struct fl_tree *t, uint64_t node, uint64_t fh)
{
	struct fl_fake_tree *ft = fl_fake_from(t);

	if (ft->stats)
		atomic_fetch_add(&ft->stats->releases, 1);
}

static ssize_t fl_fake_readlink(struct fl_tree *t, uint64_t node, char *buf, size_t size)
{
	struct fl_fake_node *n = fl_fake_node(fl_fake_from(t), node);

	if (!n)
		return -ENOENT;
	if (!S_ISLNK(n->st.st_mode))
		return -EINVAL;
	if (n->len + 1 > size)
		return -ERANGE;
	memcpy(buf, n->data, n->len + 1);
	return (ssize_t)n->len;
}

static ssize_t fl_fake_listxattr(struct fl_tree *t, uint64_t node, char *buf, size_t size)
{
	struct fl_fake_node *n = fl_fake_node(fl_fake_from(t), node);
	size_t i, need = 0, pos = 0;

	if (!n)
		return -ENOENT;
	for (i = 0; i < n->nxattrs; i++)
		need += strlen(n->xattrs[i].name) + 1;
	if (size == 0)
		return (ssize_t)need;
	if (size < need)
		return -ERANGE;
	for (i = 0; i < n->nxattrs; i++) {
		size_t l = strlen(n->xattrs[i].name) + 1;

		memcpy(buf + pos, n->xattrs[i].name, l);
		pos += l;
	}
	return (ssize_t)need;
}

static ssize_t fl_fake_getxattr(struct fl_tree *t, uint64_t node, const char *name, void *buf,
				size_t size)
{
	struct fl_fake_node *n = fl_fake_node(fl_fake_from(t), node);
	size_t i;

	if (!n)
		return -ENOENT;
	for (i = 0; i < n->nxattrs; i++) {
		struct fl_fake_xattr *x = &n->xattrs[i];

		if (strcmp(x->name, name) != 0)
			continue;
		if (size == 0)
			return (ssize_t)x->len;
		if (size < x->len)
			return -ERANGE;
		memcpy(buf, x->value, x->len);
		return (ssize_t)x->len;
	}
	return -ENODATA;
}

static int fl_fake_statfs(struct fl_tree *t, struct statvfs *ret_st)
{
	struct fl_fake_tree *ft = fl_fake_from(t);

	memset(ret_st, 0, sizeof(*ret_st));
	ret_st->f_bsize = 4096;
	ret_st->f_frsize = 4096;
	ret_st->f_blocks = 100;
	ret_st->f_files = ft->nnodes;
	ret_st->f_namemax = 255;
	return 0;
}

static void fl_fake_destroy(struct fl_tree *t)
{
	struct fl_fake_tree *ft = fl_fake_from(t);
	size_t i, j;

	for (i = 0; i < ft->nnodes; i++) {
		struct fl_fake_node *n = &ft->nodes[i];

		for (j = 0; j < n->nents; j++)
			free(n->ents[j].name);
		for (j = 0; j < n->nxattrs; j++) {
			free(n->xattrs[j].name);
			free(n->xattrs[j].value);
		}
		free(n->ents);
		free(n->xattrs);
		free(n->data);
	}
	if (ft->stats)
		atomic_fetch_add(&ft->stats->destroyed, 1);
	free(ft->nodes);
	free(ft);
}

static const struct fl_tree_ops fl_fake_ops = {
	.lookup = fl_fake_lookup,
	.getattr = fl_fake_getattr,
	.readdir = fl_fake_readdir,
	.open = fl_fake_open,
	.read = fl_fake_read,
	.release = fl_fake_release,
	.readlink = fl_fake_readlink,
	.listxattr = fl_fake_listxattr,
	.getxattr = fl_fake_getxattr,
	.statfs = fl_fake_statfs,
	.destroy = fl_fake_destroy,
};

struct fl_fake_tree *fl_fake_tree_new(struct fl_fake_stats *stats)
{
	struct fl_fake_tree *ft = fl_fake_xalloc(NULL, sizeof(*ft));

	memset(ft, 0, sizeof(*ft));
	ft->tree.ops = &fl_fake_ops;
	ft->stats = stats;
	atomic_init(&ft->next_fh, 100);
	fl_fake_add_node(ft, S_IFDIR | 0755); /* FL_TREE_ROOT */
	return ft;
}

struct fl_tree *fl_fake_tree_tree(struct fl_fake_tree *ft)
{
	return &ft->tree;
}
