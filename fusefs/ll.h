/* SPDX-License-Identifier: MIT */
/*
 * The FUSE server: serves one or more archive trees (tree.h), each on a
 * /dev/fuse descriptor that the caller has already mounted, with our own
 * poll loop and worker threads (libfuse 3.14's fuse_session_loop_mt cannot
 * be stopped while a file is held open).  This is the only file that
 * includes fuse_lowlevel.h.  It never needs privilege.
 */
#ifndef FL_LL_H
#define FL_LL_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusefs/error.h"
#include "fusefs/tree.h"

struct fl_server;

struct fl_server_opts {
	uid_t uid;          /* owner shown for every file */
	gid_t gid;          /* group shown for every file */
	unsigned nworkers;  /* worker threads; 0 means the default (2) */
	bool debug;         /* libfuse debug output on stderr */
};

/* fl_server_new() - an empty server.  Caller frees with fl_server_free(). */
int fl_server_new(const struct fl_server_opts *opts, struct fl_server **ret_server,
		  struct fl_error *err);

/*
 * fl_server_add() - serve @tree on @fuse_fd (writable when the tree has the
 * write ops of tree.h, read-only with EROFS otherwise), an open /dev/fuse
 * descriptor already mounted by the caller (or, in tests, any descriptor that
 * speaks the FUSE protocol).  On success the server owns both the tree and the
 * descriptor; on failure the caller still owns them.
 */
int fl_server_add(struct fl_server *s, struct fl_tree *tree, int fuse_fd, struct fl_error *err);

/* fl_server_start() - start the worker threads.  Call once, after every add. */
int fl_server_start(struct fl_server *s, struct fl_error *err);

/*
 * fl_server_wait() - block until @stop_fd becomes readable or hangs up (for
 * example the other end of a pipe is closed), or until every mount has been
 * unmounted; then stop the workers.  Returns 0, or -errno if a worker failed.
 */
int fl_server_wait(struct fl_server *s, int stop_fd);

/* fl_server_free() - stop the workers if running, close every descriptor and
 * destroy every tree.  NULL is allowed. */
void fl_server_free(struct fl_server *s);

#endif
