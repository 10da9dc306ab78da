/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level layer: turns kernel requests into archive tree calls
 * (tree.h), read-only or, for trees with the write ops, writable, with
 * exactly one reply per request, and runs its own worker threads over epoll
 * so that a stop eventfd always ends them (libfuse 3.14's own loops cannot be
 * woken while a file is held open).  The only file that includes
 * fuse_lowlevel.h.  It never prints, exits or needs privilege.
 */
#include <config.h>

#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fusefs/ll.h"

/* Node ids pass through unchanged, which is only right while these agree. */
_Static_assert(FL_TREE_ROOT == FUSE_ROOT_ID, "tree root id must be the FUSE root id");

/* The archive never changes under a run: let the kernel cache for a day. */
#define FL_LL_TIMEOUT 86400.0
/*
 * A writable tree changes, though only through this mount, which the kernel
 * sees: a second keeps stat storms cheap without trusting that for long.
 */
#define FL_LL_TIMEOUT_RW      1.0
#define FL_LL_DEFAULT_WORKERS 2
#define FL_LL_MAX_WORKERS     64
/* Directory cookies 1 and 2 are "." and ".."; backend cookies are shifted. */
#define FL_LL_DOTS 2
/* The kernel asks for one page per readdir; bound what we allocate anyway. */
#define FL_LL_DIRBUF_MAX (128 * 1024)
/* Linux's XATTR_SIZE_MAX and XATTR_LIST_MAX. */
#define FL_LL_XATTR_MAX (64 * 1024)
/* A backend list larger than this is damage, not a real archive. */
#define FL_LL_XLIST_BACKEND_MAX (16 * 1024 * 1024)
/* Requests taken from one descriptor per wake-up, before polling again. */
#define FL_LL_BATCH 16
/* Events taken per epoll_wait; the stop event's tag. */
#define FL_LL_EVENTS 16
#define FL_LL_STOP_TAG UINT64_MAX

struct fl_server;

struct fl_mount {
	struct fl_server *server;
	struct fl_tree *tree;
	struct fuse_session *se;
	int fd;
	bool writable; /* the tree has the write ops (tree.h) */
	atomic_bool retired;
};

struct fl_worker {
	struct fl_server *server;
	pthread_t thread;
	int epfd;	       /* the stop eventfd, then every mount's fd (exclusive) */
	struct fuse_buf *bufs; /* one per mount: libfuse sizes each for its session */
};

struct fl_server {
	struct fl_server_opts opts;
	struct fl_mount **mounts;
	size_t nmounts;
	struct fl_worker *workers;
	unsigned nthreads;   /* workers actually running */
	int stop_efd;	     /* readable: workers return */
	int done_efd;	     /* readable: every mount retired, or a worker failed */
	atomic_size_t nlive; /* mounts not yet retired */
	atomic_int error;    /* first worker failure, -errno */
	bool started;
	bool stopped;
};

/* --- replies ---------------------------------------------------------------- */

/*
 * Turn a backend's -errno into a reply.  Out-of-range values would make
 * libfuse log and send ERANGE; ENOSYS would make the kernel stop asking for
 * that operation on the whole mount, so a backend's ENOSYS becomes EIO.
 */
static void fl_ll_reply_err(fuse_req_t req, long r)
{
	int e = r < 0 && r > -1000 ? (int)-r : EIO;

	if (e == ENOSYS)
		e = EIO;
	fuse_reply_err(req, e);
}

/* 0 or -errno as a bare status reply. */
static void fl_ll_reply_status(fuse_req_t req, long r)
{
	if (r == 0)
		fuse_reply_err(req, 0);
	else
		fl_ll_reply_err(req, r);
}

