#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4/§5 with real-world archives: Debian's pip wheel imported from the
# mount, a JAR (commons-cli) listed and a class compared with unzip -p, and
# a squashfs of the system Python run with --run, importing from the mount.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 unzip

# --- the pip wheel ---
whl=$(ls /usr/share/python-wheels/pip-*.whl 2>/dev/null | head -n 1)
if [ -n "$whl" ]; then
	want=$(basename "$whl" | sed -E 's/^pip-([^-]+)-.*/\1/')
	fl_run -s "pip:$whl" sh -c 'PYTHONPATH="$FUSELAGE_STATIC/pip" python3 -c "import pip, sys; print(pip.__version__); print(pip.__file__)"'
	assert_ok "the pip wheel is served"
	assert_eq "pip imports from the wheel with its version" "$want" "$(sed -n 1p <<<"$FL_OUT")"
	assert_match "pip.__file__ is inside the mount" "/procdirs/[0-9]+/static/pip/pip/__init__\.py$" "$(sed -n 2p <<<"$FL_OUT")"
	fl_run -s "pip:$whl" sh -c 'cd "$FUSELAGE_STATIC/pip" && find . -type f | wc -l'
	assert_eq "every file of the wheel is listed" "$(unzip -Z1 "$whl" | grep -vc '/$')" "$FL_OUT"
else
	[ "$FL_TEST_STRICT" = 1 ] && fl_fail "no /usr/share/python-wheels/pip-*.whl (Debian: python3-pip-whl)"
	note "no pip wheel (python3-pip-whl): that check was not made"
fi

# --- a JAR ---
jar=$(ls /usr/share/java/commons-cli-*.jar 2>/dev/null | head -n 1)
if [ -n "$jar" ]; then
	fl_run -s "cli:$jar" sh -c 'cd "$FUSELAGE_STATIC/cli" && find . -type f | sed "s|^\./||" | LC_ALL=C sort'
	assert_ok "the JAR is served"
	assert_text_eq "the JAR's file list" "$(unzip -Z1 "$jar" | grep -v '/$' | LC_ALL=C sort)" "$FL_OUT"
	cls=$(unzip -Z1 "$jar" | grep '\.class$' | grep -m1 'Options\.class$')
	unzip -p "$jar" "$cls" >expected.class
	timeout 30 "$FUSELAGE" -s "cli:$jar" sh -c 'cat "$FUSELAGE_STATIC/cli/$1"' sh "$cls" >got.class
	assert_files_eq "$cls equals unzip -p" expected.class got.class
	unzip -p "$jar" META-INF/MANIFEST.MF >expected.mf
	timeout 30 "$FUSELAGE" -s "cli:$jar" sh -c 'cat "$FUSELAGE_STATIC/cli/META-INF/MANIFEST.MF"' >got.mf
	assert_files_eq "META-INF/MANIFEST.MF equals unzip -p" expected.mf got.mf
else
	[ "$FL_TEST_STRICT" = 1 ] && fl_fail "no /usr/share/java/commons-cli-*.jar (Debian: libcommons-cli-java)"
	note "no commons-cli JAR (libcommons-cli-java): that check was not made"
fi

# --- a Python installation in squashfs, run with --run ---
need_mksquashfs
py=$(readlink -f /usr/bin/python3)
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$py" ] && [ -d "/usr/lib/python$ver/lib-dynload" ]; then
	mkdir -p py/bin py/lib
	cp "$py" py/bin/python3
	tar -C /usr/lib --exclude="python$ver/test" --exclude='__pycache__' --exclude="python$ver/idlelib" \
		--exclude="python$ver/tkinter" --exclude="python$ver/site-packages" --exclude="python$ver/dist-packages" \
		-cf - "python$ver" | tar -C py/lib -xf -
	fx_sqfs py python.sqfs zstd
	rm -rf py
	fl_run -s python.sqfs --run python/bin/python3 -- -c 'import json, sqlite3, sys
print(json.dumps({"ok": [1, 2]}))
print(json.__file__)
print(sqlite3.__file__)
import _sqlite3; print(_sqlite3.__file__)
print(sys.prefix)
con = sqlite3.connect(":memory:"); print(con.execute("select 6*7").fetchone()[0])'
	assert_ok "python from a squashfs runs with --run"
	S='/.*/procdirs/[0-9]+/static/python'
	assert_eq "json works" '{"ok": [1, 2]}' "$(sed -n 1p <<<"$FL_OUT")"
	assert_match "json is imported from the mount" "^$S/lib/python$ver/json/__init__\.py$" "$(sed -n 2p <<<"$FL_OUT")"
	assert_match "sqlite3 is imported from the mount" "^$S/lib/python$ver/sqlite3/__init__\.py$" "$(sed -n 3p <<<"$FL_OUT")"
	assert_match "the _sqlite3 extension is loaded from the mount" "^$S/lib/python$ver/lib-dynload/_sqlite3\." "$(sed -n 4p <<<"$FL_OUT")"
	assert_match "sys.prefix is the mount" "^$S$" "$(sed -n 5p <<<"$FL_OUT")"
	assert_eq "sqlite works" "42" "$(sed -n 6p <<<"$FL_OUT")"
else
	skip "cannot find the system python's stdlib for python$ver"
fi
