/* SPDX-License-Identifier: MIT */
/*
 * The squashfs backend: a tree (tree.h) over libsquashfuse's sqfs_* layer.
 * libsquashfuse 0.1.105 trusts the image, so every index, cursor and length
 * read from the image is checked here before the library acts on it, and its
 * unchecked paths (sqfs_read_range, sqfs_dir_lookup, sqfs_lookup_path,
 * sqfs_xattr_find/lookup, sqfs_table_get) are never called.  Never prints.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fusefs/sqfs_compat.h"
#include "fusefs/sqfs_tree.h"

#define SQ_MD_SIZE	   8192u	  /* uncompressed metadata block size */
#define SQ_REF_BIAS	   2u		  /* node id = inode reference + 2 */
#define SQ_REF_MAX	   ((1ull << 48) - 1)
#define SQ_SB_SIZE	   ((uint64_t)sizeof(struct squashfs_super_block))
#define SQ_BLOCK_UNCOMP	   (1u << 24)	  /* data block header: stored uncompressed */
#define SQ_NAMEBUF	   (65536 + 64)	  /* sqfs_dir_next writes up to 65536 + NUL */
#define SQ_DIR_BUDGET	   (64u << 20)	  /* directory caches kept (bytes) */
#define SQ_DIR_MAX	   (256u << 20)	  /* a single directory larger is refused */
#define SQ_DATA_BUDGET	   (16u << 20)	  /* decompressed data block cache (bytes) */
#define SQ_CKPT_EVERY	   256u		  /* block index checkpoint interval */
#define SQ_MD_CACHED	   256u		  /* metadata blocks cached (2 MiB) */
#define SQ_SYMLINK_MAX	   4095u
#define SQ_XATTR_NAME_MAX  255u
#define SQ_XATTR_SIZE_MAX  65536u	  /* Linux XATTR_SIZE_MAX and XATTR_LIST_MAX */
#define SQ_XATTR_COUNT_MAX 65536u
#define SQ_XATTR_WALK_MAX  (4u << 20)	  /* names and values of one inode */

/* One directory entry of a directory cache; the name lives in sq_dir.names. */
struct sq_dent {
	uint64_t ref;
	uint32_t name_off;
	uint32_t ino;
	uint16_t name_len;
	uint16_t type;
};

/* A directory's entries sorted by name, built on first use.  Readdir cookies
 * are indexes into ents, and rebuilding gives the same order, so eviction
 * never invalidates a cookie. */
struct sq_dir {
	uint64_t ref;
	struct sq_dir *prev, *next; /* LRU list, most recent first */
	unsigned int users;	    /* readdirs in progress; evictable at 0 */
	size_t count;
	size_t bytes;
	struct sq_dent *ents;
	char *names;
};

/* A slot of the decompressed data block cache; key is (pos, hdr). */
struct sq_blk {
	uint64_t pos;
	uint32_t hdr;
	uint64_t used; /* LRU tick, 0 for an empty slot */
	sqfs_block *block;
};

/* Block list walk state: the header of block 'idx' is at 'cur', its data at
 * 'pos' (both relative to the image). */
struct sq_walk {
	uint64_t idx;
	sqfs_md_cursor cur;
	uint64_t pos;
};

/* An open regular file.  The walk state and checkpoints (one per
 * SQ_CKPT_EVERY blocks) make sequential reads O(1) per block and random
 * reads cost at most SQ_CKPT_EVERY header reads, with memory proportional to
 * how far the file has been read, not to its declared size. */
struct sq_file {
	uint64_t node;
	uint64_t size;
	uint64_t nblocks; /* blocks in the block list; the rest is a fragment */
	uint32_t frag_idx;
	uint32_t frag_off;
	struct sq_walk walk;
	struct sq_walk *ckpt;
	size_t nckpt, ckpt_cap;
};

struct sq_tree {
	struct fl_tree base;
	int fd;
	uint64_t used;	       /* bytes_used */
	uint32_t bsize;	       /* data block size */
	uint64_t itable_len;   /* inode table length in bytes on disk */
	uint32_t *ids;	       /* uid/gid table, no_ids entries */
	pthread_mutex_t lock;  /* fs and its caches, namebuf, dirs, files */
	sqfs fs;
	char *namebuf;
	void *dirs;	       /* tsearch() tree of struct sq_dir by ref */
	struct sq_dir *lru_head, *lru_tail;
	size_t dir_bytes;
	struct sq_file **files; /* fh = index + 1 */
	size_t nfiles;
	pthread_mutex_t data_lock; /* blks, tick */
	struct sq_blk *blks;
	size_t nblks;
	uint64_t tick;
};

static const struct fl_tree_ops sq_ops;

static struct sq_tree *sq(struct fl_tree *ft)
{
	return (struct sq_tree *)ft;
}

/* ---- bounded metadata access ------------------------------------------- */

/*
 * The library's sqfs_md_read computes "block size - cursor offset" unsigned,
 * so a cursor offset past the end of its block makes it copy out of bounds;
 * and its cache treats position 0 as "empty slot" and hands back a NULL block.
 * Every cursor taken from the image passes through here first.
 */
static bool md_cursor_ok(struct sq_tree *t, uint64_t pos, uint64_t offset)
{
	sqfs_off_t p = (sqfs_off_t)pos;
	sqfs_block *b;

	if (pos < SQ_SB_SIZE || pos >= t->used || offset >= SQ_MD_SIZE)
		return false;
	if (sqfs_md_cache(&t->fs, &p, &b) != SQFS_OK)
		return false;
	return offset < b->size;
}