static struct fl_mount *fl_ll_mount(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double fl_ll_timeout(const struct fl_mount *m)
{
	return m->writable ? FL_LL_TIMEOUT_RW : FL_LL_TIMEOUT;
}

/* Give back a reference the tree counted but the kernel never got. */
static void fl_ll_unref(struct fl_mount *m, uint64_t node)
{
	if (m->tree->ops->forget)
		m->tree->ops->forget(m->tree, node, 1);
}

/* Attributes as shown: owner squashed to the caller, set-id bits never shown. */
static int fl_ll_getattr_node(struct fl_mount *m, uint64_t node, struct stat *ret_st)
{
	struct stat st;
	int r;

	if (node == 0)
		return -EIO;
	memset(&st, 0, sizeof(st));
	r = m->tree->ops->getattr(m->tree, node, &st);
	if (r < 0)
		return r;
	st.st_uid = m->server->opts.uid;
	st.st_gid = m->server->opts.gid;
	st.st_mode &= ~(mode_t)(S_ISUID | S_ISGID);
	*ret_st = st;
	return 0;
}

/* --- metadata ----------------------------------------------------------------- */

static void fl_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fl_mount *m = userdata;

	/* Targets never change: let the kernel keep them in its page cache. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/*
	 * The trees are thread-safe, so reads of one file and lookups in one
	 * directory may run in parallel.  libfuse already wants these (and
	 * READDIRPLUS with _AUTO, as both readdir ops exist); made explicit.
	 * Note that 3.14's do_init never puts FUSE_PARALLEL_DIROPS into its
	 * reply, so the kernel still serializes lookups per directory.
	 */
	conn->want |= conn->capable & (FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS |
				       FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	/*
	 * Data comes out of our own buffers (decompressed or pread), so
	 * splicing would save nothing that has been measured.
	 */
	conn->want &= ~(uint32_t)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE);
	/*
	 * Writable trees count lookups (tree.h); readdirplus would hand out
	 * references the tree never counted, so they get plain readdir.
	 * Writes stay write-through (no writeback cache): every write reaches
	 * the upper file at once, and ENOSPC reaches the writer.  O_TRUNC comes
	 * with the open rather than as a separate truncate.
	 */
	if (m->writable) {
		conn->want &= ~(uint32_t)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
		conn->want |= conn->capable & FUSE_CAP_ATOMIC_O_TRUNC;
	}
	/*
	 * max_readahead is left alone: libfuse starts from UINT_MAX and lowers
	 * it to the kernel's offer, which the kernel never lets us raise.
	 */
}

/*
 * Reply with @node's entry.  A counting tree has already counted the
 * reference: it is given back when no entry reaches the kernel (libfuse
 * reports an interrupted request as a failed reply).
 */
static void fl_ll_reply_node(fuse_req_t req, struct fl_mount *m, uint64_t node)
{
	struct fuse_entry_param e;
	int r;

	memset(&e, 0, sizeof(e));
	e.attr_timeout = fl_ll_timeout(m);
	e.entry_timeout = fl_ll_timeout(m);
	r = fl_ll_getattr_node(m, node, &e.attr);
	if (r < 0) {
		fl_ll_unref(m, node);
		fl_ll_reply_err(req, r);
		return;
	}
	e.ino = node;
	if (fuse_reply_entry(req, &e) != 0)
		fl_ll_unref(m, node);
}

static void fl_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fl_mount *m = fl_ll_mount(req);
	struct fuse_entry_param e;
	uint64_t node = 0;
	int r;

	r = parent ? m->tree->ops->lookup(m->tree, parent, name, &node) : -EIO;
	if (r == -ENOENT) {
		/* ino 0 with a timeout: the kernel remembers that the name is absent. */
		memset(&e, 0, sizeof(e));
		e.attr_timeout = fl_ll_timeout(m);
		e.entry_timeout = fl_ll_timeout(m);
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fl_ll_reply_err(req, r);
		return;
	}
	fl_ll_reply_node(req, m, node);
}

static void fl_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_mount(req);
	struct stat st;
	int r = fl_ll_getattr_node(m, ino, &st);

	if (r < 0)
		fl_ll_reply_err(req, r);
	else
		fuse_reply_attr(req, &st, fl_ll_timeout(m));
}

/* Read-only trees have stable ids and nothing to drop; writable ones count. */
static void fl_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fl_mount *m = fl_ll_mount(req);

	if (m->tree->ops->forget && ino != FUSE_ROOT_ID)
		m->tree->ops->forget(m->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void fl_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fl_mount *m = fl_ll_mount(req);
	size_t i;

	for (i = 0; m->tree->ops->forget && i < count; i++)
		if (forgets[i].ino != FUSE_ROOT_ID)
			m->tree->ops->forget(m->tree, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fl_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fl_mount *m = fl_ll_mount(req);
	/* The kernel takes at most a page minus the NUL from a FUSE readlink. */
	char buf[PATH_MAX];
	ssize_t n = m->tree->ops->readlink(m->tree, ino, buf, sizeof(buf));

	if (n == -ERANGE)
		n = -ENAMETOOLONG;
	if (n >= (ssize_t)sizeof(buf))
		n = -EIO;
	if (n < 0) {
		fl_ll_reply_err(req, n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void fl_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fl_mount *m = fl_ll_mount(req);
	struct statvfs st;
	int r;

	memset(&st, 0, sizeof(st));
	r = m->tree->ops->statfs(m->tree, &st);
	if (r < 0)
		fl_ll_reply_err(req, r);
	else
		fuse_reply_statfs(req, &st);
}

/* Only reached without default_permissions; writing only to writable trees. */
static void fl_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, (mask & W_OK) && !fl_ll_mount(req)->writable ? EROFS : 0);
}

/* --- directories ---------------------------------------------------------------- */

struct fl_ll_dirbuf {
	fuse_req_t req;
	struct fl_mount *m;
	bool plus;
	char *buf;
	size_t size;
	size_t pos;
	int err;
};

/*
 * Append one entry; true when it did not fit.  @node 0 (only for "." and
 * "..") makes readdirplus give the kernel no dentry for the name.
 */
static bool fl_ll_dir_add(struct fl_ll_dirbuf *d, const char *name, uint64_t node,
			  const struct stat *st, uint64_t off)
{
	size_t rem = d->size - d->pos;
	size_t len;

	if (d->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		/* Never a counted reference from a writable tree (see init). */
		e.ino = d->m->writable ? 0 : node;
		e.attr = *st;
		e.attr_timeout = fl_ll_timeout(d->m);
		e.entry_timeout = fl_ll_timeout(d->m);
		len = fuse_add_direntry_plus(d->req, d->buf + d->pos, rem, name, &e, (off_t)off);
	} else {
		len = fuse_add_direntry(d->req, d->buf + d->pos, rem, name, st, (off_t)off);
	}
	if (len > rem)
		return true;
	d->pos += len;
	return false;
}

static bool fl_ll_dir_fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
			   uint64_t next_off)
{
	struct fl_ll_dirbuf *d = ctx;
	struct stat shown = *st;

	/* The kernel keeps the cookie in a signed loff_t; node 0 means "none",
	 * which only a counting tree may say (tree.h). */
	if ((node == 0 && !d->m->tree->ops->forget) || next_off == 0 ||
	    next_off > (uint64_t)INT64_MAX - FL_LL_DOTS) {
		d->err = -EIO;
		return true;
	}
	shown.st_uid = d->m->server->opts.uid;
	shown.st_gid = d->m->server->opts.gid;
	shown.st_mode &= ~(mode_t)(S_ISUID | S_ISGID);
	return fl_ll_dir_add(d, name, node, &shown, next_off + FL_LL_DOTS);
}

