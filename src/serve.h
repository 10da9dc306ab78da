/* SPDX-License-Identifier: MIT */
/*
 * The server process: forked by setup after the FUSE mounts exist, it drops
 * privilege first, then opens the archives it was handed and serves them
 * until the lifeline closes (the keeper and setup are both gone).
 */
#ifndef FL_SERVE_H
#define FL_SERVE_H

#include <sys/types.h>

#include "fusefs/error.h"
#include "src/run.h"

/*
 * fl_serve_start() - fork the server for every archive mount of @run.  Returns
 * its pid once it has reported that every archive is parsed and served, or
 * -errno with the server's own error in @err (the server has then exited).
 * @lifeline_rd is the read end of the lifeline pipe; the server exits when
 * every write end is closed.
 */
int fl_serve_start(struct fl_run *run, int lifeline_rd, pid_t *ret_pid, struct fl_error *err);

#endif
