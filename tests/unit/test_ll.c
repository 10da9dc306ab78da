/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the FUSE layer (fusefs/ll.c): the real server, attached with
 * "/dev/fd/N" to one end of a SOCK_SEQPACKET socketpair, is driven through
 * the FUSE protocol (<linux/fuse.h>) against the in-memory fake tree.  No
 * kernel mount, no root.  A SEQPACKET socket keeps message boundaries, so
 * like /dev/fuse one read is one request and one writev one reply.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fusefs/cow.h"
#include "fusefs/ll.h"
#include "tests/unit/helpers.h"
#include "tests/unit/fake_tree.h"

#define TEST_UID   4242
#define TEST_GID   4343
#define TIMEOUT_MS 5000
#define BIG_LEN	   200000
#define NSUB	   20

/* --- a small FUSE protocol client ------------------------------------------------ */

struct reply {
	struct reply *next;
	uint64_t unique;
	int error;  /* negative errno, as on the wire */
	size_t len; /* payload bytes after the header */
	unsigned char *data;
};

struct client {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool reading;	     /* one thread reads the socket at a time */
	struct reply *stash; /* replies read for another thread */
	unsigned char *rbuf;
	atomic_uint_fast64_t next_unique;
};

#define RBUF_SIZE ((1 << 20) + 4096)

static void client_init(struct client *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->rbuf = malloc(RBUF_SIZE);
	cr_assert_not_null(c->rbuf);
	atomic_init(&c->next_unique, 2);
}

static void reply_free(struct reply *r)
{
	if (r) {
		free(r->data);
		free(r);
	}
}

static void client_done(struct client *c)
{
	while (c->stash) {
		struct reply *r = c->stash;

		c->stash = r->next;
		reply_free(r);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->rbuf);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* Send one request; returns its unique id (0 if the send failed). */
static uint64_t cl_send(struct client *c, uint32_t opcode, uint64_t nodeid, const void *arg,
			size_t alen, const void *extra, size_t elen)
{
	uint64_t unique = atomic_fetch_add(&c->next_unique, 2);
	struct fuse_in_header h = {
		.len = (uint32_t)(sizeof(h) + alen + elen),
		.opcode = opcode,
		.unique = unique,
		.nodeid = nodeid,
		.uid = getuid(),
		.gid = getgid(),
		.pid = (uint32_t)getpid(),
	};
	struct iovec iov[3] = {
		{ &h, sizeof(h) },
		{ (void *)arg, alen },
		{ (void *)extra, elen },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };

	if (sendmsg(c->fd, &mh, MSG_NOSIGNAL) != (ssize_t)h.len)
		return 0;
	return unique;
}

/* Read one message within @ms; NULL on timeout, EOF or error. */
static struct reply *cl_read_one(struct client *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct fuse_out_header h;
	struct reply *r;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return NULL;
	n = recv(c->fd, c->rbuf, RBUF_SIZE, MSG_DONTWAIT);
	if (n < (ssize_t)sizeof(h))
		return NULL;
	memcpy(&h, c->rbuf, sizeof(h));
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->unique = h.unique;
	r->error = h.error;
	r->len = (size_t)n - sizeof(h);
	r->data = malloc(r->len + 1);
	if (r->data)
		memcpy(r->data, c->rbuf + sizeof(h), r->len);
	/* The header's len must match what arrived. */
	if (!r->data || h.len != (uint32_t)n) {
		reply_free(r);
		return NULL;
	}
	return r;
}

static struct reply *cl_take(struct client *c, uint64_t unique)
{
	struct reply **pp;

	for (pp = &c->stash; *pp; pp = &(*pp)->next) {
		if ((*pp)->unique == unique) {
			struct reply *r = *pp;

			*pp = r->next;
			return r;
		}
	}
	return NULL;
}

/* The reply to @unique, read by whichever waiting thread gets there first. */
static struct reply *cl_wait(struct client *c, uint64_t unique)
{
	struct reply *r = NULL, *m;
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += TIMEOUT_MS / 1000;
	pthread_mutex_lock(&c->lock);
	while (unique && !(r = cl_take(c, unique))) {
		if (c->reading) {
			if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
				break;
			continue;
		}
		c->reading = true;
		pthread_mutex_unlock(&c->lock);
		m = cl_read_one(c, TIMEOUT_MS);
		pthread_mutex_lock(&c->lock);
		c->reading = false;
		if (m) {
			m->next = c->stash;
			c->stash = m;
		}
		pthread_cond_broadcast(&c->cond);
		if (!m)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static struct reply *cl_call(struct client *c, uint32_t opcode, uint64_t nodeid, const void *arg,
			     size_t alen, const void *extra, size_t elen)
{
	return cl_wait(c, cl_send(c, opcode, nodeid, arg, alen, extra, elen));
}

/* --- the fixture: a served fake tree ------------------------------------------------ */

static struct {
	uint64_t hello, suid, tmp, sub, link, bad, broken, hello2, big, sub_f[NSUB];
} id;

static unsigned char big_data[BIG_LEN];

static struct {
	struct fl_server *s;
	struct client c;
	int stop[2];
	pthread_t waiter;
	bool waiter_running;
	atomic_bool wait_done;
	int wait_ret;
	struct timespec wait_end;
	struct fl_fake_stats stats;
	struct fuse_init_out init;
} F;

static const char *root_names[] = {
	"hello.txt", "suid", "tmp", "sub", "link", "bad.bin", "broken", "hello2.txt", "big.bin",
};

static struct fl_tree *build_tree(struct fl_fake_stats *stats)
{
	struct fl_fake_tree *ft = fl_fake_tree_new(stats);
	char name[16];
	int i;

	id.hello = fl_fake_tree_file(ft, FL_TREE_ROOT, "hello.txt", 0644, "hello, world\n", 13);
	id.suid = fl_fake_tree_file(ft, FL_TREE_ROOT, "suid", 06755, "#!/bin/sh\n", 10);
	id.tmp = fl_fake_tree_dir(ft, FL_TREE_ROOT, "tmp", 01777);
	id.sub = fl_fake_tree_dir(ft, FL_TREE_ROOT, "sub", 02755);
	id.link = fl_fake_tree_symlink(ft, FL_TREE_ROOT, "link", "hello.txt");
	id.bad = fl_fake_tree_file(ft, FL_TREE_ROOT, "bad.bin", 0644, "damaged", 7);
	id.broken = fl_fake_tree_file(ft, FL_TREE_ROOT, "broken", 0644, "", 0);
	id.hello2 = fl_fake_tree_hardlink(ft, FL_TREE_ROOT, "hello2.txt", id.hello);
	for (i = 0; i < BIG_LEN; i++)
		big_data[i] = (unsigned char)(i * 7 + i / 251);
	id.big = fl_fake_tree_file(ft, FL_TREE_ROOT, "big.bin", 0444, big_data, BIG_LEN);
	for (i = 0; i < NSUB; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		id.sub_f[i] = fl_fake_tree_file(ft, id.sub, name, 0644, name, strlen(name));
	}
	fl_fake_tree_fail_read(ft, id.bad, EIO);
	fl_fake_tree_fail_getattr(ft, id.broken, EIO);
	fl_fake_tree_xattr(ft, id.hello, "user.a", "1", 1);
	fl_fake_tree_xattr(ft, id.hello, "trusted.x", "t", 1);
	fl_fake_tree_xattr(ft, id.hello, "user.overlay.opaque", "y", 1);
	fl_fake_tree_xattr(ft, id.hello, "security.selinux", "s", 1);
	fl_fake_tree_xattr(ft, id.hello, "user.bb", "22", 2);
	return fl_fake_tree_tree(ft);
}

static void *waiter_main(void *arg)
{
	F.wait_ret = fl_server_wait(F.s, F.stop[0]);
	clock_gettime(CLOCK_MONOTONIC, &F.wait_end);
	atomic_store(&F.wait_done, true);
	return NULL;
}

/* Join the thread in fl_server_wait(); false if it is still running after @ms. */
static bool join_waiter(int ms)
{
	struct timespec dl;

	if (!F.waiter_running)
		return true;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(F.waiter, NULL, &dl) != 0)
		return false;
	F.waiter_running = false;
	return true;
}

static double since_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static void do_init(void)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = 131072,
		.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
			 FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS | FUSE_CACHE_SYMLINKS |
			 FUSE_MAX_PAGES | FUSE_WRITEBACK_CACHE | FUSE_AUTO_INVAL_DATA |
			 FUSE_INIT_EXT,
	};
	struct reply *r = cl_call(&F.c, FUSE_INIT, 0, &in, sizeof(in), NULL, 0);

	cr_assert_not_null(r, "no INIT reply");
	cr_assert_eq(r->error, 0);
	cr_assert_geq(r->len, sizeof(F.init));
	memcpy(&F.init, r->data, sizeof(F.init));
	reply_free(r);
}

