#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §5: the --dynamic POSIX behaviour suite (dynamic-posix.inc, dynposix.py)
# on kernel overlayfs, forced with FUSELAGE_DYNAMIC_BACKEND=overlay.  In a
# user namespace (user mode) overlayfs has no redirect_dir and no inode index:
# renaming an archive directory may give EXDEV, and a hard link to an archive
# file may show another inode number.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

FUSELAGE_DYNAMIC_BACKEND=overlay
if [ "$FL_MODE" = user ]; then
	DYN_LOWER_DIR_RENAME=may
	DYN_LOWER_LINK_INO=may-differ
fi
# Overlayfs keeps copied-up files in the upper layer, cow/0/upper in the
# run's tmpfs (the parent of $FUSELAGE_TMPDIR).
# shellcheck disable=SC2016
DYN_UPPER_FILES='find "${FUSELAGE_TMPDIR%/tmp}/cow/0/upper" -type f -printf "%P\n" | sort'
. "$FL_FUNC/dynamic-posix.inc"