/* sqfs_table_get without its out-of-bounds reads: entry @idx of @tab. */
static int table_get(struct sq_tree *t, sqfs_table *tab, uint64_t count, uint64_t idx, void *buf)
{
	uint64_t at = idx * tab->each;
	sqfs_off_t pos;
	sqfs_block *b;

	if (idx >= count || !tab->blocks)
		return -EIO;
	pos = (sqfs_off_t)tab->blocks[at / SQ_MD_SIZE];
	if ((uint64_t)pos < SQ_SB_SIZE || (uint64_t)pos >= t->used)
		return -EIO;
	if (sqfs_md_cache(&t->fs, &pos, &b) != SQFS_OK || at % SQ_MD_SIZE + tab->each > b->size)
		return -EIO;
	memcpy(buf, (char *)b->data + at % SQ_MD_SIZE, tab->each);
	return 0;
}

static int md_read(struct sq_tree *t, sqfs_md_cursor *cur, void *buf, size_t size)
{
	return sqfs_md_read(&t->fs, cur, buf, size) == SQFS_OK ? 0 : -EIO;
}

/* ---- superblock -------------------------------------------------------- */

static bool table_fits(uint64_t start, uint64_t count, uint64_t each, uint64_t used)
{
	uint64_t nblocks = (count * each + SQ_MD_SIZE - 1) / SQ_MD_SIZE;

	return start >= SQ_SB_SIZE && start < used && nblocks * 8 <= used - start;
}

/* What is wrong with the superblock's geometry, or NULL. */
static const char *sb_problem(const struct squashfs_super_block *sb)
{
	uint32_t bs = le32toh(sb->block_size);
	uint64_t used = le64toh(sb->bytes_used);
	uint64_t itab = le64toh(sb->inode_table_start);
	uint64_t dtab = le64toh(sb->directory_table_start);
	uint64_t root = le64toh(sb->root_inode);
	uint64_t lookup = le64toh(sb->lookup_table_start);

	if (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1)) || le16toh(sb->block_log) > 20 ||
	    (1u << le16toh(sb->block_log)) != bs)
		return "block size";
	if (itab < SQ_SB_SIZE || itab >= dtab || dtab >= used)
		return "table offsets";
	if (le16toh(sb->no_ids) == 0 ||
	    !table_fits(le64toh(sb->id_table_start), le16toh(sb->no_ids), 4, used))
		return "id table";
	if (le32toh(sb->fragments) &&
	    !table_fits(le64toh(sb->fragment_table_start), le32toh(sb->fragments), 16, used))
		return "fragment table";
	if (lookup != (uint64_t)SQUASHFS_INVALID_BLK &&
	    !table_fits(lookup, le32toh(sb->inodes), 8, used))
		return "export table";
	if ((root >> 16) >= dtab - itab || (root & 0xffff) >= SQ_MD_SIZE || root > SQ_REF_MAX)
		return "root inode";
	return NULL;
}

/* Check the xattr id table header that sqfs_init will trust. */
static int xattr_table_check(int fd, uint64_t offset, const struct squashfs_super_block *sb)
{
	uint64_t start = le64toh(sb->xattr_id_table_start);
	uint64_t used = le64toh(sb->bytes_used);
	struct squashfs_xattr_id_table xi;

	if (start == (uint64_t)SQUASHFS_INVALID_BLK)
		return 0;
	if (start < SQ_SB_SIZE || start + sizeof(xi) > used ||
	    pread(fd, &xi, sizeof(xi), (off_t)(offset + start)) != (ssize_t)sizeof(xi))
		return -EIO;
	if (le64toh(xi.xattr_table_start) < SQ_SB_SIZE || le64toh(xi.xattr_table_start) > start ||
	    !table_fits(start + sizeof(xi), le32toh(xi.xattr_ids), 16, used))
		return -EIO;
	return 0;
}

static int image_size(int fd, uint64_t *ret_size)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*ret_size = (uint64_t)st.st_size;
		return 0;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	*ret_size = (uint64_t)end;
	return 0;
}

static int sb_check(int fd, uint64_t offset, struct fl_error *err)
{
	struct squashfs_super_block sb;
	const char *why;
	uint64_t size = 0, used;
	int r;

	r = image_size(fd, &size);
	if (r < 0)
		return fl_error_set(err, -r, "cannot stat image: %s", strerror(-r));
	if (size < offset || size - offset < sizeof(sb) ||
	    pread(fd, &sb, sizeof(sb), (off_t)offset) != (ssize_t)sizeof(sb) ||
	    le32toh(sb.s_magic) != SQUASHFS_MAGIC)
		return fl_error_set(err, EINVAL, "not a squashfs image");
	if (le16toh(sb.s_major) != 4 || le16toh(sb.s_minor) != 0)
		return fl_error_set(err, ENOTSUP, "unsupported squashfs version %u.%u",
				    le16toh(sb.s_major), le16toh(sb.s_minor));
	if (!sqfs_decompressor_get(le16toh(sb.compression))) {
		const char *name = sqfs_compression_name(le16toh(sb.compression));

		return fl_error_set(err, ENOTSUP, "unsupported compression %s",
				    name ? name : "(unknown)");
	}
	used = le64toh(sb.bytes_used);
	if (used < SQ_SB_SIZE || used > size - offset)
		return fl_error_set(err, EIO, "truncated image (%llu bytes of %llu)",
				    (unsigned long long)(size - offset), (unsigned long long)used);
	why = sb_problem(&sb);
	if (why)
		return fl_error_set(err, EIO, "corrupt superblock: %s", why);
	if (xattr_table_check(fd, offset, &sb) < 0)
		return fl_error_set(err, EIO, "corrupt superblock: xattr table");
	return 0;
}

/* ---- inodes ------------------------------------------------------------ */

static uint64_t ref_to_node(struct sq_tree *t, uint64_t ref)
{
	return ref == t->fs.sb.root_inode ? FL_TREE_ROOT : ref + SQ_REF_BIAS;
}