static struct fl_tree *cow_tree; /* the ll_cow suite's tree, or NULL */
static char cow_upper[4096];

static void fx_start(unsigned nworkers, bool debug)
{
	struct fl_server_opts o = {
		.uid = TEST_UID,
		.gid = TEST_GID,
		.nworkers = nworkers,
		.debug = debug,
	};
	struct fl_error err = { 0 };
	struct fl_tree *t;
	int sv[2];

	memset(&F, 0, sizeof(F));
	cr_assert_eq(fl_server_new(&o, &F.s, &err), 0, "%s", err.msg);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	t = build_tree(&F.stats);
	if (cow_upper[0]) {
		/* The ll_cow suite: the same tree, writable through copy-on-write. */
		int ufd = open(cow_upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		cr_assert(ufd >= 0);
		cr_assert_eq(fl_cow_new(t, ufd, &cow_tree, &err), 0, "%s", err.msg);
		t = cow_tree;
	}
	cr_assert_eq(fl_server_add(F.s, t, sv[1], &err), 0, "%s", err.msg);
	client_init(&F.c, sv[0]);
	cr_assert_eq(pipe2(F.stop, O_CLOEXEC), 0);
	cr_assert_eq(fl_server_start(F.s, &err), 0, "%s", err.msg);
	cr_assert_eq(pthread_create(&F.waiter, NULL, waiter_main, NULL), 0);
	F.waiter_running = true;
	do_init();
}

static void fx_setup(void)
{
	fx_start(2, false);
}

static void fx_teardown(void)
{
	if (F.stop[1] >= 0)
		close(F.stop[1]);
	cr_assert(join_waiter(TIMEOUT_MS), "fl_server_wait did not return");
	fl_server_free(F.s);
	cr_assert_eq(atomic_load(&F.stats.destroyed), 1, "the tree was not destroyed");
	close(F.stop[0]);
	client_done(&F.c);
}

TestSuite(ll, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

/* --- request helpers for the main thread ------------------------------------------------ */

static int call_err(uint32_t op, uint64_t node, const void *arg, size_t alen, const void *extra,
		    size_t elen)
{
	struct reply *r = cl_call(&F.c, op, node, arg, alen, extra, elen);
	int e;

	cr_assert_not_null(r, "no reply to opcode %u", op);
	e = -r->error;
	reply_free(r);
	return e;
}

static struct fuse_entry_out lookup(uint64_t parent, const char *name, int *ret_err)
{
	struct reply *r = cl_call(&F.c, FUSE_LOOKUP, parent, name, strlen(name) + 1, NULL, 0);
	struct fuse_entry_out e;

	memset(&e, 0, sizeof(e));
	cr_assert_not_null(r, "no reply to LOOKUP %s", name);
	*ret_err = -r->error;
	if (r->error == 0) {
		cr_assert_eq(r->len, sizeof(e));
		memcpy(&e, r->data, sizeof(e));
	}
	reply_free(r);
	return e;
}

static struct fuse_attr getattr(uint64_t node, int *ret_err)
{
	struct fuse_getattr_in in = { 0 };
	struct reply *r = cl_call(&F.c, FUSE_GETATTR, node, &in, sizeof(in), NULL, 0);
	struct fuse_attr_out a;

	memset(&a, 0, sizeof(a));
	cr_assert_not_null(r, "no reply to GETATTR");
	*ret_err = -r->error;
	if (r->error == 0) {
		cr_assert_eq(r->len, sizeof(a));
		memcpy(&a, r->data, sizeof(a));
		cr_assert_eq(a.attr_valid, 86400);
	}
	reply_free(r);
	return a.attr;
}

static struct fuse_open_out do_open(uint32_t op, uint64_t node, uint32_t flags, int *ret_err)
{
	struct fuse_open_in in = { .flags = flags };
	struct reply *r = cl_call(&F.c, op, node, &in, sizeof(in), NULL, 0);
	struct fuse_open_out o;

	memset(&o, 0, sizeof(o));
	cr_assert_not_null(r, "no reply to OPEN");
	*ret_err = -r->error;
	if (r->error == 0) {
		cr_assert_eq(r->len, sizeof(o));
		memcpy(&o, r->data, sizeof(o));
	}
	reply_free(r);
	return o;
}

static struct reply *do_read(struct client *c, uint32_t op, uint64_t node, uint64_t fh,
			     uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size, .flags = O_RDONLY };

	return cl_call(c, op, node, &in, sizeof(in), NULL, 0);
}

/* --- tests: handshake and metadata --------------------------------------------------- */

Test(ll, init_handshake)
{
	cr_assert_eq(F.init.major, FUSE_KERNEL_VERSION);
	cr_assert_geq(F.init.minor, 31);
	cr_assert(F.init.flags & FUSE_CACHE_SYMLINKS);
	cr_assert(F.init.flags & FUSE_DO_READDIRPLUS);
	cr_assert(F.init.flags & FUSE_READDIRPLUS_AUTO);
	cr_assert(F.init.flags & FUSE_ASYNC_READ);
	/* libfuse 3.14 never passes FUSE_PARALLEL_DIROPS on to the kernel,
	 * although it wants it by default (fuse_lowlevel.c, do_init). */
	cr_assert(F.init.flags & FUSE_MAX_PAGES);
	cr_assert_not(F.init.flags & FUSE_WRITEBACK_CACHE);
	/* All the read-ahead the kernel offered, and large requests. */
	cr_assert_eq(F.init.max_readahead, 131072);
	cr_assert_geq(F.init.max_pages, 32);
}

Test(ll, lookup_found)
{
	int e;
	struct fuse_entry_out o = lookup(FL_TREE_ROOT, "hello.txt", &e);

	cr_assert_eq(e, 0);
	cr_assert_eq(o.nodeid, id.hello);
	cr_assert_eq(o.generation, 0);
	cr_assert_eq(o.entry_valid, 86400);
	cr_assert_eq(o.attr_valid, 86400);
	cr_assert_eq(o.attr.ino, FL_FAKE_INO_BASE + id.hello);
	cr_assert_eq(o.attr.size, 13);
	cr_assert_eq(o.attr.mode, S_IFREG | 0644);
	cr_assert_eq(o.attr.uid, TEST_UID);
	cr_assert_eq(o.attr.gid, TEST_GID);
	cr_assert_eq(o.attr.mtime, 1700000000);

	o = lookup(id.sub, "f07", &e);
	cr_assert_eq(e, 0);
	cr_assert_eq(o.nodeid, id.sub_f[7]);
	cr_assert_eq(o.attr.size, 3);
}

Test(ll, lookup_missing_is_negative_entry)
{
	int e;
	struct fuse_entry_out o = lookup(FL_TREE_ROOT, "nope", &e);

	cr_assert_eq(e, 0, "a missing name must be a negative entry, not an error");
	cr_assert_eq(o.nodeid, 0);
	cr_assert_eq(o.entry_valid, 86400);

	lookup(id.hello, "x", &e);
	cr_assert_eq(e, ENOTDIR);
	lookup(FL_TREE_ROOT, "broken", &e);
	cr_assert_eq(e, EIO, "getattr failure of the found node");
}

Test(ll, getattr_squashes_owner_and_setid)
{
	int e;
	struct fuse_attr a = getattr(id.suid, &e);

	cr_assert_eq(e, 0);
	cr_assert_eq(a.mode, S_IFREG | 0755, "mode %o", a.mode);
	cr_assert_eq(a.uid, TEST_UID);
	cr_assert_eq(a.gid, TEST_GID);
	cr_assert_eq(a.ino, FL_FAKE_INO_BASE + id.suid);

	a = getattr(id.tmp, &e);
	cr_assert_eq(e, 0);
	cr_assert_eq(a.mode, S_IFDIR | 01777, "sticky kept: mode %o", a.mode);
	a = getattr(id.sub, &e);
	cr_assert_eq(a.mode, S_IFDIR | 0755, "setgid dir masked: mode %o", a.mode);

	a = getattr(FL_TREE_ROOT, &e);
	cr_assert_eq(e, 0);
	cr_assert_eq(a.mode, S_IFDIR | 0755);
	cr_assert_eq(a.ino, FL_FAKE_INO_BASE + 1);

	getattr(id.broken, &e);
	cr_assert_eq(e, EIO);
	getattr(99999, &e);
	cr_assert_eq(e, ENOENT);
	getattr(0, &e);
	cr_assert_eq(e, EIO, "node id 0 never reaches the tree");
}

Test(ll, hard_links_share_st_ino)
{
	int e;
	struct fuse_entry_out a = lookup(FL_TREE_ROOT, "hello.txt", &e);
	struct fuse_entry_out b = lookup(FL_TREE_ROOT, "hello2.txt", &e);

	cr_assert_eq(e, 0);
	cr_assert_neq(a.nodeid, b.nodeid);
	cr_assert_eq(a.attr.ino, b.attr.ino);
	cr_assert_eq(b.attr.nlink, 2);
}

Test(ll, readlink)
{
	struct reply *r = cl_call(&F.c, FUSE_READLINK, id.link, NULL, 0, NULL, 0);

	cr_assert_not_null(r);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, 9);
	cr_assert_arr_eq(r->data, "hello.txt", 9);
	reply_free(r);
	cr_assert_eq(call_err(FUSE_READLINK, id.hello, NULL, 0, NULL, 0), EINVAL);
}

