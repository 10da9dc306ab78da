/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the copy-on-write tree's two files: cow.c (nodes,
 * directories, reading) and cow_write.c (the write verbs).  Not an interface:
 * nothing outside those two files includes it.  Every function here expects
 * the tree's lock to be held.
 */
#ifndef FL_COW_INT_H
#define FL_COW_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fusefs/cow.h"

/* Inode numbers of nodes made in this session: far above any archive's. */
#define COW_INO_BASE ((uint64_t)1 << 40)
/* In-memory xattrs: the kernel's value limit, and a total per node. */
#define COW_XATTR_VALUE_MAX (64 * 1024)
#define COW_XATTR_NODE_MAX  (1024 * 1024)

/* One name in a materialized directory. */
struct cow_ent {
	char *name;   /* NULL: removed, kept as a tombstone until compaction */
	uint64_t seq; /* readdir cookie: listing resumes after this entry */
	uint64_t ref; /* a lower node id (is_lower) or a cow node id */
	uint64_t ino; /* lower entries: st_ino and type from the lower listing */
	mode_t type;
	bool is_lower;
};

/*
 * A directory whose names live in memory: made from the lower listing at the
 * first change.  @v is in increasing @seq order, so a cookie is found by
 * binary search and stays valid across deletes and renames.
 */
struct cow_dir {
	struct cow_ent **v;
	size_t n, cap, nlive;
	void *byname; /* tsearch root of struct cow_ent *, by name */
	uint64_t next_seq;
};

struct cow_xattr {
	char *name;
	char *value;
	size_t len;
};

struct cow_xattrs {
	struct cow_xattr *v;
	size_t n;
	size_t bytes;
};

/*
 * A node.  "Pure" nodes (!stateful) only stand for a lower node the kernel
 * holds; everything about them comes from the lower tree and they are freed
 * when forgotten.  Stateful nodes carry their own attributes in @st and are
 * kept while they have a name, a reference or an open handle.
 */
struct cow_node {
	uint64_t id;
	uint64_t lower;	  /* lower node id; 0 for nodes made in this session */
	uint64_t parent;  /* directories: the directory holding it */
	uint64_t nlookup; /* references held by the FUSE layer */
	uint32_t nopen;	  /* open handles */
	uint32_t names;	  /* names in directories (stateful nodes) */
	mode_t type;	  /* S_IFMT bits */
	bool stateful;
	bool pinned;	    /* a hard-linked lower file, in the inode map: kept */
	uint64_t upper;	    /* its upper file: 0 none, 1 "<ino>", k > 1 "<ino>.<k>" */
	uint64_t upper_ino; /* the inode number shown when it was made */
	struct stat st;	    /* stateful: attributes; an upper file's times and size win */
	char *target;	    /* symlinks made in this session */
	struct cow_dir *dir;
	struct cow_xattrs *xa;
};

struct cow_handle {
	uint64_t node; /* 0: a free slot */
	int fd;	       /* the upper file, -1 until needed */
	bool writable;
	bool lower_open;
	uint64_t lower_fh;
};

struct fl_cow {
	struct fl_tree tree; /* first, as tree.h requires */
	struct fl_tree *lower;
	int upper_fd;
	pthread_mutex_t lock;
	struct cow_node **nodes; /* id n is nodes[n - 1]; NULL: free */
	size_t nnodes, nodes_cap;
	uint64_t *free_ids;
	size_t nfree, free_cap;
	size_t nlive;		    /* nodes allocated */
	struct cow_handle *handles; /* fh n is handles[n - 1] */
	size_t nhandles;
	void *by_lower; /* tsearch root: lower id -> node id */
	void *by_ino;	/* tsearch root: st_ino of hard-linked lower files -> node id */
};

/* cow.c */
extern const struct fl_tree_ops fl_cow_ops;
struct cow_node *cow_node_get(struct fl_cow *c, uint64_t id);
struct cow_node *cow_node_alloc(struct fl_cow *c, mode_t type);
void cow_maybe_free(struct fl_cow *c, struct cow_node *n);
int cow_resolve(struct fl_cow *c, const struct cow_ent *e, uint64_t parent,
		struct cow_node **ret_node);
int cow_stateify(struct fl_cow *c, struct cow_node *n);
int cow_getattr_locked(struct fl_cow *c, struct cow_node *n, struct stat *ret_st);
void cow_upper_name(const struct cow_node *n, char buf[static 48]);
void cow_touch(struct stat *st, bool mtime);
int cow_dir_node(struct fl_cow *c, uint64_t id, struct cow_node **ret_dir);
int cow_materialize(struct fl_cow *c, struct cow_node *d);
struct cow_ent *cow_dir_find(struct cow_dir *d, const char *name);
int cow_dir_add(struct cow_dir *d, const char *name, const struct cow_ent *like,
		struct cow_ent **ret_ent);
void cow_dir_del(struct cow_dir *d, struct cow_ent *e);
void cow_dir_free(struct cow_dir *d);
int cow_dir_empty(struct fl_cow *c, struct cow_node *n);
struct cow_handle *cow_handle_get(struct fl_cow *c, uint64_t fh, uint64_t node);
int cow_handle_new(struct fl_cow *c, struct cow_node *n, uint64_t *ret_fh);
int cow_upper_open(struct fl_cow *c, struct cow_node *n, int flags);

/* cow_write.c: copy-up and the write verbs (tree.h) */
int cow_copyup(struct fl_cow *c, struct cow_node *n, bool trunc);
int cow_xattrs_load(struct fl_cow *c, struct cow_node *n);
void cow_xattrs_free(struct cow_xattrs *xa);
int cow_xattr_list(struct fl_cow *c, struct cow_node *n, char *buf, size_t size);
int cow_xattr_get(struct fl_cow *c, struct cow_node *n, const char *name, void *buf, size_t size);
int cow_op_create(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, int flags,
		  uint64_t *ret_node, uint64_t *ret_fh);
ssize_t cow_op_write(struct fl_tree *t, uint64_t node, uint64_t fh, const void *buf, size_t size,
		     uint64_t off);
int cow_op_fsync(struct fl_tree *t, uint64_t node, uint64_t fh, bool datasync);
int cow_op_fallocate(struct fl_tree *t, uint64_t node, uint64_t fh, int mode, uint64_t off,
		     uint64_t len);
int cow_op_setattr(struct fl_tree *t, uint64_t node, uint64_t fh, const struct fl_tree_setattr *sa);
int cow_op_mknod(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode, dev_t rdev,
		 uint64_t *ret_node);
int cow_op_mkdir(struct fl_tree *t, uint64_t dir, const char *name, mode_t mode,
		 uint64_t *ret_node);
int cow_op_symlink(struct fl_tree *t, uint64_t dir, const char *name, const char *target,
		   uint64_t *ret_node);
int cow_op_link(struct fl_tree *t, uint64_t node, uint64_t dir, const char *name,
		uint64_t *ret_node);
int cow_op_unlink(struct fl_tree *t, uint64_t dir, const char *name);
int cow_op_rmdir(struct fl_tree *t, uint64_t dir, const char *name);
int cow_op_rename(struct fl_tree *t, uint64_t dir, const char *name, uint64_t newdir,
		  const char *newname, unsigned flags);
int cow_op_setxattr(struct fl_tree *t, uint64_t node, const char *name, const void *value,
		    size_t size, int flags);
int cow_op_removexattr(struct fl_tree *t, uint64_t node, const char *name);

#endif
