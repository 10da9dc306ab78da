/* SPDX-License-Identifier: MIT */
/*
 * Running where a namespace or FUSE is unavailable (SPEC §8): extracting the
 * --static archives instead of serving them, either into the namespace's
 * private tmpfs (no FUSE) or, with --extract, into the run's directory on
 * disk (no namespace), which a cleaner process removes when the run ends and
 * which later runs sweep after a kill -9.
 */
#ifndef FL_FALLBACK_H
#define FL_FALLBACK_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusefs/error.h"
#include "src/run.h"

/*
 * fl_fallback_extract() - extract every --static and --dynamic archive of
 * @run whose FUSE mount was not made into its directory (m->target_fd), in a
 * child that has
 * dropped privilege (fl_priv_drop_for_extract).  In root mode the target
 * directories are lent to nobody, whom the child becomes, and everything
 * extracted is given back to root afterwards (never following a link).  Sets
 * m->extracted.  Returns 0 or -errno with the child's error in @err.
 */
int fl_fallback_extract(struct fl_run *run, struct fl_error *err);

/*
 * fl_fallback_disk_layout() - extract-and-run: drop privilege for good
 * (setuid mode becomes the caller here, before any file is made), start the
 * cleaner, which holds @lifeline_rd and removes the run's directory once
 * every holder of the lifeline is gone, and build the layout on disk in
 * $FUSELAGE_HOME/procdirs/x.<boot id>.<pid namespace>.<cleaner pid>.<its
 * start time>.  Sets run->cleaner_fd (readable end of a pipe the cleaner
 * holds open until it has finished).
 */
int fl_fallback_disk_layout(struct fl_run *run, int lifeline_rd, struct fl_error *err);

/*
 * fl_fallback_wait_cleanup() - called when the command's status is known and
 * it left nothing running: wait (bounded) for the cleaner to remove the run's
 * directory, so that nothing is left on disk when fuselage returns.  No-op
 * without a cleaner.
 */
void fl_fallback_wait_cleanup(struct fl_run *run);

#endif