Test(ll, statfs)
{
	struct reply *r = cl_call(&F.c, FUSE_STATFS, FL_TREE_ROOT, NULL, 0, NULL, 0);
	struct fuse_statfs_out s;

	cr_assert_not_null(r);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, sizeof(s));
	memcpy(&s, r->data, sizeof(s));
	cr_assert_eq(s.st.bsize, 4096);
	cr_assert_eq(s.st.blocks, 100);
	cr_assert_eq(s.st.files, 10 + NSUB);
	cr_assert_eq(s.st.namelen, 255);
	reply_free(r);
}

/* --- tests: directories ------------------------------------------------------------ */

struct listing {
	char names[64][32];
	uint64_t offs[64];
	uint64_t inos[64];
	uint64_t nodeids[64];
	unsigned types[64];
	uint32_t uids[64];
	int n;
	int requests;
};

/* Parse one READDIR(PLUS) reply into @l; returns the number of entries. */
static int parse_dir(struct listing *l, const unsigned char *p, size_t len, bool plus)
{
	size_t pos = 0;
	int got = 0;

	while (pos < len) {
		const struct fuse_dirent *d;
		size_t sz;

		cr_assert_lt(l->n, 64);
		if (plus) {
			const struct fuse_direntplus *dp = (const void *)(p + pos);

			d = &dp->dirent;
			l->nodeids[l->n] = dp->entry_out.nodeid;
			l->uids[l->n] = dp->entry_out.attr.uid;
			sz = FUSE_DIRENTPLUS_SIZE(dp);
		} else {
			d = (const void *)(p + pos);
			sz = FUSE_DIRENT_SIZE(d);
		}
		cr_assert_leq(pos + sz, len);
		cr_assert_lt(d->namelen, 32);
		memcpy(l->names[l->n], d->name, d->namelen);
		l->names[l->n][d->namelen] = '\0';
		l->offs[l->n] = d->off;
		l->inos[l->n] = d->ino;
		l->types[l->n] = d->type;
		l->n++;
		got++;
		pos += sz;
	}
	return got;
}

/* List @dir from cookie @off to the end with @size-byte requests. */
static void list_dir(struct listing *l, uint64_t dir, uint64_t off, uint32_t size, bool plus)
{
	uint32_t op = plus ? FUSE_READDIRPLUS : FUSE_READDIR;
	int err;
	struct fuse_open_out o = do_open(FUSE_OPENDIR, dir, O_RDONLY | O_DIRECTORY, &err);

	/* Read-only: ENOSYS, so that the kernel opens directories itself (with
	 * cached, kept listings) and reads them with handle 0. */
	cr_assert_eq(err, ENOSYS, "OPENDIR of a read-only tree: %d", err);
	cr_assert_eq(o.fh, 0);
	memset(l, 0, sizeof(*l));
	for (;;) {
		struct reply *r = do_read(&F.c, op, dir, o.fh, off, size);
		int got;

		cr_assert_not_null(r);
		cr_assert_eq(r->error, 0, "readdir error %d", r->error);
		l->requests++;
		cr_assert_lt(l->requests, 100);
		got = parse_dir(l, r->data, r->len, plus);
		reply_free(r);
		if (got == 0)
			break;
		off = l->offs[l->n - 1];
	}
	/* No RELEASEDIR: the kernel sends none after that ENOSYS. */
}

static void check_root_listing(const struct listing *l)
{
	size_t n = sizeof(root_names) / sizeof(root_names[0]);
	size_t i;

	cr_assert_eq(l->n, (int)n + 2);
	cr_assert_str_eq(l->names[0], ".");
	cr_assert_eq(l->offs[0], 1);
	cr_assert_eq(l->types[0], DT_DIR);
	cr_assert_eq(l->inos[0], FL_FAKE_INO_BASE + 1);
	cr_assert_str_eq(l->names[1], "..");
	cr_assert_eq(l->offs[1], 2);
	cr_assert_eq(l->types[1], DT_DIR);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(l->names[i + 2], root_names[i]);
	for (i = 1; i < (size_t)l->n; i++)
		cr_assert_gt(l->offs[i], l->offs[i - 1], "cookies must increase");
	cr_assert_eq(l->types[2], DT_REG); /* hello.txt */
	cr_assert_eq(l->types[5], DT_DIR); /* sub */
	cr_assert_eq(l->types[6], DT_LNK); /* link */
	cr_assert_eq(l->inos[2], FL_FAKE_INO_BASE + id.hello);
	cr_assert_eq(l->inos[9], FL_FAKE_INO_BASE + id.hello, "hard link: same d_ino");
}