/*
 * "." and ".." are synthesized at cookies 1 and 2 and both show the
 * directory's own inode number: the tree interface has no parent link.
 */
static int fl_ll_dir_dots(struct fl_ll_dirbuf *d, fuse_ino_t ino, off_t off)
{
	struct stat st;
	int r = fl_ll_getattr_node(d->m, ino, &st);

	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (off < 1 && fl_ll_dir_add(d, ".", 0, &st, 1))
		return 1;
	if (fl_ll_dir_add(d, "..", 0, &st, 2))
		return 1;
	return 0;
}

static void fl_ll_readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fl_mount *m = fl_ll_mount(req);
	struct fl_ll_dirbuf d = { .req = req, .m = m, .plus = plus };
	int r = 0;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	d.size = size < FL_LL_DIRBUF_MAX ? size : FL_LL_DIRBUF_MAX;
	d.buf = malloc(d.size ? d.size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off < FL_LL_DOTS)
		r = fl_ll_dir_dots(&d, ino, off);
	if (r == 0) {
		uint64_t from = off > FL_LL_DOTS ? (uint64_t)off - FL_LL_DOTS : 0;

		r = m->tree->ops->readdir(m->tree, ino, from, fl_ll_dir_fill, &d);
		if (r == 0)
			r = d.err;
	}
	/* Entries already packed go out; a persistent error recurs next call. */
	if (r < 0 && d.pos == 0)
		fl_ll_reply_err(req, r);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	free(d.buf);
}

static void fl_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	fl_ll_readdir_any(req, ino, size, off, false);
}

static void fl_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	fl_ll_readdir_any(req, ino, size, off, true);
}

/*
 * Read-only listings never change and need no handle.  ENOSYS tells the
 * kernel so once for the whole mount: it then opens directories itself,
 * with the cached and kept listings we would have asked for
 * (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR), and never sends OPENDIR or
 * RELEASEDIR again: two round trips fewer per directory listed.  Writable
 * trees change under their listings, so those are neither cached nor kept.
 */
static void fl_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!fl_ll_mount(req)->writable) {
		fuse_reply_err(req, ENOSYS); /* not fl_ll_reply_err(): meant for good */
		return;
	}
	fi->cache_readdir = 0;
	fi->keep_cache = 0;
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void fl_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* --- files -------------------------------------------------------------------- */

/*
 * Whether a handle bypasses the page cache.  Handles that can read keep it:
 * mmap (MAP_SHARED writes too) and exec need it.  A write-only handle can
 * neither read nor be mapped, so on a writable mount it goes direct: the
 * kernel's direct write path skips file_remove_privs(), which otherwise asks
 * us for security.capability (a GETXATTR round trip) before every write()
 * (doc/benchmarks.md, row 9).  Nothing is lost: set-id bits are never shown
 * and security.* is never stored here, and the kernel writes back and drops
 * cached pages of the range, so other handles' reads and mappings see the
 * data.  Writes are as synchronous as before: ENOSPC still reaches write().
 */
static bool fl_ll_direct(const struct fl_mount *m, const struct fuse_file_info *fi)
{
	return m->writable && (fi->flags & O_ACCMODE) == O_WRONLY;
}