static int node_to_ref(struct sq_tree *t, uint64_t node, uint64_t *ret_ref)
{
	uint64_t ref;

	if (node == FL_TREE_ROOT) {
		*ret_ref = t->fs.sb.root_inode;
		return 0;
	}
	if (node < SQ_REF_BIAS || node - SQ_REF_BIAS > SQ_REF_MAX)
		return -ENOENT;
	ref = node - SQ_REF_BIAS;
	/* The root has exactly one id; the block and offset must lie in the
	 * inode table. */
	if (ref == t->fs.sb.root_inode || (ref >> 16) >= t->itable_len ||
	    (ref & 0xffff) >= SQ_MD_SIZE)
		return -ENOENT;
	*ret_ref = ref;
	return 0;
}

/* Check the fields of a decoded inode that later code indexes with. */
static int inode_check(struct sq_tree *t, const sqfs_inode *ino)
{
	const struct squashfs_super_block *sb = &t->fs.sb;

	if (ino->base.uid >= sb->no_ids || ino->base.guid >= sb->no_ids)
		return -EIO;
	if (ino->xattr != SQUASHFS_INVALID_XATTR && ino->xattr >= t->fs.xattr_info.xattr_ids)
		return -EIO;
	if (S_ISREG(ino->base.mode)) {
		if (ino->xtra.reg.frag_idx != SQUASHFS_INVALID_FRAG &&
		    ino->xtra.reg.frag_idx >= sb->fragments)
			return -EIO;
		if (ino->xtra.reg.start_block > t->used || ino->xtra.reg.file_size > INT64_MAX)
			return -EIO;
	} else if (S_ISLNK(ino->base.mode)) {
		if (ino->xtra.symlink_size == 0 || ino->xtra.symlink_size > SQ_SYMLINK_MAX)
			return -EIO;
	}
	return 0;
}

/*
 * Under t->lock: decode the inode behind @node.  An extended symlink's
 * target length is checked before sqfs_inode_get skips over the target.
 */
static int inode_load(struct sq_tree *t, uint64_t node, sqfs_inode *ino)
{
	struct squashfs_symlink_inode raw;
	sqfs_md_cursor cur;
	uint64_t ref;
	int r;

	r = node_to_ref(t, node, &ref);
	if (r < 0)
		return r;
	if (!md_cursor_ok(t, t->fs.sb.inode_table_start + (ref >> 16), ref & 0xffff))
		return -EIO;
	sqfs_md_cursor_inode(&cur, ref, t->fs.sb.inode_table_start);
	if (md_read(t, &cur, &raw, sizeof(struct squashfs_base_inode)) < 0)
		return -EIO;
	if (le16toh(raw.inode_type) == SQUASHFS_LSYMLINK_TYPE) {
		if (md_read(t, &cur, &raw.nlink, 8) < 0 ||
		    le32toh(raw.symlink_size) > SQ_SYMLINK_MAX)
			return -EIO;
	}
	if (sqfs_inode_get(&t->fs, ino, ref) != SQFS_OK)
		return -EIO;
	/* The library ORs the type into the stored mode: stray type bits in
	 * the mode must not make a file look like a directory. */
	ino->base.mode = (uint16_t)((ino->base.mode & 07777) | sqfs_mode(ino->base.inode_type));
	return inode_check(t, ino);
}

static void inode_stat(struct sq_tree *t, const sqfs_inode *ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino->base.inode_number;
	st->st_mode = ino->base.mode;
	st->st_nlink = ino->nlink > 0 ? (nlink_t)ino->nlink : 1;
	st->st_uid = t->ids[ino->base.uid];
	st->st_gid = t->ids[ino->base.guid];
	st->st_blksize = t->bsize;
	if (S_ISREG(st->st_mode))
		st->st_size = (off_t)ino->xtra.reg.file_size;
	else if (S_ISDIR(st->st_mode))
		st->st_size = ino->xtra.dir.dir_size;
	else if (S_ISLNK(st->st_mode))
		st->st_size = (off_t)ino->xtra.symlink_size;
	else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		st->st_rdev = makedev((unsigned int)ino->xtra.dev.major,
				      (unsigned int)ino->xtra.dev.minor);
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = (time_t)ino->base.mtime;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static int stat_node(struct sq_tree *t, uint64_t node, struct stat *st)
{
	sqfs_inode ino;
	int r;

	pthread_mutex_lock(&t->lock);
	r = inode_load(t, node, &ino);
	if (r == 0)
		inode_stat(t, &ino, st);
	pthread_mutex_unlock(&t->lock);
	return r;
}

static int sq_getattr(struct fl_tree *ft, uint64_t node, struct stat *ret_st)
{
	return stat_node(sq(ft), node, ret_st);
}

/* ---- directory caches -------------------------------------------------- */

static int dir_key_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct sq_dir *)a)->ref, y = ((const struct sq_dir *)b)->ref;

	return x < y ? -1 : x > y;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int dent_cmp(const void *a, const void *b, void *names)
{
	const struct sq_dent *x = a, *y = b;

	return name_cmp((char *)names + x->name_off, x->name_len, (char *)names + y->name_off,
			y->name_len);
}

static void dir_free(void *p)
{
	struct sq_dir *d = p;

	if (d) {
		free(d->ents);
		free(d->names);
		free(d);
	}
}

/*
 * A name libsquashfuse handed us, of @len bytes in namebuf.  An entry with a
 * name over SQUASHFS_NAME_LEN, or containing '/' or NUL, or "." or "..",
 * cannot come from any squashfs writer: it is skipped, not fatal, so the
 * rest of the directory stays usable (the reader has already consumed the
 * whole name, so the following entries are still aligned).
 */
static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SQUASHFS_NAME_LEN)
		return false;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	return !(name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')));
}