Test(ll, readdir_in_small_pieces)
{
	struct listing l, tail;

	/* 80 bytes hold two or three entries: it takes several requests. */
	list_dir(&l, FL_TREE_ROOT, 0, 80, false);
	check_root_listing(&l);
	cr_assert_geq(l.requests, 4);

	/* Resuming at any returned cookie gives exactly the rest. */
	list_dir(&tail, FL_TREE_ROOT, l.offs[0], 80, false);
	cr_assert_eq(tail.n, l.n - 1);
	cr_assert_str_eq(tail.names[0], "..");
	list_dir(&tail, FL_TREE_ROOT, l.offs[4], 4096, false);
	cr_assert_eq(tail.n, l.n - 5);
	cr_assert_str_eq(tail.names[0], l.names[5]);

	list_dir(&l, id.sub, 0, 4096, false);
	cr_assert_eq(l.n, NSUB + 2);
	cr_assert_str_eq(l.names[2], "f00");
	cr_assert_str_eq(l.names[NSUB + 1], "f19");
}

Test(ll, readdirplus_in_small_pieces)
{
	struct listing l;
	int i;

	list_dir(&l, FL_TREE_ROOT, 0, 400, true);
	check_root_listing(&l);
	cr_assert_geq(l.requests, 4);
	/* No kernel dentries for "." and "..": nodeid 0. */
	cr_assert_eq(l.nodeids[0], 0);
	cr_assert_eq(l.nodeids[1], 0);
	cr_assert_eq(l.nodeids[2], id.hello);
	cr_assert_eq(l.nodeids[5], id.sub);
	for (i = 2; i < l.n; i++)
		cr_assert_eq(l.uids[i], TEST_UID, "entry %s", l.names[i]);
}

Test(ll, readdir_of_a_file_fails)
{
	struct reply *r = do_read(&F.c, FUSE_READDIR, id.hello, 0, 0, 4096);

	cr_assert_not_null(r);
	cr_assert_eq(r->error, -ENOTDIR);
	reply_free(r);
	r = do_read(&F.c, FUSE_READDIR, id.hello, 0, 5, 4096);
	cr_assert_not_null(r);
	cr_assert_eq(r->error, -ENOTDIR);
	reply_free(r);
}

/* --- tests: files -------------------------------------------------------------------- */

Test(ll, open_for_writing_is_erofs)
{
	int e;

	do_open(FUSE_OPEN, id.hello, O_RDWR, &e);
	cr_assert_eq(e, EROFS);
	do_open(FUSE_OPEN, id.hello, O_WRONLY, &e);
	cr_assert_eq(e, EROFS);
	do_open(FUSE_OPEN, id.hello, O_RDONLY | O_TRUNC, &e);
	cr_assert_eq(e, EROFS);
	do_open(FUSE_OPEN, id.sub, O_RDONLY, &e);
	cr_assert_eq(e, EISDIR);
	cr_assert_eq(atomic_load(&F.stats.opens), 0);
}

Test(ll, open_read_release)
{
	int e;
	struct fuse_open_out o = do_open(FUSE_OPEN, id.hello, O_RDONLY, &e);
	struct fuse_release_in rel = { .fh = o.fh };
	struct reply *r;

	cr_assert_eq(e, 0);
	cr_assert(o.open_flags & FOPEN_KEEP_CACHE);
	cr_assert_not(o.open_flags & FOPEN_DIRECT_IO);

	r = do_read(&F.c, FUSE_READ, id.hello, o.fh, 0, 4096);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, 13);
	cr_assert_arr_eq(r->data, "hello, world\n", 13);
	reply_free(r);

	r = do_read(&F.c, FUSE_READ, id.hello, o.fh, 7, 5);
	cr_assert_eq(r->len, 5);
	cr_assert_arr_eq(r->data, "world", 5);
	reply_free(r);

	r = do_read(&F.c, FUSE_READ, id.hello, o.fh, 13, 4096);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, 0, "EOF is an empty reply");
	reply_free(r);

	r = do_read(&F.c, FUSE_READ, id.big, o.fh, BIG_LEN - 100, 131072);
	cr_assert_eq(r->len, 100);
	cr_assert_arr_eq(r->data, big_data + BIG_LEN - 100, 100);
	reply_free(r);

	cr_assert_eq(call_err(FUSE_RELEASE, id.hello, &rel, sizeof(rel), NULL, 0), 0);
	cr_assert_eq(atomic_load(&F.stats.opens), 1);
	cr_assert_eq(atomic_load(&F.stats.releases), 1);
}

Test(ll, read_error_passes_through)
{
	int e;
	struct fuse_open_out o = do_open(FUSE_OPEN, id.bad, O_RDONLY, &e);
	struct reply *r;

	cr_assert_eq(e, 0);
	r = do_read(&F.c, FUSE_READ, id.bad, o.fh, 0, 4096);
	cr_assert_not_null(r);
	cr_assert_eq(r->error, -EIO);
	reply_free(r);
}

/* --- tests: extended attributes ---------------------------------------------------------- */

static struct reply *xattr_call(uint32_t op, uint64_t node, const char *name, uint32_t size)
{
	struct fuse_getxattr_in in = { .size = size };

	return cl_call(&F.c, op, node, &in, sizeof(in), name, name ? strlen(name) + 1 : 0);
}

Test(ll, listxattr_filters_names)
{
	static const char want[] = "user.a\0user.bb"; /* 15 bytes with both NULs */
	struct fuse_getxattr_out go;
	struct reply *r = xattr_call(FUSE_LISTXATTR, id.hello, NULL, 0);

	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, sizeof(go));
	memcpy(&go, r->data, sizeof(go));
	cr_assert_eq(go.size, sizeof(want), "size query gives the filtered size");
	reply_free(r);

	r = xattr_call(FUSE_LISTXATTR, id.hello, NULL, sizeof(want));
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, sizeof(want));
	cr_assert_arr_eq(r->data, want, sizeof(want));
	reply_free(r);

	r = xattr_call(FUSE_LISTXATTR, id.hello, NULL, 4096);
	cr_assert_eq(r->len, sizeof(want));
	reply_free(r);

	r = xattr_call(FUSE_LISTXATTR, id.hello, NULL, sizeof(want) - 1);
	cr_assert_eq(r->error, -ERANGE);
	reply_free(r);

	r = xattr_call(FUSE_LISTXATTR, FL_TREE_ROOT, NULL, 0);
	memcpy(&go, r->data, sizeof(go));
	cr_assert_eq(go.size, 0);
	reply_free(r);
}

Test(ll, getxattr_only_user)
{
	struct fuse_getxattr_out go;
	struct reply *r = xattr_call(FUSE_GETXATTR, id.hello, "user.bb", 0);

	cr_assert_eq(r->error, 0);
	memcpy(&go, r->data, sizeof(go));
	cr_assert_eq(go.size, 2);
	reply_free(r);

	r = xattr_call(FUSE_GETXATTR, id.hello, "user.bb", 100);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, 2);
	cr_assert_arr_eq(r->data, "22", 2);
	reply_free(r);

	r = xattr_call(FUSE_GETXATTR, id.hello, "user.bb", 1);
	cr_assert_eq(r->error, -ERANGE);
	reply_free(r);

	/* Names that exist in the tree but are hidden answer like absent ones. */
	r = xattr_call(FUSE_GETXATTR, id.hello, "trusted.x", 100);
	cr_assert_eq(r->error, -ENODATA);
	reply_free(r);
	r = xattr_call(FUSE_GETXATTR, id.hello, "user.overlay.opaque", 100);
	cr_assert_eq(r->error, -ENODATA);
	reply_free(r);
	r = xattr_call(FUSE_GETXATTR, id.hello, "security.selinux", 0);
	cr_assert_eq(r->error, -ENODATA);
	reply_free(r);
	r = xattr_call(FUSE_GETXATTR, id.hello, "user.none", 100);
	cr_assert_eq(r->error, -ENODATA);
	reply_free(r);
}

