/* SPDX-License-Identifier: MIT */
/*
 * The directory layout of a run (SPEC §3): $FUSELAGE_HOME, the tmpfs over
 * procdirs/ (so no per-run directory ever exists on the host), the run's own
 * tmpfs with tmp/, static/ and dynamic/, and fixed paths under /run/fuselage.
 */
#ifndef FL_LAYOUT_H
#define FL_LAYOUT_H

#include "fusefs/error.h"
#include "src/run.h"

/*
 * fl_layout_home_path() - $FUSELAGE_HOME as an absolute path: in setuid mode
 * always <home from the password database>/.fuselage (the environment is the
 * caller's to forge); otherwise $FUSELAGE_HOME, else $HOME/.fuselage.
 */
int fl_layout_home_path(const struct fl_creds *c, char *const *env, char **ret_path,
			struct fl_error *err);

/*
 * fl_layout_open_own_dir() - open (creating it 0700 if missing) directory
 * @name in @dirfd as an O_PATH descriptor, refusing symlinks and directories
 * not owned by the caller (c->inner_uid).  @shown names it in messages.
 */
int fl_layout_open_own_dir(const struct fl_creds *c, int dirfd, const char *name, const char *shown,
			   int *ret_fd, struct fl_error *err);

/*
 * fl_layout_build() - inside the new namespace: check or create
 * $FUSELAGE_HOME and procdirs/ as the caller, mount the tmpfs over procdirs/
 * unless an enclosing run already did, mount this run's tmpfs on
 * procdirs/<pid>, and create every directory the mounts need.  Fills
 * run->procdir, tmpdir, static_dir, dynamic_dir and each mount's dir and
 * target_fd.
 */
int fl_layout_build(struct fl_run *run, struct fl_error *err);

/*
 * fl_layout_open_procdirs() - for extract-and-run (no namespace): check or
 * create $FUSELAGE_HOME and procdirs/ as the caller and return procdirs/ as
 * a readable directory descriptor.
 */
int fl_layout_open_procdirs(struct fl_run *run, int *ret_fd, struct fl_error *err);

/*
 * fl_layout_build_disk() - for extract-and-run: create the run's directory
 * @name in @procfd (on disk, 0700) with tmp/, static/ and dynamic/ as
 * fl_layout_build() would.  Fixed paths are refused: nothing could keep
 * /run/fuselage/NAME private to the run.
 */
int fl_layout_build_disk(struct fl_run *run, int procfd, const char *name, struct fl_error *err);

#endif