static void fl_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_mount(req);
	uint64_t fh = 0;
	int r;

	if (m->writable) {
		r = m->tree->ops->open_flags(m->tree, ino, fi->flags, &fh);
	} else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	} else {
		r = m->tree->ops->open(m->tree, ino, &fh);
	}
	if (r < 0) {
		fl_ll_reply_err(req, r);
		return;
	}
	fi->fh = fh;
	/* Read-only data never changes: the page cache may survive close.
	 * Writable data may, so each open starts from what the tree holds. */
	fi->keep_cache = !m->writable;
	fi->direct_io = fl_ll_direct(m, fi);
	fi->noflush = 1; /* writes are synchronous: a close has nothing to flush */
	/* A failed reply means the open was interrupted: no release will come. */
	if (fuse_reply_open(req, fi) != 0)
		m->tree->ops->release(m->tree, ino, fh);
}

static void fl_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_mount(req);
	char *buf;
	ssize_t n;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/*
	 * A buffer per request: at most max_pages (1 MiB) and, after the first
	 * free, served by glibc from the heap rather than a fresh mmap.
	 */
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = m->tree->ops->read(m->tree, ino, fi->fh, buf, size, (uint64_t)off);
	if (n > (ssize_t)size)
		n = -EIO;
	if (n < 0)
		fl_ll_reply_err(req, n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void fl_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_mount(req);

	m->tree->ops->release(m->tree, ino, fi->fh);
	fuse_reply_err(req, 0);
}

/* --- extended attributes ---------------------------------------------------------- */

/* Only user.* is shown; user.overlay.* would steer an overlayfs stacked on us. */
static bool fl_ll_xattr_shown(const char *name)
{
	return strncmp(name, "user.", 5) == 0 && strncmp(name, "user.overlay.", 13) != 0;
}

/* Keep the shown names of @list in place; returns the filtered length. */
static size_t fl_ll_xattr_filter(char *list, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		size_t l = strnlen(list + in, len - in);

		if (l == len - in)
			break; /* an unterminated tail is dropped */
		if (fl_ll_xattr_shown(list + in)) {
			memmove(list + out, list + in, l + 1);
			out += l + 1;
		}
		in += l + 1;
	}
	return out;
}

/* The backend's whole list, in a buffer the caller frees. */
static ssize_t fl_ll_xattr_list_all(struct fl_mount *m, uint64_t node, char **ret_list)
{
	struct fl_tree *t = m->tree;
	int tries;

	*ret_list = NULL;
	if (!t->ops->listxattr)
		return 0;
	/* A copy-on-write tree may grow the list between the two calls. */
	for (tries = 0; tries < 4; tries++) {
		ssize_t need = t->ops->listxattr(t, node, NULL, 0);
		ssize_t n;
		char *list;

		if (need <= 0)
			return need;
		if (need > FL_LL_XLIST_BACKEND_MAX)
			return -EIO;
		list = malloc((size_t)need);
		if (!list)
			return -ENOMEM;
		n = t->ops->listxattr(t, node, list, (size_t)need);
		if (n >= 0 && n <= need) {
			*ret_list = list;
			return n;
		}
		free(list);
		if (n != -ERANGE)
			return n < 0 ? n : -EIO;
	}
	return -EIO;
}

static void fl_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *list = NULL;
	ssize_t n = fl_ll_xattr_list_all(fl_ll_mount(req), ino, &list);
	size_t shown;

	if (n < 0) {
		fl_ll_reply_err(req, n);
		return;
	}
	shown = fl_ll_xattr_filter(list, (size_t)n);
	if (shown > FL_LL_XATTR_MAX)
		fuse_reply_err(req, E2BIG);
	else if (size == 0)
		fuse_reply_xattr(req,
				 shown); /* the size of what we show, not of the backend's list */
	else if (shown > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, shown);
	free(list);
}

static void fl_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fl_tree *t = fl_ll_mount(req)->tree;
	char *buf;
	ssize_t n;

	/* Hidden names answer as absent, like a file without them. */
	if (!fl_ll_xattr_shown(name) || !t->ops->getxattr) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size == 0) {
		n = t->ops->getxattr(t, ino, name, NULL, 0);
		if (n < 0)
			fl_ll_reply_err(req, n);
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	if (size > FL_LL_XATTR_MAX)
		size = FL_LL_XATTR_MAX;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = t->ops->getxattr(t, ino, name, buf, size);
	if (n > (ssize_t)size)
		n = -ERANGE;
	if (n < 0)
		fl_ll_reply_err(req, n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* --- writes (writable trees only; read-only ones answer EROFS) -------------------------- */

static struct fl_mount *fl_ll_writable(fuse_req_t req)
{
	struct fl_mount *m = fl_ll_mount(req);

	if (!m->writable) {
		fuse_reply_err(req, EROFS);
		return NULL;
	}
	return m;
}

/* @r is the status of the op that made @node: call the op first (the order
 * of evaluation of arguments is unspecified). */
static void fl_ll_reply_made(fuse_req_t req, struct fl_mount *m, int r, uint64_t node)
{
	if (r < 0)
		fl_ll_reply_err(req, r);
	else
		fl_ll_reply_node(req, m, node);
}

/* Owners are shown squashed to the caller: "changing" to that is a no-op,
 * anything else would be a lie, so it is refused. */
static bool fl_ll_owner_ok(const struct fl_mount *m, const struct stat *attr, int to_set)
{
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != m->server->opts.uid)
		return false;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != m->server->opts.gid)
		return false;
	return true;
}