/* --- tests: writes --------------------------------------------------------------------- */

Test(ll, writes_are_erofs)
{
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0600 };
	struct fuse_write_in wr = { .fh = 1, .size = 3 };
	struct fuse_create_in cr = { .flags = O_WRONLY | O_CREAT, .mode = 0644 };
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0644 };
	struct fuse_rename_in rn = { .newdir = FL_TREE_ROOT };
	struct fuse_link_in ln = { .oldnodeid = id.hello };
	struct fuse_setxattr_in sx = { .size = 1 };
	struct fuse_fallocate_in fa = { .fh = 1, .length = 10 };
	struct fuse_copy_file_range_in cf = { .fh_in = 1, .nodeid_out = id.hello, .len = 5 };
	struct fuse_access_in ac = { .mask = W_OK };
	int e;

	cr_assert_eq(call_err(FUSE_MKDIR, 1, &mk, sizeof(mk), "newdir", 7), EROFS);
	cr_assert_eq(call_err(FUSE_UNLINK, 1, "hello.txt", 10, NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_RMDIR, 1, "sub", 4, NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_SETATTR, id.hello, &sa, sizeof(sa), NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_WRITE, id.hello, &wr, sizeof(wr), "abc", 3), EROFS);
	cr_assert_eq(call_err(FUSE_CREATE, 1, &cr, sizeof(cr), "new", 4), EROFS);
	cr_assert_eq(call_err(FUSE_MKNOD, 1, &mn, sizeof(mn), "fifo", 5), EROFS);
	cr_assert_eq(call_err(FUSE_SYMLINK, 1, "sl\0target", 10, NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_RENAME, 1, &rn, sizeof(rn), "hello.txt\0x", 12), EROFS);
	cr_assert_eq(call_err(FUSE_LINK, 1, &ln, sizeof(ln), "hl", 3), EROFS);
	cr_assert_eq(call_err(FUSE_SETXATTR, id.hello, &sx, sizeof(sx), "user.q\0v", 8), EROFS);
	cr_assert_eq(call_err(FUSE_REMOVEXATTR, id.hello, "user.a", 7, NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_FALLOCATE, id.hello, &fa, sizeof(fa), NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_COPY_FILE_RANGE, id.hello, &cf, sizeof(cf), NULL, 0), EROFS);
	cr_assert_eq(call_err(FUSE_ACCESS, id.hello, &ac, sizeof(ac), NULL, 0), EROFS);
	ac.mask = R_OK;
	cr_assert_eq(call_err(FUSE_ACCESS, id.hello, &ac, sizeof(ac), NULL, 0), 0);
	/* Nothing is ever pending on a read-only tree. */
	cr_assert_eq(call_err(FUSE_FLUSH, id.hello, &fa, sizeof(struct fuse_flush_in), NULL, 0), 0);
	cr_assert_eq(call_err(FUSE_FSYNC, id.hello, &fa, sizeof(struct fuse_fsync_in), NULL, 0), 0);

	struct fuse_attr a = getattr(id.hello, &e);
	cr_assert_eq(a.mode, S_IFREG | 0644);
	cr_assert_eq(a.size, 13);
}

Test(ll, forget_gets_no_reply)
{
	struct fuse_forget_in fg = { .nlookup = 1 };
	struct {
		struct fuse_batch_forget_in h;
		struct fuse_forget_one one[2];
	} bf = { { .count = 2 }, { { id.hello, 1 }, { id.sub, 3 } } };
	uint64_t u1 = cl_send(&F.c, FUSE_FORGET, id.hello, &fg, sizeof(fg), NULL, 0);
	uint64_t u2 = cl_send(&F.c, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), NULL, 0);
	struct reply *r;
	int e;

	cr_assert(u1 && u2);
	getattr(FL_TREE_ROOT, &e);
	cr_assert_eq(e, 0);
	/* Anything still to come would arrive well within this. */
	r = cl_read_one(&F.c, 300);
	cr_assert_null(r, "unexpected reply to unique %llu",
		       r ? (unsigned long long)r->unique : 0ULL);
	cr_assert_null(F.c.stash, "a reply to a FORGET arrived");
	/* Still serving the node after the forgets. */
	getattr(id.hello, &e);
	cr_assert_eq(e, 0);
}

/* --- tests: concurrency ---------------------------------------------------------------- */

#define NCLIENT 4
#define NITER	300

static atomic_int conc_failures;

static void *client_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct fuse_open_in oi = { .flags = O_RDONLY };
	struct fuse_open_out oo;
	struct reply *r = cl_call(&F.c, FUSE_OPEN, id.big, &oi, sizeof(oi), NULL, 0);
	int i;

	if (!r || r->error || r->len != sizeof(oo)) {
		atomic_fetch_add(&conc_failures, 1);
		reply_free(r);
		return NULL;
	}
	memcpy(&oo, r->data, sizeof(oo));
	reply_free(r);
	for (i = 0; i < NITER; i++) {
		int k = (int)(rand_r(&seed) % NSUB);
		uint32_t off = (uint32_t)(rand_r(&seed) % BIG_LEN);
		bool ok;

		if (i % 2) {
			char name[8];
			struct fuse_entry_out e;

			snprintf(name, sizeof(name), "f%02d", k);
			r = cl_call(&F.c, FUSE_LOOKUP, id.sub, name, 4, NULL, 0);
			ok = r && r->error == 0 && r->len == sizeof(e);
			if (ok) {
				memcpy(&e, r->data, sizeof(e));
				ok = e.nodeid == id.sub_f[k] && e.attr.uid == TEST_UID;
			}
		} else {
			size_t want = BIG_LEN - off < 8192 ? BIG_LEN - off : 8192;

			r = do_read(&F.c, FUSE_READ, id.big, oo.fh, off, 8192);
			ok = r && r->error == 0 && r->len == want &&
			     memcmp(r->data, big_data + off, want) == 0;
		}
		if (!ok)
			atomic_fetch_add(&conc_failures, 1);
		reply_free(r);
	}
	return NULL;
}

Test(ll, concurrent_clients)
{
	pthread_t th[NCLIENT];
	struct timespec t0, t1;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < NCLIENT; i++)
		cr_assert_eq(
		    pthread_create(&th[i], NULL, client_thread, (void *)(uintptr_t)(i + 1)), 0);
	for (i = 0; i < NCLIENT; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(atomic_load(&conc_failures), 0, "%d wrong or missing replies",
		     atomic_load(&conc_failures));
	cr_assert_eq(atomic_load(&F.stats.opens), NCLIENT);
	cr_log_info("%d requests from %d clients in %.1f ms", NCLIENT * NITER, NCLIENT,
		    since_ms(&t0, &t1));
}

/* --- tests: stopping ----------------------------------------------------------------- */

Test(ll, stop_fd_closed_with_open_handle)
{
	struct timespec t0;
	int e;

	do_open(FUSE_OPEN, id.hello, O_RDONLY, &e);
	cr_assert_eq(e, 0);
	usleep(50 * 1000);
	cr_assert_not(atomic_load(&F.wait_done), "wait returned before being asked");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	close(F.stop[1]);
	F.stop[1] = -1;
	cr_assert(join_waiter(2000), "fl_server_wait hung with a file open");
	cr_assert_eq(F.wait_ret, 0);
	cr_assert_lt(since_ms(&t0, &F.wait_end), 1000.0);
	cr_log_info("stop with an open handle: %.2f ms", since_ms(&t0, &F.wait_end));
}

Test(ll, stop_fd_readable)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(write(F.stop[1], "x", 1), 1);
	cr_assert(join_waiter(2000));
	cr_assert_eq(F.wait_ret, 0);
	cr_assert_lt(since_ms(&t0, &F.wait_end), 1000.0);
}