static int dir_add(struct sq_dir *d, size_t *cap, size_t *names_cap, const sqfs_dir_entry *e)
{
	struct sq_dent *de;

	if (d->count == *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		void *p = reallocarray(d->ents, n, sizeof(*d->ents));

		if (!p)
			return -ENOMEM;
		d->ents = p;
		*cap = n;
	}
	if (d->bytes + e->name_size > *names_cap) {
		size_t n = *names_cap ? *names_cap * 2 : 256;
		char *p;

		while (n < d->bytes + e->name_size)
			n *= 2;
		p = realloc(d->names, n);
		if (!p)
			return -ENOMEM;
		d->names = p;
		*names_cap = n;
	}
	memcpy(d->names + d->bytes, e->name, e->name_size);
	de = &d->ents[d->count++];
	de->ref = e->inode;
	de->name_off = (uint32_t)d->bytes;
	de->name_len = (uint16_t)e->name_size;
	de->ino = e->inode_number;
	de->type = (uint16_t)e->type;
	d->bytes += e->name_size;
	return 0;
}

/* Sort by name and drop duplicates (a corrupt image may repeat a name). */
static void dir_sort(struct sq_dir *d)
{
	size_t i, n = 0;

	if (d->count == 0)
		return;
	qsort_r(d->ents, d->count, sizeof(*d->ents), dent_cmp, d->names);
	for (i = 0; i < d->count; i++) {
		if (n && dent_cmp(&d->ents[n - 1], &d->ents[i], d->names) == 0)
			continue;
		d->ents[n++] = d->ents[i];
	}
	d->count = n;
}

/* Under t->lock: read every entry of directory inode @ino into @d. */
static int dir_fill(struct sq_tree *t, sqfs_inode *ino, struct sq_dir *d)
{
	size_t cap = 0, names_cap = 0;
	sqfs_dir_entry e;
	sqfs_err serr = SQFS_OK;
	sqfs_dir dir;
	int r;

	/* A listing of 3 bytes or less is empty and never read. */
	if (ino->xtra.dir.dir_size > 3 &&
	    !md_cursor_ok(t, t->fs.sb.directory_table_start + ino->xtra.dir.start_block,
			  ino->xtra.dir.offset))
		return -EIO;
	if (sqfs_dir_open(&t->fs, ino, &dir, 0) != SQFS_OK)
		return -EIO;
	sqfs_dentry_init(&e, t->namebuf);
	while (sqfs_dir_next(&t->fs, &dir, &e, &serr)) {
		/* Entries past the declared size: the count in a header lies. */
		if (dir.offset > dir.total)
			return -EIO;
		if (!name_ok(e.name, e.name_size) || e.type < SQUASHFS_DIR_TYPE ||
		    e.type > SQUASHFS_SOCKET_TYPE)
			continue;
		r = dir_add(d, &cap, &names_cap, &e);
		if (r < 0)
			return r;
		if (d->bytes + d->count * sizeof(*d->ents) > SQ_DIR_MAX)
			return -EIO;
	}
	if (serr != SQFS_OK)
		return -EIO;
	dir_sort(d);
	d->bytes += d->count * sizeof(*d->ents) + sizeof(*d);
	return 0;
}

static void lru_unlink(struct sq_tree *t, struct sq_dir *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		t->lru_head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		t->lru_tail = d->prev;
	d->prev = d->next = NULL;
}

static void lru_push(struct sq_tree *t, struct sq_dir *d)
{
	d->prev = NULL;
	d->next = t->lru_head;
	if (t->lru_head)
		t->lru_head->prev = d;
	t->lru_head = d;
	if (!t->lru_tail)
		t->lru_tail = d;
}

/* Under t->lock: drop least recently used idle caches over the budget. */
static void dir_evict(struct sq_tree *t)
{
	struct sq_dir *d = t->lru_tail, *prev;

	for (; d && t->dir_bytes > SQ_DIR_BUDGET; d = prev) {
		prev = d->prev;
		if (d->users)
			continue;
		lru_unlink(t, d);
		tdelete(d, &t->dirs, dir_key_cmp);
		t->dir_bytes -= d->bytes;
		dir_free(d);
	}
}

/* Under t->lock: the cache of directory @node, with a reference taken. */
static int dir_get(struct sq_tree *t, uint64_t node, struct sq_dir **ret)
{
	struct sq_dir key, *d, **found;
	sqfs_inode ino;
	int r;

	r = node_to_ref(t, node, &key.ref);
	if (r < 0)
		return r;
	found = tfind(&key, &t->dirs, dir_key_cmp);
	if (!found) {
		r = inode_load(t, node, &ino);
		if (r < 0)
			return r;
		if (!S_ISDIR(ino.base.mode))
			return -ENOTDIR;
		d = calloc(1, sizeof(*d));
		if (!d)
			return -ENOMEM;
		d->ref = key.ref;
		r = dir_fill(t, &ino, d);
		found = r < 0 ? NULL : tsearch(d, &t->dirs, dir_key_cmp);
		if (!found) {
			dir_free(d);
			return r < 0 ? r : -ENOMEM;
		}
		t->dir_bytes += d->bytes;
		lru_push(t, d);
	}
	d = *found;
	lru_unlink(t, d);
	lru_push(t, d);
	d->users++;
	*ret = d;
	return 0;
}

static void dir_put(struct sq_tree *t, struct sq_dir *d)
{
	d->users--;
	dir_evict(t);
}