static void fl_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_writable(req);
	struct fl_tree_setattr sa = { 0 };
	struct stat st;
	int r = 0;

	if (!m)
		return;
	if (!fl_ll_owner_ok(m, attr, to_set)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= FL_TREE_SET_MODE;
		sa.mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		sa.valid |= FL_TREE_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		sa.valid |= FL_TREE_SET_ATIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		sa.valid |= FL_TREE_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		sa.valid |= FL_TREE_SET_MTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		sa.valid |= FL_TREE_SET_MTIME;
	sa.atime = attr->st_atim;
	sa.mtime = attr->st_mtim;
	if (sa.valid)
		r = m->tree->ops->setattr(m->tree, ino, fi ? fi->fh : 0, &sa);
	if (r == 0)
		r = fl_ll_getattr_node(m, ino, &st);
	if (r < 0)
		fl_ll_reply_err(req, r);
	else
		fuse_reply_attr(req, &st, fl_ll_timeout(m));
}

static void fl_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	struct fl_mount *m = fl_ll_writable(req);
	uint64_t node = 0;
	int r;

	if (!m)
		return;
	r = m->tree->ops->mknod(m->tree, parent, name, mode, rdev, &node);
	fl_ll_reply_made(req, m, r, node);
}

static void fl_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fl_mount *m = fl_ll_writable(req);
	uint64_t node = 0;
	int r;

	if (!m)
		return;
	r = m->tree->ops->mkdir(m->tree, parent, name, mode, &node);
	fl_ll_reply_made(req, m, r, node);
}

static void fl_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fl_mount *m = fl_ll_writable(req);
	uint64_t node = 0;
	int r;

	if (!m)
		return;
	r = m->tree->ops->symlink(m->tree, parent, name, link, &node);
	fl_ll_reply_made(req, m, r, node);
}

static void fl_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fl_mount *m = fl_ll_writable(req);
	uint64_t node = 0;
	int r;

	if (!m)
		return;
	r = m->tree->ops->link(m->tree, ino, newparent, newname, &node);
	fl_ll_reply_made(req, m, r, node);
}

static void fl_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fl_mount *m = fl_ll_writable(req);

	if (m)
		fl_ll_reply_status(req, m->tree->ops->unlink(m->tree, parent, name));
}

static void fl_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fl_mount *m = fl_ll_writable(req);

	if (m)
		fl_ll_reply_status(req, m->tree->ops->rmdir(m->tree, parent, name));
}

static void fl_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
			 const char *newname, unsigned int flags)
{
	struct fl_mount *m = fl_ll_writable(req);

	if (m)
		fl_ll_reply_status(
		    req, m->tree->ops->rename(m->tree, parent, name, newparent, newname, flags));
}

static void fl_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_writable(req);
	struct fuse_entry_param e;
	uint64_t node = 0, fh = 0;
	int r;

	if (!m)
		return;
	r = m->tree->ops->create(m->tree, parent, name, mode, fi->flags, &node, &fh);
	if (r < 0) {
		fl_ll_reply_err(req, r);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.attr_timeout = fl_ll_timeout(m);
	e.entry_timeout = fl_ll_timeout(m);
	e.ino = node;
	r = fl_ll_getattr_node(m, node, &e.attr);
	fi->fh = fh;
	fi->keep_cache = 0;
	fi->direct_io = fl_ll_direct(m, fi);
	fi->noflush = 1;
	if (r < 0 || fuse_reply_create(req, &e, fi) != 0) {
		/* No open file and no entry reached the kernel: undo both. */
		m->tree->ops->release(m->tree, node, fh);
		fl_ll_unref(m, node);
		if (r < 0)
			fl_ll_reply_err(req, r);
	}
}

static void fl_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_writable(req);
	ssize_t n;

	if (!m)
		return;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Also the kernel's writeback of MAP_SHARED pages, through any handle
	 * of the file that was opened for writing. */
	n = m->tree->ops->write(m->tree, ino, fi->fh, buf, size, (uint64_t)off);
	if (n > (ssize_t)size)
		n = -EIO;
	if (n < 0)
		fl_ll_reply_err(req, n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Writes are synchronous pwrite()s: nothing is pending at close. */
static void fl_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fl_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_mount(req);
	int r = 0;

	if (m->writable)
		r = m->tree->ops->fsync(m->tree, ino, fi->fh, datasync != 0);
	if (r < 0)
		fl_ll_reply_err(req, r);
	else
		fuse_reply_err(req, 0);
}