Test(ll, client_hangup_is_unmount)
{
	struct timespec t0;
	int e;

	/* A worker may read the socket's end of file before seeing the hang-up:
	 * libfuse then logs "short read" (never seen with /dev/fuse, which gives
	 * ENODEV).  Keep that out of the test output. */
	cr_redirect_stderr();
	do_open(FUSE_OPEN, id.hello, O_RDONLY, &e);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	close(F.c.fd);
	F.c.fd = -1;
	cr_assert(join_waiter(2000), "fl_server_wait did not notice the hang-up");
	cr_assert_eq(F.wait_ret, 0);
	cr_assert_lt(since_ms(&t0, &F.wait_end), 1000.0);
}

/* --- tests: the server API without the fixture ----------------------------------------- */

Test(ll_server, retires_each_mount, .timeout = 30)
{
	struct fl_server_opts o = { .uid = 1, .gid = 1, .nworkers = 3 };
	struct fl_fake_stats st = { 0 };
	struct fl_server *s = NULL;
	struct fl_error err = { 0 };
	int a[2], b[2], i;

	cr_assert_eq(fl_server_new(&o, &s, &err), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b), 0);
	cr_assert_eq(fl_server_add(s, fl_fake_tree_tree(fl_fake_tree_new(&st)), a[1], &err), 0);
	cr_assert_eq(fl_server_add(s, fl_fake_tree_tree(fl_fake_tree_new(&st)), b[1], &err), 0);
	cr_assert_eq(fl_server_start(s, &err), 0);

	memset(&F, 0, sizeof(F));
	F.s = s;
	F.stop[0] = -1; /* no stop descriptor: only the mounts end it */
	cr_assert_eq(pthread_create(&F.waiter, NULL, waiter_main, NULL), 0);
	F.waiter_running = true;
	cr_redirect_stderr(); /* see client_hangup_is_unmount */
	close(a[0]);
	usleep(300 * 1000);
	cr_assert_not(atomic_load(&F.wait_done), "returned with one mount still live");
	close(b[0]);
	cr_assert(join_waiter(2000));
	cr_assert_eq(F.wait_ret, 0);
	fl_server_free(s);
	cr_assert_eq(atomic_load(&st.destroyed), 2);
	for (i = 0; i < 2; i++)
		cr_assert_eq(fcntl(i ? b[1] : a[1], F_GETFD), -1, "server fd left open");
}

Test(ll_server, api_errors)
{
	struct fl_server_opts o = { .uid = 1, .gid = 1 };
	struct fl_fake_stats st = { 0 };
	struct fl_tree *t = fl_fake_tree_tree(fl_fake_tree_new(&st));
	struct fl_server *s = NULL;
	struct fl_error err = { 0 };
	int sv[2], p[2], closed;

	cr_assert_eq(fl_server_new(&o, &s, &err), 0);
	cr_assert_eq(fl_server_start(s, &err), -EINVAL, "nothing to serve");
	cr_assert_eq(fl_server_wait(s, -1), -EINVAL, "not started");
	cr_assert_eq(fl_server_add(s, t, -1, &err), -EINVAL);
	closed = dup(0);
	close(closed);
	cr_assert_eq(fl_server_add(s, t, closed, &err), -EBADF);
	cr_assert_str_neq(err.msg, "");
	cr_assert_eq(atomic_load(&st.destroyed), 0, "a failed add leaves the tree to the caller");

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fl_server_add(s, t, sv[1], &err), 0);
	cr_assert_eq(fl_server_start(s, &err), 0);
	cr_assert_eq(fl_server_start(s, &err), -EBUSY);
	t = fl_fake_tree_tree(fl_fake_tree_new(&st));
	cr_assert_eq(fl_server_add(s, t, sv[0], &err), -EBUSY);
	fl_tree_free(t);
	cr_assert_eq(atomic_load(&st.destroyed), 1);

	/* A stop pipe whose writer is already gone: returns at once. */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	cr_assert_eq(fl_server_wait(s, p[0]), 0);
	close(p[0]);
	fl_server_free(s);
	cr_assert_eq(atomic_load(&st.destroyed), 2);
	close(sv[0]);
	fl_server_free(NULL);
}

Test(ll_server, debug_session, .init = cr_redirect_stderr, .timeout = 30)
{
	char line[256];
	bool seen = false;
	int e;

	fx_start(1, true);
	getattr(FL_TREE_ROOT, &e);
	cr_assert_eq(e, 0);
	close(F.stop[1]);
	F.stop[1] = -1;
	cr_assert(join_waiter(2000));
	fl_server_free(F.s);
	close(F.stop[0]);
	client_done(&F.c);
	fflush(stderr);
	/* libfuse's own trace, asked for with opts.debug. */
	while (fgets(line, sizeof(line), cr_get_redirected_stderr()))
		seen |= strstr(line, "opcode: GETATTR") != NULL;
	cr_assert(seen, "no libfuse debug trace");
}

/* --- tests: a writable (copy-on-write) tree -------------------------------------------- */

/* The copy-on-write tree's own node ids for some of the fixture's names. */
static struct {
	uint64_t hello, big, sub;
} cw;

static void cow_setup(void)
{
	int e;

	snprintf(cow_upper, sizeof(cow_upper), "%s", fl_test_tmpdir());
	fx_start(2, false);
	cw.hello = lookup(FL_TREE_ROOT, "hello.txt", &e).nodeid;
	cw.big = lookup(FL_TREE_ROOT, "big.bin", &e).nodeid;
	cw.sub = lookup(FL_TREE_ROOT, "sub", &e).nodeid;
	cr_assert(cw.hello && cw.big && cw.sub);
}

static void cow_teardown(void)
{
	fx_teardown();
	fl_test_rmtree(cow_upper);
	cow_upper[0] = '\0';
	cow_tree = NULL;
}

TestSuite(ll_cow, .init = cow_setup, .fini = cow_teardown, .timeout = 60);

/* A request whose reply must be @size bytes (or an error); copies it out. */
static int call_out(uint32_t op, uint64_t node, const void *arg, size_t alen, const void *extra,
		    size_t elen, void *out, size_t size)
{
	struct reply *r = cl_call(&F.c, op, node, arg, alen, extra, elen);
	int e;

	cr_assert_not_null(r, "no reply to opcode %u", op);
	e = -r->error;
	if (e == 0 && out) {
		cr_assert_eq(r->len, size, "opcode %u: reply of %zu bytes", op, r->len);
		memcpy(out, r->data, size);
	}
	reply_free(r);
	return e;
}

static struct fuse_attr cow_getattr(uint64_t node, int *ret_err)
{
	struct fuse_getattr_in in = { 0 };
	struct fuse_attr_out a;

	memset(&a, 0, sizeof(a));
	*ret_err = call_out(FUSE_GETATTR, node, &in, sizeof(in), NULL, 0, &a, sizeof(a));
	if (*ret_err == 0)
		cr_assert_eq(a.attr_valid, 1, "writable trees are cached briefly");
	return a.attr;
}

static void cow_write(uint64_t node, uint64_t fh, const char *data, uint64_t off)
{
	struct fuse_write_in wr = { .fh = fh, .offset = off, .size = (uint32_t)strlen(data) };
	struct fuse_write_out wo;

	cr_assert_eq(
	    call_out(FUSE_WRITE, node, &wr, sizeof(wr), data, strlen(data), &wo, sizeof(wo)), 0);
	cr_assert_eq(wo.size, strlen(data));
}

