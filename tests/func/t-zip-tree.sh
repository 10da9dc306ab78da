#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4: zip archives of the fixture tree, made by Info-ZIP (zip -r -y:
# Unix modes, symlinks, extended timestamps) and by python's zipfile
# (stored and deflated, Unix modes in the external attributes): every entry
# is served with its mode, size, content, link target and (Info-ZIP) mtime.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip python3

fx_tree src
fl_manifest src >expected
fl_manifest src --no-mtime >expected-nomtime

check()
{
	local zipfile=$1 want=$2 opt=${3:-} name
	name=$(basename "$zipfile" .zip)
	fl_run -s "$zipfile" sh -c 'python3 "$1" "$FUSELAGE_STATIC/'"$name"'" '"$opt" sh "$FL_FUNC/manifest.py"
	assert_ok "$name: served"
	printf '%s\n' "$FL_OUT" >"got-$name"
	assert_files_eq "$name: every entry as in the source tree" "$want" "got-$name"
}
fx_zip src infozip.zip
assert_eq "infozip.zip starts with PK\\3\\4" "PK" "$(head -c 2 infozip.zip)"
check infozip.zip expected
fx_zip src infozip-stored.zip -0
check infozip-stored.zip expected
fx_zip_py src py-deflated.zip deflated
check py-deflated.zip expected-nomtime --no-mtime
fx_zip_py src py-stored.zip stored
check py-stored.zip expected-nomtime --no-mtime

# the same tree read through a symlink, by another program (cat, not python)
fl_run -s infozip.zip sh -c 'cat "$FUSELAGE_STATIC/infozip/link"; cat "$FUSELAGE_STATIC/infozip/sub/uplink"; readlink "$FUSELAGE_STATIC/infozip/dangling"'
assert_eq "zip symlinks resolve inside the mount" "hello world
hello world
/nonexistent/target" "$FL_OUT"
# an empty zip is an empty directory
python3 -c 'import zipfile; zipfile.ZipFile("empty.zip", "w").close()'
fl_run -s empty.zip sh -c 'ls -A "$FUSELAGE_STATIC/empty" | wc -l'
assert_ok "an empty zip is served"
assert_eq "an empty zip is an empty directory" "0" "$FL_OUT"
# a zip with data in front (self-extracting style) and a .pyz zipapp
{ printf '#!/usr/bin/env python3\n'; cat py-deflated.zip; } >front.bin
fl_run -s front:front.bin sh -c 'cat "$FUSELAGE_STATIC/front/plain.txt"'
assert_ok "a zip with data in front is detected"
assert_eq "... and served" "hello world" "$FL_OUT"
