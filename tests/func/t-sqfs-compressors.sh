#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4: squashfs 4.0 with each compression (gzip xz lzo lz4 zstd): the
# whole fixture tree (modes, sizes, contents, mtimes, symlinks, sparse file,
# unicode names) is served exactly.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need_mksquashfs
need python3

fx_tree src
fl_manifest src >expected
avail=$("$MKSQUASHFS" -help 2>&1 || :)
for comp in gzip xz lzo lz4 zstd; do
	if ! grep -Eq "^[[:space:]]+$comp( |$)" <<<"$avail"; then
		fl_fail "mksquashfs here cannot write $comp images" "$(grep -A8 -i 'compressors available' <<<"$avail")"
		continue
	fi
	fx_sqfs src "img-$comp.sqfs" "$comp"
	assert_eq "the $comp image starts with hsqs" "hsqs" "$(head -c 4 "img-$comp.sqfs")"
	fl_run -s "img-$comp.sqfs" sh -c 'python3 "$1" "$FUSELAGE_STATIC/img-'"$comp"'"' sh "$FL_FUNC/manifest.py"
	assert_ok "$comp: the image is served"
	printf '%s\n' "$FL_OUT" >"got-$comp"
	assert_files_eq "$comp: every entry as in the source tree" expected "got-$comp"
done
