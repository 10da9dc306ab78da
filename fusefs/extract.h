/* SPDX-License-Identifier: MIT */
/*
 * Extraction of an archive tree (tree.h) into a directory, for runs where no
 * FUSE mount can be made (SPEC §8), and removal of such a directory again.
 * Everything is done relative to directory descriptors with O_NOFOLLOW, so
 * neither the archive's own symlinks nor anything else in the target can
 * make it write or delete outside the target.  Never prints.
 */
#ifndef FL_EXTRACT_H
#define FL_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "fusefs/error.h"
#include "fusefs/tree.h"

/* Directories nested deeper than this below the root are skipped (each level
 * holds one descriptor while its children are written). */
#define FL_EXTRACT_MAX_DEPTH 256

struct fl_extract_opts {
	/* Called once per entry that was skipped or could not be written
	 * completely ("path: why"); may be NULL. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

struct fl_extract_stats {
	uint64_t files, dirs, symlinks, hardlinks, fifos;
	uint64_t bytes;    /* file data written (holes not counted) */
	uint64_t skipped;  /* entries not extracted (each one warned) */
};

/*
 * fl_extract_tree() - write the whole of @tree into the directory @dirfd
 * (opened O_RDONLY|O_DIRECTORY, normally empty).  Kept: regular files with
 * their data (runs of zeros become holes), directories, symlinks (never
 * followed: they are created, not resolved), hard links (same st_ino in the
 * tree), fifos, permission bits (set-user-ID and set-group-ID bits cleared,
 * sticky kept), modification times and user.* extended attributes where the
 * target filesystem takes them.  Owners are whoever runs this.  Skipped with a
 * warning: device nodes and sockets (never created on disk), names that are
 * empty, "." or ".." or contain '/', entries whose name already exists,
 * directories reached a second time (loops in a hostile image) or deeper than
 * FL_EXTRACT_MAX_DEPTH, and files whose data the tree cannot read (damaged or
 * encrypted entries).  Directory modes are applied after their content, so
 * read-only directories are filled too.
 *
 * Returns 0 (@ret_stats filled when not NULL), or -errno when the target
 * cannot be written (ENOSPC, EDQUOT, EACCES...) or the tree cannot list a
 * directory; @err then names the path.  A failed extraction leaves partial
 * content for the caller to remove with fl_extract_remove().
 */
int fl_extract_tree(struct fl_tree *tree, int dirfd, const struct fl_extract_opts *opts,
		    struct fl_extract_stats *ret_stats, struct fl_error *err);

/*
 * fl_extract_remove() - remove @name in @dirfd and, if it is a directory,
 * everything below it, also read-only directories (their mode is changed
 * first).  Never follows a symlink and never descends into another
 * filesystem (a mount point below is left, with -EBUSY).  A missing @name is
 * success.  Returns 0 or the first -errno met (removal goes on past errors).
 */
int fl_extract_remove(int dirfd, const char *name);

#endif