static void fl_ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0); /* directories live in memory */
}

/*
 * Only user.* may be set, as on a user's own tmpfs; user.overlay.* is
 * refused outright because an overlayfs stacked on us would obey it.
 */
static int fl_ll_xattr_settable(const char *name)
{
	if (strncmp(name, "user.overlay.", 13) == 0)
		return -EPERM;
	return fl_ll_xattr_shown(name) ? 0 : -EOPNOTSUPP;
}

static void fl_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	struct fl_mount *m = fl_ll_writable(req);
	int r;

	if (!m)
		return;
	r = fl_ll_xattr_settable(name);
	if (r == 0 && size > FL_LL_XATTR_MAX)
		r = -E2BIG;
	if (r == 0)
		r = m->tree->ops->setxattr(m->tree, ino, name, value, size, flags);
	fl_ll_reply_status(req, r);
}

static void fl_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fl_mount *m = fl_ll_writable(req);
	int r;

	if (!m)
		return;
	r = fl_ll_xattr_shown(name) ? m->tree->ops->removexattr(m->tree, ino, name) : -ENODATA;
	fl_ll_reply_status(req, r);
}

static void fl_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			    struct fuse_file_info *fi)
{
	struct fl_mount *m = fl_ll_writable(req);
	int r;

	if (!m)
		return;
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = m->tree->ops->fallocate(m->tree, ino, fi->fh, mode, (uint64_t)offset, (uint64_t)length);
	fl_ll_reply_status(req, r);
}

/*
 * Writable trees answer ENOSYS, which makes the kernel copy through read and
 * write for the rest of this mount's life (that is what we would do too).
 */
static void fl_ll_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				  struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				  struct fuse_file_info *fi_out, size_t len, int flags)
{
	fuse_reply_err(req, fl_ll_mount(req)->writable ? ENOSYS : EROFS);
}

/*
 * Not set, so libfuse answers ENOSYS: locks (kept by the kernel), poll and
 * lseek, which the kernel then stops asking for, and ioctl, which it keeps
 * sending (every isatty() on a file here is a FUSE_IOCTL round trip; the
 * kernel has no "no ioctl" flag to remember).
 */
static const struct fuse_lowlevel_ops fl_ll_ops = {
	.init = fl_ll_init,
	.lookup = fl_ll_lookup,
	.forget = fl_ll_forget,
	.forget_multi = fl_ll_forget_multi,
	.getattr = fl_ll_getattr,
	.readlink = fl_ll_readlink,
	.opendir = fl_ll_opendir,
	.readdir = fl_ll_readdir,
	.readdirplus = fl_ll_readdirplus,
	.releasedir = fl_ll_releasedir,
	.fsyncdir = fl_ll_fsyncdir,
	.open = fl_ll_open,
	.read = fl_ll_read,
	.flush = fl_ll_flush,
	.fsync = fl_ll_fsync,
	.release = fl_ll_release,
	.statfs = fl_ll_statfs,
	.access = fl_ll_access,
	.listxattr = fl_ll_listxattr,
	.getxattr = fl_ll_getxattr,
	.setattr = fl_ll_setattr,
	.mknod = fl_ll_mknod,
	.mkdir = fl_ll_mkdir,
	.unlink = fl_ll_unlink,
	.rmdir = fl_ll_rmdir,
	.symlink = fl_ll_symlink,
	.rename = fl_ll_rename,
	.link = fl_ll_link,
	.create = fl_ll_create,
	.write = fl_ll_write,
	.setxattr = fl_ll_setxattr,
	.removexattr = fl_ll_removexattr,
	.fallocate = fl_ll_fallocate,
	.copy_file_range = fl_ll_copy_file_range,
};

/* --- the worker loop -------------------------------------------------------------- */

static void fl_ll_signal(int efd)
{
	uint64_t one = 1;

	/* Cannot fail usefully: the counter only ever needs to be non-zero. */
	if (write(efd, &one, sizeof(one)) < 0)
		return;
}

static void fl_ll_retire(struct fl_mount *m)
{
	struct fl_server *s = m->server;
	bool was = false;

	if (atomic_compare_exchange_strong(&m->retired, &was, true) &&
	    atomic_fetch_sub(&s->nlive, 1) == 1)
		fl_ll_signal(s->done_efd);
}

/*
 * A worker cannot go on: end the whole server rather than leave a mount
 * that nobody answers (the kernel fails its accesses once the fd is closed).
 */
static void fl_ll_fail(struct fl_server *s, int r)
{
	int none = 0;

	atomic_compare_exchange_strong(&s->error, &none, r);
	fl_ll_signal(s->done_efd);
}

static bool fl_ll_hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