static int sq_lookup(struct fl_tree *ft, uint64_t dir, const char *name, uint64_t *ret_node)
{
	struct sq_tree *t = sq(ft);
	size_t len = strlen(name), lo = 0, hi;
	struct sq_dir *d;
	int r;

	pthread_mutex_lock(&t->lock);
	r = dir_get(t, dir, &d);
	if (r < 0)
		goto out;
	r = -ENOENT;
	if (len == 1 && name[0] == '.') {
		*ret_node = dir;
		r = 0;
	}
	for (hi = d->count; r < 0 && lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sq_dent *e = &d->ents[mid];
		int c = name_cmp(name, len, d->names + e->name_off, e->name_len);

		if (c == 0) {
			*ret_node = ref_to_node(t, e->ref);
			r = 0;
		} else if (c < 0) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	dir_put(t, d);
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* Attributes of a listed entry whose own inode is damaged: enough to list
 * it; getattr and open on it then fail with EIO. */
static void dent_stat(const struct sq_dent *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = e->ino;
	st->st_mode = sqfs_mode(e->type);
	st->st_nlink = 1;
}

static int sq_readdir(struct fl_tree *ft, uint64_t dir, uint64_t off, fl_tree_fill_fn fill,
		      void *ctx)
{
	struct sq_tree *t = sq(ft);
	char name[SQUASHFS_NAME_LEN + 1];
	struct sq_dir *d;
	struct stat st;
	uint64_t i;
	int r;

	pthread_mutex_lock(&t->lock);
	r = dir_get(t, dir, &d);
	pthread_mutex_unlock(&t->lock);
	if (r < 0)
		return r;
	/* The fill callback runs unlocked: it may call back into the tree. */
	for (i = off; i < d->count; i++) {
		const struct sq_dent *e = &d->ents[i];
		uint64_t node = ref_to_node(t, e->ref);

		memcpy(name, d->names + e->name_off, e->name_len);
		name[e->name_len] = '\0';
		if (stat_node(t, node, &st) < 0)
			dent_stat(e, &st);
		if (fill(ctx, name, node, &st, i + 1))
			break;
	}
	pthread_mutex_lock(&t->lock);
	dir_put(t, d);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---- decompressed data block cache ------------------------------------- */

/* Copy @n bytes at @at of the block at @pos (header @hdr) into @dst; the
 * block must decompress to at least @need bytes.  Decompression runs
 * unlocked: sqfs_block_read uses only the fd, offset and decompressor. */
static int block_copy(struct sq_tree *t, uint64_t pos, uint32_t hdr, size_t need, size_t at,
		      void *dst, size_t n)
{
	uint32_t csize = hdr & ~SQ_BLOCK_UNCOMP;
	struct sq_blk *slot = NULL;
	sqfs_block *blk;
	size_t i;

	if (csize == 0 || csize > t->bsize || csize > t->used || pos < SQ_SB_SIZE ||
	    pos > t->used - csize)
		return -EIO;
	pthread_mutex_lock(&t->data_lock);
	for (i = 0; i < t->nblks; i++) {
		struct sq_blk *s = &t->blks[i];

		if (s->used && s->pos == pos && s->hdr == hdr) {
			/* Cached for another file, which may have needed less. */
			bool ok = s->block->size >= need;

			s->used = ++t->tick;
			if (ok)
				memcpy(dst, (char *)s->block->data + at, n);
			pthread_mutex_unlock(&t->data_lock);
			return ok ? 0 : -EIO;
		}
	}
	pthread_mutex_unlock(&t->data_lock);

	if (sqfs_block_read(&t->fs, (sqfs_off_t)pos, !(hdr & SQ_BLOCK_UNCOMP), csize, t->bsize,
			    &blk) != SQFS_OK)
		return -EIO;
	if (blk->size < need) {
		sqfs_block_dispose(blk);
		return -EIO;
	}
	memcpy(dst, (char *)blk->data + at, n);

	pthread_mutex_lock(&t->data_lock);
	for (i = 0; i < t->nblks; i++) {
		struct sq_blk *s = &t->blks[i];

		if (s->used && s->pos == pos && s->hdr == hdr)
			break; /* another thread was faster */
		if (!slot || s->used < slot->used)
			slot = s;
	}
	if (i == t->nblks && slot) {
		if (slot->block)
			sqfs_block_dispose(slot->block);
		*slot = (struct sq_blk){ .pos = pos, .hdr = hdr, .used = ++t->tick, .block = blk };
		blk = NULL;
	}
	pthread_mutex_unlock(&t->data_lock);
	if (blk)
		sqfs_block_dispose(blk);
	return 0;
}

/* ---- regular files ----------------------------------------------------- */

/* Under t->lock: the disk position and header of block @b of @f. */
static int file_seek(struct sq_tree *t, struct sq_file *f, uint64_t b, uint64_t *ret_pos,
		     uint32_t *ret_hdr)
{
	uint64_t k = b / SQ_CKPT_EVERY;
	uint32_t hdr;

	if (b < f->walk.idx || (k < f->nckpt && k * SQ_CKPT_EVERY > f->walk.idx)) {
		if (k >= f->nckpt)
			k = f->nckpt - 1;
		f->walk = f->ckpt[k];
	}
	for (;;) {
		if (f->walk.idx % SQ_CKPT_EVERY == 0 && f->walk.idx / SQ_CKPT_EVERY == f->nckpt) {
			if (f->nckpt == f->ckpt_cap) {
				size_t n = f->ckpt_cap ? f->ckpt_cap * 2 : 4;
				void *p = reallocarray(f->ckpt, n, sizeof(*f->ckpt));

				if (!p)
					return -ENOMEM;
				f->ckpt = p;
				f->ckpt_cap = n;
			}
			f->ckpt[f->nckpt++] = f->walk;
		}
		/* A block list lives in the inode table: a walk leaving it is
		 * corrupt, and stopping there bounds its cost. */
		if ((uint64_t)f->walk.cur.block >= t->fs.sb.directory_table_start ||
		    md_read(t, &f->walk.cur, &hdr, sizeof(hdr)) < 0)
			return -EIO;
		hdr = le32toh(hdr);
		if (f->walk.idx == b) {
			*ret_pos = f->walk.pos;
			*ret_hdr = hdr;
		}
		f->walk.pos += hdr & ~SQ_BLOCK_UNCOMP;
		if (f->walk.idx++ == b)
			return 0;
	}
}

/* Read @n bytes at @boff of block @b of @f (within the file) into @dst. */
static int file_block(struct sq_tree *t, struct sq_file *f, uint64_t b, size_t boff, void *dst,
		      size_t n)
{
	struct squashfs_fragment_entry fe;
	uint64_t pos, tail;
	uint32_t hdr;
	int r;

	if (b < f->nblocks) {
		pthread_mutex_lock(&t->lock);
		r = file_seek(t, f, b, &pos, &hdr);
		pthread_mutex_unlock(&t->lock);
		if (r < 0)
			return r;
		if ((hdr & ~SQ_BLOCK_UNCOMP) == 0) { /* sparse: a hole */
			memset(dst, 0, n);
			return 0;
		}
		tail = f->size - b * t->bsize;
		return block_copy(t, pos, hdr, tail < t->bsize ? tail : t->bsize, boff, dst, n);
	}
	if (f->frag_idx == SQUASHFS_INVALID_FRAG)
		return -EIO;
	pthread_mutex_lock(&t->lock);
	r = table_get(t, &t->fs.frag_table, t->fs.sb.fragments, f->frag_idx, &fe);
	pthread_mutex_unlock(&t->lock);
	if (r < 0)
		return r;
	tail = f->size % t->bsize;
	if ((uint64_t)f->frag_off + tail > t->bsize)
		return -EIO;
	return block_copy(t, le64toh(fe.start_block), le32toh(fe.size), f->frag_off + tail,
			  f->frag_off + boff, dst, n);
}

/* Under t->lock: store @f in a free handle slot. */
static int file_slot(struct sq_tree *t, struct sq_file *f, uint64_t *ret_fh)
{
	size_t i;

	for (i = 0; i < t->nfiles && t->files[i]; i++)
		;
	if (i == t->nfiles) {
		size_t n = t->nfiles ? t->nfiles * 2 : 16;
		struct sq_file **p = reallocarray(t->files, n, sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + t->nfiles, 0, (n - t->nfiles) * sizeof(*p));
		t->files = p;
		t->nfiles = n;
	}
	t->files[i] = f;
	*ret_fh = i + 1;
	return 0;
}

static int sq_open(struct fl_tree *ft, uint64_t node, uint64_t *ret_fh)
{
	struct sq_tree *t = sq(ft);
	struct sq_file *f = NULL;
	sqfs_inode ino;
	int r;

	pthread_mutex_lock(&t->lock);
	r = inode_load(t, node, &ino);
	if (r < 0)
		goto out;
	r = S_ISDIR(ino.base.mode) ? -EISDIR : S_ISREG(ino.base.mode) ? 0 : -EINVAL;
	if (r < 0)
		goto out;
	r = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto out;
	f->node = node;
	f->size = ino.xtra.reg.file_size;
	f->frag_idx = ino.xtra.reg.frag_idx;
	f->frag_off = ino.xtra.reg.frag_off;
	f->nblocks = f->size / t->bsize;
	if (f->frag_idx == SQUASHFS_INVALID_FRAG && f->size % t->bsize)
		f->nblocks++;
	f->walk.cur = ino.next;
	f->walk.pos = ino.xtra.reg.start_block;
	r = file_slot(t, f, ret_fh);
out:
	pthread_mutex_unlock(&t->lock);
	if (r < 0)
		free(f);
	return r;
}

static struct sq_file *file_get(struct sq_tree *t, uint64_t node, uint64_t fh)
{
	struct sq_file *f = NULL;

	pthread_mutex_lock(&t->lock);
	if (fh >= 1 && fh <= t->nfiles && t->files[fh - 1] && t->files[fh - 1]->node == node)
		f = t->files[fh - 1];
	pthread_mutex_unlock(&t->lock);
	return f;
}

static ssize_t sq_read(struct fl_tree *ft, uint64_t node, uint64_t fh, void *buf, size_t size,
		       uint64_t off)
{
	struct sq_tree *t = sq(ft);
	struct sq_file *f = file_get(t, node, fh);
	size_t done = 0;

	if (!f)
		return -EBADF;
	if (off >= f->size)
		return 0;
	if (size > f->size - off)
		size = (size_t)(f->size - off);
	if (size > SSIZE_MAX)
		size = SSIZE_MAX;
	while (done < size) {
		uint64_t at = off + done;
		size_t boff = (size_t)(at % t->bsize);
		size_t n = t->bsize - boff;
		int r;

		if (n > size - done)
			n = size - done;
		r = file_block(t, f, at / t->bsize, boff, (char *)buf + done, n);
		if (r < 0)
			return r;
		done += n;
	}
	return (ssize_t)done;
}

static void sq_release(struct fl_tree *ft, uint64_t node, uint64_t fh)
{
	struct sq_tree *t = sq(ft);
	struct sq_file *f = NULL;

	pthread_mutex_lock(&t->lock);
	if (fh >= 1 && fh <= t->nfiles && t->files[fh - 1] && t->files[fh - 1]->node == node) {
		f = t->files[fh - 1];
		t->files[fh - 1] = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	if (f) {
		free(f->ckpt);
		free(f);
	}
}

/* ---- symlinks ---------------------------------------------------------- */

static ssize_t sq_readlink(struct fl_tree *ft, uint64_t node, char *buf, size_t size)
{
	struct sq_tree *t = sq(ft);
	sqfs_inode ino;
	size_t len;
	ssize_t r;

	pthread_mutex_lock(&t->lock);
	r = inode_load(t, node, &ino);
	if (r < 0)
		goto out;
	r = -EINVAL;
	if (!S_ISLNK(ino.base.mode))
		goto out;
	len = ino.xtra.symlink_size + 1; /* checked <= SQ_SYMLINK_MAX */
	r = -ERANGE;
	if (size < len)
		goto out;
	/* A target with a NUL byte in it would be cut short (and differ from
	 * the size getattr reports): damaged. */
	r = -EIO;
	if (sqfs_readlink(&t->fs, &ino, buf, &len) == SQFS_OK &&
	    strlen(buf) == ino.xtra.symlink_size)
		r = (ssize_t)ino.xtra.symlink_size;
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* ---- extended attributes ----------------------------------------------- */

/* One decoded xattr: full name and a cursor on its value. */
struct sq_xattr {
	char name[SQ_XATTR_NAME_MAX + 1];
	size_t len;
	uint32_t vsize;
	sqfs_md_cursor val;
};

/*
 * Under t->lock: decode the entry sqfs_xattr_read just stepped onto.  The
 * library's name and value readers follow out-of-line value references
 * unchecked, so the entry is decoded here from copies of its cursors; the
 * sizes checked here are those the library's next sqfs_xattr_read skips by.
 * The prefix comes from the on-disk type (the library's table swaps
 * trusted. and security.).
 */
static int xattr_decode(struct sq_tree *t, sqfs_xattr *x, struct sq_xattr *ret)
{
	static const char *const prefix[] = { "user.", "trusted.", "security." };
	sqfs_md_cursor c = x->c_name;
	size_t plen, nlen = x->entry.size;
	uint32_t vsize;
	uint64_t ref;

	if (x->type > SQUASHFS_XATTR_SECURITY)
		return -EIO;
	plen = strlen(prefix[x->type]);
	if (nlen == 0 || plen + nlen > SQ_XATTR_NAME_MAX)
		return -EIO;
	memcpy(ret->name, prefix[x->type], plen);
	if (md_read(t, &c, ret->name + plen, nlen) < 0 || memchr(ret->name + plen, '\0', nlen))
		return -EIO;
	ret->name[plen + nlen] = '\0';
	ret->len = plen + nlen;
	if (md_read(t, &c, &vsize, sizeof(vsize)) < 0)
		return -EIO;
	vsize = le32toh(vsize);
	ret->val = c;
	if (x->ool) {
		if (vsize != sizeof(ref) || md_read(t, &c, &ref, sizeof(ref)) < 0)
			return -EIO;
		ref = le64toh(ref);
		if (!md_cursor_ok(t, t->fs.xattr_info.xattr_table_start + (ref >> 16),
				  ref & 0xffff))
			return -EIO;
		sqfs_md_cursor_inode(&ret->val, ref, t->fs.xattr_info.xattr_table_start);
		if (md_read(t, &ret->val, &vsize, sizeof(vsize)) < 0)
			return -EIO;
		vsize = le32toh(vsize);
	}
	if (vsize > SQ_XATTR_SIZE_MAX)
		return -EIO;
	ret->vsize = vsize;
	return 0;
}

/* Under t->lock: call @fn for each xattr of @ino until it returns nonzero. */
static int xattr_walk(struct sq_tree *t, sqfs_inode *ino,
		      int (*fn)(struct sq_tree *t, struct sq_xattr *xa, void *ctx), void *ctx)
{
	struct squashfs_xattr_id id;
	struct sq_xattr xa = { .len = 0 };
	size_t walked = 0;
	sqfs_xattr x;
	unsigned int n;
	int r;

	if (ino->xattr == SQUASHFS_INVALID_XATTR || t->fs.xattr_info.xattr_ids == 0)
		return 0;
	/* Proves the id table read inside sqfs_xattr_open stays in bounds. */
	r = table_get(t, &t->fs.xattr_table, t->fs.xattr_info.xattr_ids, ino->xattr, &id);
	if (r < 0 || sqfs_xattr_open(&t->fs, ino, &x) != SQFS_OK)
		return -EIO;
	if (x.remain && !md_cursor_ok(t, (uint64_t)x.c_next.block, x.c_next.offset))
		return -EIO;
	/* Bounded so that a crafted count cannot make us walk for long. */
	for (n = 0; x.remain > 0; n++) {
		if (n >= SQ_XATTR_COUNT_MAX || sqfs_xattr_read(&x) != SQFS_OK)
			return -EIO;
		r = xattr_decode(t, &x, &xa);
		walked += xa.len + xa.vsize;
		if (r == 0 && walked > SQ_XATTR_WALK_MAX)
			r = -EIO;
		if (r == 0)
			r = fn(t, &xa, ctx);
		if (r)
			return r;
	}
	return 0;
}

struct sq_list_ctx {
	char *buf;
	size_t size, total;
};

static int xattr_list_one(struct sq_tree *t, struct sq_xattr *xa, void *ctx)
{
	struct sq_list_ctx *c = ctx;

	if (c->total + xa->len + 1 > SQ_XATTR_SIZE_MAX)
		return -E2BIG;
	if (c->size) {
		if (c->total + xa->len + 1 > c->size)
			return -ERANGE;
		memcpy(c->buf + c->total, xa->name, xa->len + 1);
	}
	c->total += xa->len + 1;
	return 0;
}

static ssize_t sq_listxattr(struct fl_tree *ft, uint64_t node, char *buf, size_t size)
{
	struct sq_tree *t = sq(ft);
	struct sq_list_ctx c = { .buf = buf, .size = size };
	sqfs_inode ino;
	int r;

	pthread_mutex_lock(&t->lock);
	r = inode_load(t, node, &ino);
	if (r == 0)
		r = xattr_walk(t, &ino, xattr_list_one, &c);
	pthread_mutex_unlock(&t->lock);
	return r < 0 ? r : (ssize_t)c.total;
}

struct sq_get_ctx {
	const char *name;
	void *buf;
	size_t size;
	ssize_t result;
};

static int xattr_get_one(struct sq_tree *t, struct sq_xattr *xa, void *ctx)
{
	struct sq_get_ctx *c = ctx;

	if (strcmp(xa->name, c->name) != 0)
		return 0;
	if (c->size == 0)
		c->result = xa->vsize;
	else if (c->size < xa->vsize)
		c->result = -ERANGE;
	else
		c->result = md_read(t, &xa->val, c->buf, xa->vsize) < 0 ? -EIO : (ssize_t)xa->vsize;
	return 1;
}

static ssize_t sq_getxattr(struct fl_tree *ft, uint64_t node, const char *name, void *buf,
			   size_t size)
{
	struct sq_tree *t = sq(ft);
	struct sq_get_ctx c = { .name = name, .buf = buf, .size = size, .result = -ENODATA };
	sqfs_inode ino;
	int r;

	pthread_mutex_lock(&t->lock);
	r = inode_load(t, node, &ino);
	if (r == 0)
		r = xattr_walk(t, &ino, xattr_get_one, &c);
	pthread_mutex_unlock(&t->lock);
	return r < 0 ? r : c.result;
}

/* ---- the rest ---------------------------------------------------------- */

static int sq_statfs(struct fl_tree *ft, struct statvfs *ret_st)
{
	struct sq_tree *t = sq(ft);

	memset(ret_st, 0, sizeof(*ret_st));
	ret_st->f_bsize = t->bsize;
	ret_st->f_frsize = t->bsize;
	ret_st->f_blocks = (t->used + t->bsize - 1) / t->bsize;
	ret_st->f_files = t->fs.sb.inodes;
	ret_st->f_namemax = SQUASHFS_NAME_LEN;
	ret_st->f_flag = ST_RDONLY;
	return 0;
}

static void dirs_free(struct sq_tree *t)
{
	tdestroy(t->dirs, dir_free);
	t->dirs = NULL;
	t->lru_head = t->lru_tail = NULL;
}

/* Frees everything but the fd; usable on a partly built tree. */
static void tree_free(struct sq_tree *t, bool fs_ready)
{
	size_t i;

	dirs_free(t);
	for (i = 0; i < t->nfiles; i++) {
		if (t->files[i])
			free(t->files[i]->ckpt);
		free(t->files[i]);
	}
	free(t->files);
	for (i = 0; i < t->nblks; i++)
		if (t->blks[i].block)
			sqfs_block_dispose(t->blks[i].block);
	free(t->blks);
	free(t->ids);
	free(t->namebuf);
	if (fs_ready) {
		sqfs_destroy(&t->fs);
		/* sqfs_destroy forgets the xattr id table (0.1.105). */
		sqfs_table_destroy(&t->fs.xattr_table);
	}
	free(t);
}

static void sq_destroy(struct fl_tree *ft)
{
	struct sq_tree *t = sq(ft);
	int fd = t->fd;

	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->data_lock);
	tree_free(t, true);
	close(fd);
}

/* The uid/gid table, read once so that stat never touches it again. */
static int ids_load(struct sq_tree *t)
{
	size_t i, n = t->fs.sb.no_ids;

	t->ids = calloc(n, sizeof(*t->ids));
	if (!t->ids)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (table_get(t, &t->fs.id_table, n, i, &t->ids[i]) < 0)
			return -EIO;
		t->ids[i] = le32toh(t->ids[i]);
	}
	return 0;
}

static int tree_setup(struct sq_tree *t, struct fl_error *err)
{
	sqfs_inode root;
	size_t n;

	t->used = t->fs.sb.bytes_used;
	t->bsize = t->fs.sb.block_size;
	t->itable_len = t->fs.sb.directory_table_start - t->fs.sb.inode_table_start;
	n = SQ_DATA_BUDGET / t->bsize;
	t->nblks = n < 16 ? 16 : n > 256 ? 256 : n;
	t->blks = calloc(t->nblks, sizeof(*t->blks));
	t->namebuf = malloc(SQ_NAMEBUF);
	if (!t->blks || !t->namebuf)
		return fl_error_set(err, ENOMEM, "out of memory");
	/* The library caches 8 metadata blocks: lookups in large directories
	 * hop around the inode table and would decompress a block each.  Its
	 * cache is a public sqfs_cache; replace it with a larger one. */
	sqfs_cache_destroy(&t->fs.md_cache);
	if (sqfs_block_cache_init(&t->fs.md_cache, SQ_MD_CACHED) != SQFS_OK) {
		memset(&t->fs.md_cache, 0, sizeof(t->fs.md_cache));
		return fl_error_set(err, ENOMEM, "out of memory");
	}
	if (ids_load(t) < 0)
		return fl_error_set(err, EIO, "corrupt image: id table");
	if (inode_load(t, FL_TREE_ROOT, &root) < 0 || !S_ISDIR(root.base.mode))
		return fl_error_set(err, EIO, "corrupt image: root directory");
	return 0;
}

int fl_sqfs_tree_open(int fd, uint64_t offset, const struct fl_tree_opts *opts,
		      struct fl_tree **ret_tree, struct fl_error *err)
{
	struct sq_tree *t;
	sqfs_err serr;
	int r;

	(void)opts;
	r = sb_check(fd, offset, err);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return fl_error_set(err, ENOMEM, "out of memory");
	serr = sqfs_init(&t->fs, fd, (size_t)offset);
	if (serr != SQFS_OK) {
		sqfs_table_destroy(&t->fs.xattr_table);
		tree_free(t, false);
		return fl_error_set(err, EIO, "corrupt image: cannot read its tables");
	}
	r = tree_setup(t, err);
	if (r < 0) {
		tree_free(t, true);
		return r;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->data_lock, NULL);
	t->base.ops = &sq_ops;
	t->fd = fd;
	*ret_tree = &t->base;
	return 0;
}

static const struct fl_tree_ops sq_ops = {
	.lookup = sq_lookup,
	.getattr = sq_getattr,
	.readdir = sq_readdir,
	.open = sq_open,
	.read = sq_read,
	.release = sq_release,
	.readlink = sq_readlink,
	.listxattr = sq_listxattr,
	.getxattr = sq_getxattr,
	.statfs = sq_statfs,
	.destroy = sq_destroy,
};