static void cow_expect(uint64_t node, const char *want)
{
	int e;
	struct fuse_open_out o = do_open(FUSE_OPEN, node, O_RDONLY, &e);
	struct reply *r;
	struct fuse_release_in rel = { .fh = o.fh };

	cr_assert_eq(e, 0);
	r = do_read(&F.c, FUSE_READ, node, o.fh, 0, 4096);
	cr_assert_not_null(r);
	cr_assert_eq(r->error, 0);
	cr_assert_eq(r->len, strlen(want));
	cr_assert_eq(memcmp(r->data, want, r->len), 0);
	reply_free(r);
	cr_assert_eq(call_err(FUSE_RELEASE, node, &rel, sizeof(rel), NULL, 0), 0);
}

Test(ll_cow, init_turns_readdirplus_off)
{
	cr_assert_not(F.init.flags & FUSE_DO_READDIRPLUS);
	cr_assert_not(F.init.flags & FUSE_READDIRPLUS_AUTO);
	cr_assert_not(F.init.flags & FUSE_WRITEBACK_CACHE, "writes stay write-through");
}

Test(ll_cow, create_write_read)
{
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0640 };
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct fuse_release_in rel;
	struct fuse_attr a;
	int e;

	cr_assert_eq(
	    call_out(FUSE_CREATE, FL_TREE_ROOT, &cr, sizeof(cr), "new", 4, &out, sizeof(out)), 0);
	cr_assert_neq(out.e.nodeid, 0);
	cr_assert_eq(out.e.attr.mode, S_IFREG | 0640);
	cr_assert_eq(out.e.attr.uid, TEST_UID);
	cr_assert_eq(out.e.entry_valid, 1);
	cr_assert_not(out.o.open_flags & FOPEN_KEEP_CACHE, "content can change");
	cr_assert_not(out.o.open_flags & FOPEN_DIRECT_IO, "mmap needs the page cache");
	cow_write(out.e.nodeid, out.o.fh, "written", 0);
	cow_write(out.e.nodeid, out.o.fh, "W", 0);
	cr_assert_eq(call_err(FUSE_FLUSH, out.e.nodeid, &(struct fuse_flush_in){ .fh = out.o.fh },
			      sizeof(struct fuse_flush_in), NULL, 0),
		     0);
	cr_assert_eq(call_err(FUSE_FSYNC, out.e.nodeid, &(struct fuse_fsync_in){ .fh = out.o.fh },
			      sizeof(struct fuse_fsync_in), NULL, 0),
		     0);
	rel = (struct fuse_release_in){ .fh = out.o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, out.e.nodeid, &rel, sizeof(rel), NULL, 0), 0);
	cow_expect(out.e.nodeid, "Written");
	a = cow_getattr(out.e.nodeid, &e);
	cr_assert_eq(e, 0);
	cr_assert_eq(a.size, 7);
	cr_assert_eq(
	    call_out(FUSE_CREATE, FL_TREE_ROOT, &cr, sizeof(cr), "new", 4, &out, sizeof(out)),
	    EEXIST);
}

Test(ll_cow, open_for_writing_copies_up)
{
	struct fuse_release_in rel;
	int e;
	struct fuse_open_out o = do_open(FUSE_OPEN, cw.hello, O_WRONLY, &e);

	cr_assert_eq(e, 0);
	cr_assert_not(o.open_flags & FOPEN_KEEP_CACHE);
	cr_assert(o.open_flags & FOPEN_DIRECT_IO, "write-only: no page cache, no GETXATTR per write");
	cow_write(cw.hello, o.fh, "HELLO", 0);
	rel = (struct fuse_release_in){ .fh = o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, cw.hello, &rel, sizeof(rel), NULL, 0), 0);
	cow_expect(cw.hello, "HELLO, world\n");
	/* The other name of the hard link sees it. */
	cow_expect(lookup(FL_TREE_ROOT, "hello2.txt", &e).nodeid, "HELLO, world\n");
	o = do_open(FUSE_OPEN, cw.hello, O_WRONLY | O_TRUNC, &e);
	cr_assert_eq(e, 0);
	rel = (struct fuse_release_in){ .fh = o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, cw.hello, &rel, sizeof(rel), NULL, 0), 0);
	cr_assert_eq(cow_getattr(cw.hello, &e).size, 0);
	/* Handles that can read keep the page cache (mmap, exec). */
	o = do_open(FUSE_OPEN, cw.hello, O_RDWR, &e);
	cr_assert_eq(e, 0);
	cr_assert_not(o.open_flags & FOPEN_DIRECT_IO);
	rel = (struct fuse_release_in){ .fh = o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, cw.hello, &rel, sizeof(rel), NULL, 0), 0);
	o = do_open(FUSE_OPEN, cw.hello, O_RDONLY, &e);
	cr_assert_eq(e, 0);
	cr_assert_not(o.open_flags & FOPEN_DIRECT_IO);
	rel = (struct fuse_release_in){ .fh = o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, cw.hello, &rel, sizeof(rel), NULL, 0), 0);
}

Test(ll_cow, create_write_only_goes_direct)
{
	struct fuse_create_in cr = { .flags = O_WRONLY | O_CREAT, .mode = S_IFREG | 0600 };
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct fuse_release_in rel;

	cr_assert_eq(
	    call_out(FUSE_CREATE, FL_TREE_ROOT, &cr, sizeof(cr), "wo", 3, &out, sizeof(out)), 0);
	cr_assert(out.o.open_flags & FOPEN_DIRECT_IO);
	cr_assert_not(out.o.open_flags & FOPEN_KEEP_CACHE);
	cow_write(out.e.nodeid, out.o.fh, "direct", 0);
	rel = (struct fuse_release_in){ .fh = out.o.fh };
	cr_assert_eq(call_err(FUSE_RELEASE, out.e.nodeid, &rel, sizeof(rel), NULL, 0), 0);
	cow_expect(out.e.nodeid, "direct");
}

Test(ll_cow, setattr)
{
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFREG | 06600 };
	struct fuse_attr_out ao;

	cr_assert_eq(call_out(FUSE_SETATTR, cw.hello, &sa, sizeof(sa), NULL, 0, &ao, sizeof(ao)),
		     0);
	cr_assert_eq(ao.attr.mode, S_IFREG | 0600, "set-id bits are never shown");
	sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 5 };
	cr_assert_eq(call_out(FUSE_SETATTR, cw.hello, &sa, sizeof(sa), NULL, 0, &ao, sizeof(ao)),
		     0);
	cr_assert_eq(ao.attr.size, 5);
	cow_expect(cw.hello, "hello");
	sa = (struct fuse_setattr_in){ .valid = FATTR_MTIME, .mtime = 1000000000, .mtimensec = 7 };
	cr_assert_eq(call_out(FUSE_SETATTR, cw.sub, &sa, sizeof(sa), NULL, 0, &ao, sizeof(ao)), 0);
	cr_assert_eq(ao.attr.mtime, 1000000000);
	cr_assert_eq(ao.attr.mtimensec, 7);
	/* Owners: the shown one is a no-op, any other is refused. */
	sa = (struct fuse_setattr_in){ .valid = FATTR_UID | FATTR_GID,
				       .uid = TEST_UID,
				       .gid = TEST_GID };
	cr_assert_eq(call_out(FUSE_SETATTR, cw.hello, &sa, sizeof(sa), NULL, 0, &ao, sizeof(ao)),
		     0);
	sa.uid = 0;
	cr_assert_eq(call_err(FUSE_SETATTR, cw.hello, &sa, sizeof(sa), NULL, 0), EPERM);
}