static void fl_ll_serve(struct fl_mount *m, struct fuse_buf *buf, short revents)
{
	int k, r;

	/* POLLERR: the kernel aborted the connection (unmount); POLLHUP: a
	 * socket peer closed (tests). */
	if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		fl_ll_retire(m);
		return;
	}
	for (k = 0; k < FL_LL_BATCH; k++) {
		r = fuse_session_receive_buf(m->se, buf);
		/* EAGAIN: another worker took the request. */
		if (r == -EAGAIN || r == -EINTR)
			return;
		if (r < 0) {
			/* End of file (a socket peer gone since the poll) reads as a
			 * short read, -EIO: a hang-up, not a failure. */
			if (!fl_ll_hung_up(m->fd))
				fl_ll_fail(m->server, r);
			fl_ll_retire(m);
			return;
		}
		/* 0: libfuse saw ENODEV (unmounted) and exited the session. */
		if (r == 0 || fuse_session_exited(m->se)) {
			fl_ll_retire(m);
			return;
		}
		fuse_session_process_buf(m->se, buf);
		if (fuse_session_exited(m->se)) {
			fl_ll_retire(m);
			return;
		}
	}
}

static void *fl_ll_worker(void *arg)
{
	struct fl_worker *w = arg;
	struct fl_server *s = w->server;
	struct epoll_event ev[FL_LL_EVENTS];
	int i, n;

	for (;;) {
		n = epoll_wait(w->epfd, ev, FL_LL_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fl_ll_fail(s, -errno);
			return NULL;
		}
		for (i = 0; i < n; i++)
			if (ev[i].data.u64 == FL_LL_STOP_TAG)
				return NULL;
		for (i = 0; i < n; i++) {
			struct fl_mount *m = s->mounts[ev[i].data.u64];

			/* Retired by another worker: this set stops watching it. */
			if (atomic_load(&m->retired))
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, m->fd, NULL);
			else
				fl_ll_serve(m, &w->bufs[ev[i].data.u64], (short)ev[i].events);
		}
	}
}

/* Wake every worker (the eventfd is never read, so it stays readable) and join. */
static void fl_ll_stop(struct fl_server *s)
{
	unsigned i;

	if (!s->started || s->stopped)
		return;
	fl_ll_signal(s->stop_efd);
	for (i = 0; i < s->nthreads; i++)
		pthread_join(s->workers[i].thread, NULL);
	s->stopped = true;
}

/* --- the server ----------------------------------------------------------------- */

int fl_server_new(const struct fl_server_opts *opts, struct fl_server **ret_server,
		  struct fl_error *err)
{
	struct fl_server *s = calloc(1, sizeof(*s));
	int e;

	if (!s)
		return fl_error_set(err, ENOMEM, "fuse server: out of memory");
	s->opts = *opts;
	s->stop_efd = -1;
	s->done_efd = -1;
	if (s->opts.nworkers == 0)
		s->opts.nworkers = FL_LL_DEFAULT_WORKERS;
	if (s->opts.nworkers > FL_LL_MAX_WORKERS)
		s->opts.nworkers = FL_LL_MAX_WORKERS;
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_efd < 0 || s->done_efd < 0) {
		e = errno;
		fl_server_free(s);
		return fl_error_set(err, e, "eventfd: %s", strerror(e));
	}
	*ret_server = s;
	return 0;
}

static struct fuse_session *fl_ll_session_new(struct fl_server *s, struct fl_mount *m)
{
	char arg0[] = "fuselage", arg1[] = "-d";
	char *argv[] = { arg0, arg1, NULL };
	/* No mount options: nothing that would make libfuse run fusermount3. */
	struct fuse_args args = FUSE_ARGS_INIT(s->opts.debug ? 2 : 1, argv);
	struct fuse_session *se;

	se = fuse_session_new(&args, &fl_ll_ops, sizeof(fl_ll_ops), m);
	fuse_opt_free_args(&args);
	return se;
}

/*
 * The server becomes the fd's only user: close-on-exec, and non-blocking so
 * that a worker that loses the race for a request goes back to epoll_wait().
 */
