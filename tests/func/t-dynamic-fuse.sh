#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §5: the --dynamic POSIX behaviour suite (dynamic-posix.inc, dynposix.py)
# on the FUSE copy-on-write fallback (fusefs/cow.c), forced with
# FUSELAGE_DYNAMIC_BACKEND=fuse.  The fallback has none of overlayfs's limits
# in a user namespace: archive directories rename and hard links keep the
# inode number in every mode.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

FUSELAGE_DYNAMIC_BACKEND=fuse
# The fallback names each upper file in cow/0/upper of the run's tmpfs after
# the inode number it shows ("<ino>" or "<ino>.<k>"): list the paths that
# carry those numbers.
# shellcheck disable=SC2016
DYN_UPPER_FILES='for f in $(ls "${FUSELAGE_TMPDIR%/tmp}/cow/0/upper"); do find . -inum "${f%%.*}" -printf "%P\n"; done | sort'
. "$FL_FUNC/dynamic-posix.inc"
