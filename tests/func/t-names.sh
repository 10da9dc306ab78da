#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.1: archive names — derivation, NAME:FILE, a whole argument with ':'
# that is a file, invalid names, fixed-path form, duplicates.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip
mkdir sub
# derived names: the last component minus ONE of the suffixes, in order
for f in x1.sfs x2.sqfs x3.squashfs d.zip t.zip.b64 app weird.tar a.sfs.zip b.zip.sfs sub/d2.zip; do
	cp a.zip "$f"
done
derive_check()
{
	local file=$1 want=$2
	fl_run -s "$file" sh -c 'ls "$FUSELAGE_STATIC"'
	assert_ok "--static=$file runs"
	assert_eq "--static=$file is named '$want'" "$want" "$FL_OUT"
}
derive_check x1.sfs x1
derive_check x2.sqfs x2
derive_check x3.squashfs x3
derive_check d.zip d
derive_check t.zip.b64 t.zip
derive_check app app
derive_check weird.tar weird.tar
derive_check a.sfs.zip a.sfs
derive_check b.zip.sfs b.zip
derive_check sub/d2.zip d2
derive_check "$T/sub/d2.zip" d2

# NAME:FILE splits at the first ':'
fl_run -s foo:a.zip sh -c 'ls "$FUSELAGE_STATIC"; cat "$FUSELAGE_STATIC/foo/hello.txt"'
assert_eq "NAME:FILE names the mount" "foo
hello" "$FL_OUT"
cp a.zip 'sub/x:y.zip'
fl_run -s 'n:sub/x:y.zip' sh -c 'ls "$FUSELAGE_STATIC"'
assert_eq "NAME:FILE splits at the first ':' (FILE may hold ':')" "n" "$FL_OUT"
# the whole argument is an existing file: it is the FILE
cp a.zip 'c:d.zip'
fl_run -s 'c:d.zip' sh -c 'ls "$FUSELAGE_STATIC"'
assert_ok "an existing file whose name has ':'"
assert_eq "... is named from the whole file name" "c:d" "$FL_OUT"
cp a.zip 'e:f'
fl_run -s 'e:f' sh -c 'ls "$FUSELAGE_STATIC"'
assert_eq "an existing file 'e:f' (no suffix) is named 'e:f'" "e:f" "$FL_OUT"
# neither the whole argument nor FILE exists
fl_run -s 'nosuch:missing.zip' echo ran
assert_fl_error "NAME:FILE with a missing FILE" "missing\.zip"
fl_run -s missing.zip echo ran
assert_fl_error "a missing FILE" "missing\.zip.*(No such file|not found|does not exist)"
fl_run -s 'foo:' echo ran
assert_fl_error "NAME: without FILE" "foo:"

# empty derived name: suggest NAME:FILE
cp a.zip .zip
fl_run -s .zip echo ran
assert_fl_error "a file called '.zip' has no name" "NAME:FILE"
cp a.zip .sfs
fl_run --static=.sfs echo ran
assert_fl_error "a file called '.sfs' has no name" "NAME:FILE"

# invalid names
for bad in ':a.zip' '.:a.zip' '..:a.zip' 'a/b:a.zip' $'a\tb:a.zip'; do
	fl_run -s "$bad" echo ran
	assert_fl_error "invalid name in --static=$(printf %q "$bad")" "name|NAME"
done
for bad in '' '.' '..' 'a/b' '/tmp/x' '/run/fuselage/../x' '/run/fuselage/a/b' '/run/fuselage/' '/run/fuselage' '/run/fuselagex' '/run/fuselage/..' '/run/fuselage/.'; do
	fl_run --dynamic-empty="$bad" echo ran
	assert_fl_error "invalid --dynamic-empty=$bad" "dynamic-empty|name|NAME|empty"
done
# fixed path form: exactly one component under /run/fuselage/
for bad in '/run/fuselage/../x' '/run/fuselage/a/b' '/tmp/x' '/run/fuselage/' '/run/fuselagex' '/run/fuselage/..' '/run/fuselage/.' '/x'; do
	fl_run -s "$bad:a.zip" echo ran
	assert_fl_error "fixed path form: --static=$bad:a.zip refused" "$(printf '%s' "$bad" | sed 's/[.]/[.]/g')"
done
fl_run -s /tmp/x:a.zip echo ran
assert_match "an absolute NAME outside /run/fuselage says what is allowed" '/run/fuselage/' "$FL_ERR"

# duplicates name both arguments and suggest NAME:
cp a.zip b.zip
fl_run -s a.zip -s a:b.zip echo ran
assert_fl_error "duplicate names" "--static=a\.zip.*--static=a:b\.zip"
assert_match "duplicate names suggest NAME:" "NAME" "$FL_ERR"
fl_run -s a.zip --dynamic-empty=a echo ran
assert_fl_error "duplicate across --static and --dynamic-empty" "--static=a\.zip.*--dynamic-empty=a"
fl_run --dynamic-empty=w --dynamic-empty=w echo ran
assert_fl_error "duplicate --dynamic-empty" "--dynamic-empty=w.*--dynamic-empty=w"
fl_run -s /run/fuselage/a:b.zip -s a.zip echo ran
assert_fl_error "a fixed path's key is its last component" "/run/fuselage/a:b\.zip.*a\.zip"
fl_run -s sub/d2.zip -s d2.zip echo ran
assert_fl_error "duplicate derived names from different dirs" "sub/d2\.zip.*d2\.zip"
# different names are fine
fl_run -s a.zip -s b.zip -s c:a.zip sh -c 'ls "$FUSELAGE_STATIC" | tr "\n" " "'
assert_eq "three distinct names" "a b c " "$FL_OUT"