static int fl_ll_fd_prepare(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int fl_server_add(struct fl_server *s, struct fl_tree *tree, int fuse_fd, struct fl_error *err)
{
	struct fl_mount **mounts, *m;
	char path[32];
	int r;

	if (s->started)
		return fl_error_set(err, EBUSY, "fuse server: mount added after start");
	if (!tree || fuse_fd < 0)
		return fl_error_set(err, EINVAL, "fuse server: no tree or descriptor");
	mounts = realloc(s->mounts, (s->nmounts + 1) * sizeof(*mounts));
	if (!mounts)
		return fl_error_set(err, ENOMEM, "fuse server: out of memory");
	s->mounts = mounts;
	m = calloc(1, sizeof(*m));
	if (!m)
		return fl_error_set(err, ENOMEM, "fuse server: out of memory");
	m->server = s;
	m->tree = tree;
	m->fd = fuse_fd;
	m->writable = fl_tree_writable(tree);
	m->se = fl_ll_session_new(s, m);
	if (!m->se) {
		free(m);
		return fl_error_set(err, ENOMEM, "fuse_session_new failed");
	}
	r = fl_ll_fd_prepare(fuse_fd);
	snprintf(path, sizeof(path), "/dev/fd/%d", fuse_fd);
	/*
	 * libfuse 3.14 parses "/dev/fd/N" (fuse_mnt_parse_fuse_fd) and takes N
	 * as the session fd without mounting; it then closes it in
	 * fuse_session_destroy().  Until that succeeds the fd is still ours.
	 */
	if (r == 0 && fuse_session_mount(m->se, path) != 0)
		r = -EBADF;
	if (r < 0) {
		fuse_session_destroy(m->se);
		free(m);
		return fl_error_set(err, -r, "fuse session on fd %d: %s", fuse_fd, strerror(-r));
	}
	s->mounts[s->nmounts++] = m;
	atomic_fetch_add(&s->nlive, 1);
	return 0;
}

/*
 * A worker's epoll set.  Each mount's fd is exclusive (EPOLLEXCLUSIVE): a
 * request wakes one idle worker, not all of them, which would otherwise race
 * for it and cost every loser a wake-up and a failed read (measured: row 9 of
 * doc/benchmarks.md).  The stop eventfd wakes every worker.
 */
static int fl_ll_epoll_new(struct fl_server *s, int *ret_epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = FL_LL_STOP_TAG };
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	size_t i;

	if (epfd < 0)
		return -errno;
	*ret_epfd = epfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->stop_efd, &ev) < 0)
		return -errno;
	for (i = 0; i < s->nmounts; i++) {
		ev = (struct epoll_event){ .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = i };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->mounts[i]->fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

static int fl_ll_workers_alloc(struct fl_server *s)
{
	unsigned i;

	s->workers = calloc(s->opts.nworkers, sizeof(*s->workers));
	if (!s->workers)
		return -ENOMEM;
	for (i = 0; i < s->opts.nworkers; i++) {
		struct fl_worker *w = &s->workers[i];

		w->server = s;
		w->epfd = -1;
	}
	for (i = 0; i < s->opts.nworkers; i++) {
		struct fl_worker *w = &s->workers[i];
		int r = fl_ll_epoll_new(s, &w->epfd);

		if (r < 0)
			return r;
		w->bufs = calloc(s->nmounts, sizeof(*w->bufs));
		if (!w->bufs)
			return -ENOMEM;
	}
	return 0;
}

int fl_server_start(struct fl_server *s, struct fl_error *err)
{
	sigset_t all, old;
	int r = 0;

	if (s->started)
		return fl_error_set(err, EBUSY, "fuse server: already started");
	if (s->nmounts == 0)
		return fl_error_set(err, EINVAL, "fuse server: nothing to serve");
	r = fl_ll_workers_alloc(s);
	if (r < 0)
		return fl_error_set(err, -r, "fuse server: workers: %s", strerror(-r));
	/*
	 * Workers block every signal, so asynchronous signals go to the
	 * caller's threads and a worker is never interrupted mid-reply.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (s->nthreads = 0; s->nthreads < s->opts.nworkers; s->nthreads++) {
		struct fl_worker *w = &s->workers[s->nthreads];

		r = pthread_create(&w->thread, NULL, fl_ll_worker, w);
		if (r)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->started = true;
	if (r) {
		fl_ll_stop(s);
		return fl_error_set(err, r, "fuse server: pthread_create: %s", strerror(r));
	}
	return 0;
}

int fl_server_wait(struct fl_server *s, int stop_fd)
{
	struct pollfd p[2] = {
		{ .fd = stop_fd, .events = POLLIN },
		{ .fd = s->done_efd, .events = POLLIN },
	};
	int r = 0;

	if (!s->started)
		return -EINVAL;
	/* revents covers POLLHUP and POLLNVAL too: a closed pipe also stops. */
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (p[0].revents || p[1].revents)
			break;
	}
	fl_ll_stop(s);
	return r ? r : atomic_load(&s->error);
}

void fl_server_free(struct fl_server *s)
{
	size_t i;
	unsigned w;

	if (!s)
		return;
	fl_ll_stop(s);
	for (i = 0; i < s->nmounts; i++) {
		fuse_session_destroy(s->mounts[i]->se); /* closes the fd */
		fl_tree_free(s->mounts[i]->tree);
		free(s->mounts[i]);
	}
	for (w = 0; s->workers && w < s->opts.nworkers; w++) {
		for (i = 0; s->workers[w].bufs && i < s->nmounts; i++)
			free(s->workers[w].bufs[i].mem);
		free(s->workers[w].bufs);
		if (s->workers[w].epfd >= 0)
			close(s->workers[w].epfd);
	}
	free(s->workers);
	free(s->mounts);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	if (s->done_efd >= 0)
		close(s->done_efd);
	free(s);
}