Test(ll_cow, namespace_operations)
{
	struct fuse_mkdir_in mk = { .mode = 0750 };
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0600 };
	struct fuse_link_in ln = { .oldnodeid = cw.big };
	struct fuse_rename2_in rn = { .newdir = FL_TREE_ROOT, .flags = RENAME_NOREPLACE };
	struct fuse_entry_out eo;
	char target[64];
	int e;

	cr_assert_eq(call_out(FUSE_MKDIR, FL_TREE_ROOT, &mk, sizeof(mk), "d", 2, &eo, sizeof(eo)),
		     0);
	cr_assert_eq(eo.attr.mode, S_IFDIR | 0750);
	cr_assert_eq(call_out(FUSE_MKNOD, eo.nodeid, &mn, sizeof(mn), "fifo", 5, &eo, sizeof(eo)),
		     0);
	cr_assert_eq(eo.attr.mode, S_IFIFO | 0600);
	mn.mode = S_IFBLK | 0600;
	cr_assert_eq(call_err(FUSE_MKNOD, FL_TREE_ROOT, &mn, sizeof(mn), "blk", 4), EPERM);
	cr_assert_eq(
	    call_out(FUSE_SYMLINK, FL_TREE_ROOT, "sl\0big.bin", 11, NULL, 0, &eo, sizeof(eo)), 0);
	cr_assert_eq(eo.attr.mode, S_IFLNK | 0777);
	{
		struct reply *r = cl_call(&F.c, FUSE_READLINK, eo.nodeid, NULL, 0, NULL, 0);

		cr_assert_not_null(r);
		cr_assert_eq(r->error, 0);
		memcpy(target, r->data, r->len);
		target[r->len] = '\0';
		reply_free(r);
		cr_assert_str_eq(target, "big.bin");
	}
	cr_assert_eq(call_out(FUSE_LINK, FL_TREE_ROOT, &ln, sizeof(ln), "big2", 5, &eo, sizeof(eo)),
		     0);
	cr_assert_eq(eo.nodeid, cw.big);
	cr_assert_eq(eo.attr.nlink, 2);
	cr_assert_eq(call_err(FUSE_RENAME2, FL_TREE_ROOT, &rn, sizeof(rn), "big2\0link", 10),
		     EEXIST);
	rn.flags = RENAME_EXCHANGE;
	cr_assert_eq(call_err(FUSE_RENAME2, FL_TREE_ROOT, &rn, sizeof(rn), "sl\0link", 8), 0);
	rn.flags = RENAME_WHITEOUT;
	cr_assert_eq(call_err(FUSE_RENAME2, FL_TREE_ROOT, &rn, sizeof(rn), "sl\0x", 5), EINVAL);
	cr_assert_eq(call_err(FUSE_UNLINK, FL_TREE_ROOT, "big2", 5, NULL, 0), 0);
	cr_assert_eq(cow_getattr(cw.big, &e).nlink, 1);
	cr_assert_eq(call_err(FUSE_RMDIR, FL_TREE_ROOT, "sub", 4, NULL, 0), ENOTEMPTY);
	cr_assert_eq(call_err(FUSE_RMDIR, FL_TREE_ROOT, "tmp", 4, NULL, 0), 0);
	cr_assert_eq(call_err(FUSE_UNLINK, FL_TREE_ROOT, "sub", 4, NULL, 0), EISDIR);
	cr_assert_eq(lookup(FL_TREE_ROOT, "tmp", &e).nodeid, 0, "a negative entry");
	cr_assert_eq(e, 0);
}

Test(ll_cow, readdir_after_changes)
{
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_entry_out eo;
	struct listing l;
	int i, found = 0;

	cr_assert_eq(call_err(FUSE_UNLINK, FL_TREE_ROOT, "hello.txt", 10, NULL, 0), 0);
	cr_assert_eq(
	    call_out(FUSE_MKDIR, FL_TREE_ROOT, &mk, sizeof(mk), "newdir", 7, &eo, sizeof(eo)), 0);
	/* Plain readdir, from the start and in pieces, with stable cookies. */
	memset(&l, 0, sizeof(l));
	{
		int err;
		struct fuse_open_out o = do_open(FUSE_OPENDIR, FL_TREE_ROOT, O_RDONLY, &err);
		uint64_t off = 0;

		cr_assert_eq(err, 0);
		cr_assert_not(o.open_flags & FOPEN_CACHE_DIR, "listings change");
		for (;;) {
			struct reply *r = do_read(&F.c, FUSE_READDIR, FL_TREE_ROOT, o.fh, off, 80);
			int got;

			cr_assert_not_null(r);
			cr_assert_eq(r->error, 0);
			got = parse_dir(&l, r->data, r->len, false);
			reply_free(r);
			if (got == 0)
				break;
			off = l.offs[l.n - 1];
		}
	}
	for (i = 0; i < l.n; i++) {
		cr_assert_str_neq(l.names[i], "hello.txt", "a removed name is listed");
		found += strcmp(l.names[i], "newdir") == 0;
		if (i)
			cr_assert_gt(l.offs[i], l.offs[i - 1]);
	}
	cr_assert_eq(found, 1);
	cr_assert_eq(l.n, 2 + 9, "dots, eight archive names and newdir");
}

Test(ll_cow, forget_frees_nodes)
{
	struct fuse_forget_in fg = { .nlookup = 1 };
	size_t before;
	int e;
	uint64_t node;

	before = fl_cow_nodes(cow_tree);
	node = lookup(cw.sub, "f03", &e).nodeid;
	cr_assert_eq(e, 0);
	cr_assert_eq(fl_cow_nodes(cow_tree), before + 1);
	cl_send(&F.c, FUSE_FORGET, node, &fg, sizeof(fg), NULL, 0);
	/* FORGET has no reply: a later request's reply orders it. */
	cow_getattr(FL_TREE_ROOT, &e);
	cr_assert_eq(fl_cow_nodes(cow_tree), before);
}

Test(ll_cow, xattrs_statfs_and_the_rest)
{
	/* libfuse takes the short form unless it asked for FUSE_SETXATTR_EXT. */
	struct fuse_setxattr_in sx = { .size = 1 };
	struct fuse_getxattr_in gx = { .size = 16 };
	struct fuse_statfs_out so;
	struct fuse_copy_file_range_in cf = { .fh_in = 1, .nodeid_out = cw.hello, .len = 5 };
	struct statvfs want;
	char val[16];

	cr_assert_eq(
	    call_err(FUSE_SETXATTR, cw.hello, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE, "user.q\0v", 8),
	    0);
	{
		struct reply *r =
		    cl_call(&F.c, FUSE_GETXATTR, cw.hello, &gx, sizeof(gx), "user.q", 7);

		cr_assert_not_null(r);
		cr_assert_eq(r->error, 0);
		cr_assert_eq(r->len, 1);
		memcpy(val, r->data, 1);
		reply_free(r);
		cr_assert_eq(val[0], 'v');
	}
	cr_assert_eq(call_err(FUSE_SETXATTR, cw.hello, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE,
			      "trusted.q\0v", 11),
		     EOPNOTSUPP);
	cr_assert_eq(call_err(FUSE_SETXATTR, cw.hello, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE,
			      "user.overlay.x\0v", 16),
		     EPERM);
	cr_assert_eq(call_err(FUSE_REMOVEXATTR, cw.hello, "user.q", 7, NULL, 0), 0);
	cr_assert_eq(call_err(FUSE_REMOVEXATTR, cw.hello, "user.q", 7, NULL, 0), ENODATA);
	cr_assert_eq(call_out(FUSE_STATFS, FL_TREE_ROOT, NULL, 0, NULL, 0, &so, sizeof(so)), 0);
	cr_assert_eq(statvfs(cow_upper, &want), 0);
	cr_assert_eq(so.st.blocks, want.f_blocks, "the upper filesystem's space");
	cr_assert_eq(call_err(FUSE_COPY_FILE_RANGE, cw.hello, &cf, sizeof(cf), NULL, 0), ENOSYS);
}
