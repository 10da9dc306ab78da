#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §6: --cache-static.  A first run converts a zip to squashfs in
# $FUSELAGE_HOME/cache (image + marker, the caller's, not world-writable, key
# = sha256sum prefix); later runs serve the image (same content, -v says
# "cache hit", the marker's mtime advances); base64 text of the zip hits the
# same entry; 10 concurrent cold runs leave one image, one marker, no temp
# file; no mksquashfs → a one-line note and the zip served; expiry in the
# background (FUSELAGE_CACHE_MAX_AGE_DAYS, 0 = never, 60 s, orphans, unknown
# names, symlinks never followed); squashfs and runs without the option
# write nothing.  Setuid mode: the cache is in the password-database home and
# every file in it is the caller's, never root's.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip python3 sha256sum base64
need_mksquashfs

if [ "$FL_MODE" = setuid ]; then
	# the home comes from the password database (shared with other
	# scenarios): only entries with this run's own random keys are used
	CACHE=$(fl_pw_home)/.fuselage/cache
else
	export FUSELAGE_HOME=$T/home
	CACHE=$FUSELAGE_HOME/cache
fi
unset FUSELAGE_CACHE_MAX_AGE_DAYS FUSELAGE_MKSQUASHFS
me=$(id -u)

rand_hex() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
key_of() { sha256sum "$1" | cut -c1-16; }
# a zip unique to this run (so keys never collide with other runs)
mkzip()
{
	local out=$1 d
	d=$(mktemp -d "$T/src.XXXXXX")
	fx_tree "$d"
	rand_hex >"$d/unique.txt"
	fx_zip "$d" "$out"
	rm -rf "$d"
	fl_on_exit "rm -f '$CACHE/$(key_of "$out")'.*; forget_ids '$(key_of "$out")'"
}
# the <id>.id name fuselage files a file's remembered key under (cache.h)
id_of() { printf 'fuselage-id-1 %s' "$(stat -c '%d %i %s %.9Y %.9Z' "$1")" | sha256sum | cut -c1-16; }
# remove every remembered key that names KEY
forget_ids()
{
	local f
	for f in "$CACHE"/*.id; do
		[ -f "$f" ] && [ "$(cat "$f")" = "$1" ] && rm -f "$f"
	done
	return 0
}
entries() { (cd "$CACHE" 2>/dev/null && ls -A | grep -F "$1" | sort | tr '\n' ' '); }
age_s() { echo $(($(date +%s) - $(stat -c %Y "$1"))); }

mkzip a.zip
ka=$(key_of a.zip)
fl_run -s a.zip sh -c 'python3 "$1" "$FUSELAGE_STATIC/a"' sh "$FL_FUNC/manifest.py"
assert_ok "a.zip served without the option"
printf '%s\n' "$FL_OUT" >zip-manifest
if [ "$FL_MODE" = setuid ]; then
	assert_eq "without the option nothing is written to cache/" "" "$(entries "$ka")"
else
	assert_false "without the option cache/ is not even created" test -e "$CACHE"
fi

# --- first run: conversion -------------------------------------------------------
fl_run -v --cache-static -s a.zip sh -c 'python3 "$1" "$FUSELAGE_STATIC/a"' sh "$FL_FUNC/manifest.py"
assert_ok "first --cache-static run"
assert_text_eq "first run: the zip's content" "$(cat zip-manifest)" "$FL_OUT"
assert_match "-v: a miss, then the conversion" "cache miss \(key $ka\).*" "$FL_ERR"
assert_match "-v: converted" "a\.zip: converted to .*/cache/$ka\.sfs" "$FL_ERR"
assert_eq "image and marker, named by the sha256 prefix" "$ka.complete $ka.sfs " "$(entries "$ka")"
assert_eq "the image is squashfs" "hsqs" "$(head -c 4 "$CACHE/$ka.sfs")"
assert_eq "cache/ is 0700 and the caller's" "700 $me" "$(stat -c '%a %u' "$CACHE")"
for f in "$ka.sfs" "$ka.complete"; do
	read -r mode uid < <(stat -c '%a %u' "$CACHE/$f")
	assert_eq "$f is owned by the caller (uid $me), never root" "$me" "$uid"
	assert_eq "$f is not group/world-writable" "0" "$((0$mode & 022))"
done
assert_eq "the marker is empty" "0" "$(stat -c %s "$CACHE/$ka.complete")"
ida=$(id_of a.zip)
assert_eq "the key is remembered for the file's identity" "$ka" "$(cat "$CACHE/$ida.id" 2>&1)"
assert_eq "... in a 0600 file of the caller's" "600 $me" "$(stat -c '%a %u' "$CACHE/$ida.id" 2>&1)"
assert_no_match "-v: the first run hashed the file" "remembered" "$FL_ERR"

# --- second run: a hit ----------------------------------------------------------------
touch -d '2 hours ago' "$CACHE/$ka.complete"
fl_run -v --cache-static -s a.zip sh -c 'python3 "$1" "$FUSELAGE_STATIC/a"' sh "$FL_FUNC/manifest.py"
assert_ok "second --cache-static run"
assert_match "-v says cache hit" "a\.zip: cache hit: .*/cache/$ka\.sfs" "$FL_ERR"
assert_match "-v: the key was remembered, not hashed again" "a\.zip: key $ka remembered" "$FL_ERR"
assert_match "-v: the image is served as squashfs" "serving a\.zip \(squashfs\)" "$FL_ERR"
assert_no_match "no second conversion" "converted" "$FL_ERR"
assert_text_eq "the image's content is the zip's" "$(cat zip-manifest)" "$FL_OUT"
assert_true "the marker's mtime advanced to the last use ($(age_s "$CACHE/$ka.complete") s ago)" \
	test "$(age_s "$CACHE/$ka.complete")" -lt 60
fl_run --cache-static -s a.zip sh -c 'cat "$FUSELAGE_STATIC/a/plain.txt"; cd "$FUSELAGE_STATIC/a" && bin/hello.sh x'
assert_eq "a hit is quiet without -v; files and programs work" "hello world
hello from bin/hello.sh: x" "$FL_OUT"
assert_eq "... and stderr is empty" "" "$FL_ERR"

# a remembered key is only ever used for the unchanged file: touched, the
# zip is hashed again (same bytes: still a hit); copied, the copy is another
# file; changed in place with its size and mtime put back (only the ctime
# moves), it is a different archive with a key of its own
sleep 0.01
touch a.zip
fl_run -v --cache-static -s a.zip cat /dev/null
assert_no_match "touched: the key is not taken from memory" "remembered" "$FL_ERR"
assert_match "touched: hashed again, the same key, a hit" "a\.zip: cache hit: .*/cache/$ka\.sfs" "$FL_ERR"
assert_eq "... and remembered for the new identity" "$ka" "$(cat "$CACHE/$(id_of a.zip).id" 2>&1)"
cp -p a.zip a2.zip
fl_run -v --cache-static -s a:a2.zip cat /dev/null
assert_no_match "a copy: another file, not remembered" "remembered" "$FL_ERR"
assert_match "a copy: the same bytes, the same entry" "cache hit: .*/cache/$ka\.sfs" "$FL_ERR"
# the first local header's time field (the central directory's copy is the
# one that counts): new bytes, the same size, the mtime put back
python3 - a2.zip <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(10)
    t = f.read(2)
    f.seek(10)
    f.write(bytes([t[0] ^ 0x20, t[1]]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
k2=$(key_of a2.zip)
fl_on_exit "rm -f '$CACHE/$k2'.*; forget_ids '$k2'"
assert_true "changed in place: new bytes, a new key" test "$k2" != "$ka"
assert_eq "... the same size" "$(stat -c %s a.zip)" "$(stat -c %s a2.zip)"
fl_run -v --cache-static -s a:a2.zip cat /dev/null
assert_no_match "changed in place (size and mtime kept): not remembered" "remembered" "$FL_ERR"
assert_match "... hashed again: its own new key" "cache miss \(key $k2\)" "$FL_ERR"

# base64 text of the zip is keyed by the decoded bytes: the same entry
{ printf '#!/usr/bin/env fuselage\n'; base64 -w 76 a.zip; } >a.zip.b64
fl_run -v --cache-static -s a:a.zip.b64 cat '/dev/null'
assert_ok "base64 text of the zip"
assert_match "base64 text of the zip hits the zip's entry" "cache hit: .*/cache/$ka\.sfs" "$FL_ERR"

# --- ten concurrent cold runs -----------------------------------------------------------
mkzip b.zip
kb=$(key_of b.zip)
pids=()
for i in 0 1 2 3 4 5 6 7 8 9; do
	timeout -k 5 120 "$FUSELAGE" --cache-static -s b.zip sh -c 'cat "$FUSELAGE_STATIC/b/plain.txt"' \
		</dev/null >"par$i.out" 2>"par$i.err" &
	pids+=($!)
done
bad=
for i in 0 1 2 3 4 5 6 7 8 9; do
	wait "${pids[$i]}" || bad="$bad run$i=$?"
	[ "$(cat "par$i.out")" = "hello world" ] || bad="$bad out$i=$(cat "par$i.out")"
	[ -s "par$i.err" ] && bad="$bad err$i=$(cat "par$i.err")"
done
assert_eq "10 concurrent cold runs all succeed, quietly" "" "$bad"
assert_eq "... leaving exactly one image, one marker and no temp file" \
	"$kb.complete $kb.sfs " "$(entries "$kb")"
fl_run -v --cache-static -s b.zip cat "/dev/null"
assert_match "... and the published image is served" "cache hit: .*/cache/$kb\.sfs" "$FL_ERR"

# --- without mksquashfs ----------------------------------------------------------------------
mkzip c.zip
kc=$(key_of c.zip)
if [ "$FL_MODE" = setuid ]; then
	# the testing knob is never taken from the caller of a setuid binary
	FUSELAGE_MKSQUASHFS=/nonexistent fl_run --cache-static -s c.zip cat /dev/null
	assert_ok "setuid: FUSELAGE_MKSQUASHFS is ignored"
	assert_eq "... the conversion still ran" "$kc.complete $kc.sfs " "$(entries "$kc")"
else
	FUSELAGE_MKSQUASHFS=/nonexistent fl_run --cache-static -s c.zip sh -c 'cat "$FUSELAGE_STATIC/c/plain.txt"'
	assert_ok "no mksquashfs: the run still works"
	assert_eq "... the zip is served" "hello world" "$FL_OUT"
	assert_eq "... with a one-line note" \
		"fuselage: note: mksquashfs not found; serving c.zip directly without caching" "$FL_ERR"
	assert_eq "... and nothing cached" "" "$(entries "$kc")"
	printf '#!/bin/sh\nexit 3\n' >fail-mksquashfs
	chmod 0755 fail-mksquashfs
	FUSELAGE_MKSQUASHFS=$T/fail-mksquashfs fl_run --cache-static -s c.zip sh -c 'cat "$FUSELAGE_STATIC/c/plain.txt"'
	assert_ok "a failing mksquashfs: the run still works"
	assert_match "... with a one-line note" "^fuselage: note: cannot cache c\.zip: mksquashfs failed \(status 3" "$FL_ERR"
	assert_eq "... one line" "1" "$(printf '%s\n' "$FL_ERR" | wc -l)"
	assert_eq "... and no temp file left" "" "$(entries "$kc")"
fi

# --- damaged or foreign entries ------------------------------------------------------------------
mkzip d.zip
kd=$(key_of d.zip)
printf 'not squashfs' >"$CACHE/$kd.sfs"
: >"$CACHE/$kd.complete"
fl_run -v --cache-static -s d.zip sh -c 'cat "$FUSELAGE_STATIC/d/plain.txt"'
assert_ok "an image that is not squashfs is a miss"
assert_match "... it is replaced by a fresh conversion" "d\.zip: converted to" "$FL_ERR"
assert_eq "... which is squashfs" "hsqs" "$(head -c 4 "$CACHE/$kd.sfs")"
mkzip e.zip
ke=$(key_of e.zip)
ln -s "$T/outside-e" "$CACHE/$ke.sfs"
fl_on_exit "rm -f '$CACHE/$ke.sfs'"
: >"$CACHE/$ke.complete"
fl_run --cache-static -s e.zip sh -c 'cat "$FUSELAGE_STATIC/e/plain.txt"'
assert_ok "a symlink named like the image: the zip is served"
assert_eq "... the content is right" "hello world" "$FL_OUT"
assert_match "... with a one-line note" "^fuselage: note: cannot cache e\.zip: $ke\.sfs in the cache is not a regular file" "$FL_ERR"
assert_true "... the symlink is left alone" test -L "$CACHE/$ke.sfs"
assert_false "... and never followed" test -e "$T/outside-e"

# --- an archive that cannot be read in full is never cached ------------------------------------
# mksquashfs alone would store an unreadable file as an empty one and exit 0.
mkzip f.zip
kf=$(key_of f.zip)
python3 - "$T/f.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "a", zipfile.ZIP_DEFLATED) as z:
    z.writestr("zz-big.txt", "".join("%d\n" % i for i in range(50000)))
PY
python3 "$FL_FUNC/zipfix.py" damage "$T/f.zip" zz-big.txt
kf=$(key_of f.zip)
fl_run --cache-static -s f.zip sh -c 'cat "$FUSELAGE_STATIC/f/plain.txt"'
assert_ok "a damaged entry: the run still works"
assert_eq "... the zip is served" "hello world" "$FL_OUT"
assert_match "... with a one-line note" "^fuselage: note: cannot cache f\.zip: mksquashfs failed" "$FL_ERR"
assert_eq "... one line" "1" "$(printf '%s\n' "$FL_ERR" | wc -l)"
assert_eq "... and no image, marker or temp file" "" "$(entries "$kf")"
fl_run --cache-static -s f.zip sh -c 'cat "$FUSELAGE_STATIC/f/zz-big.txt" >/dev/null; echo "status $?"'
assert_eq "... the next run still reads the damaged entry from the zip: an error, not an empty file" \
	"status 1" "$FL_OUT"
python3 - "$T/g.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    i = zipfile.ZipInfo("bin/run-only")
    i.external_attr = (0o100111 << 16)
    z.writestr(i, "#!/bin/sh\necho hi\n")
    z.writestr("plain.txt", "hello world\n")
PY
kg=$(key_of g.zip)
fl_run --cache-static -s g.zip sh -c 'cat "$FUSELAGE_STATIC/g/plain.txt"'
assert_ok "an entry of mode 0111"
if [ "$FL_MODE" = root ]; then
	# root's mksquashfs runs as nobody with CAP_DAC_READ_SEARCH: it reads
	# what root may read, so the image is complete
	assert_eq "root: cached" "$kg.complete $kg.sfs " "$(entries "$kg")"
	fl_run -v --cache-static -s g.zip sh -c 'wc -c <"$FUSELAGE_STATIC/g/bin/run-only"'
	assert_match "... served from the cache" "cache hit: .*/cache/$kg\.sfs" "$FL_ERR"
	assert_eq "... with the whole file, not an empty one" "18" "$FL_OUT"
else
	# the caller's mksquashfs cannot read it, and would store it empty
	assert_match "... not cached, with a one-line note" "^fuselage: note: cannot cache g\.zip: mksquashfs failed" "$FL_ERR"
	assert_eq "... nothing left in the cache" "" "$(entries "$kg")"
fi

# --- squashfs: nothing to do ----------------------------------------------------------------------
mkdir -p sq && printf 'sq\n' >sq/f
fx_sqfs sq s.sfs gzip
ks=$(key_of s.sfs)
before=$(ls -A "$CACHE" | wc -l)
fl_run -v --cache-static -s s.sfs cat '/dev/null'
assert_ok "--cache-static with a squashfs image"
assert_match "-v: not a zip, nothing to cache" "s\.sfs: not a zip" "$FL_ERR"
assert_eq "... nothing written to cache/" "$before" "$(ls -A "$CACHE" | wc -l)"
assert_eq "... no entry for its key" "" "$(entries "$ks")"

# --- expiry --------------------------------------------------------------------------------------------
mkdir -p outside
printf 'keep me\n' >outside/victim
touch -d '100 days ago' outside/victim
declare -A K
for n in old young noexp orph orphyoung tmp tmpyoung lnk lnkm unk; do K[$n]=$(rand_hex); done
mk() { printf 'x' >"$CACHE/$1"; touch -d "$2" "$CACHE/$1"; fl_on_exit "rm -f '$CACHE/$1'"; }
mk "${K[old]}.sfs" '5 days ago'
mk "${K[old]}.complete" '3 days ago'
mk "${K[young]}.sfs" '5 days ago'
mk "${K[young]}.complete" '20 seconds ago'
mk "${K[orph]}.sfs" '2 hours ago'
mk "${K[orphyoung]}.sfs" '10 minutes ago'
mk "${K[tmp]}.sfs.tmp.1.2" '2 hours ago'
mk "${K[tmpyoung]}.sfs.tmp.1.2" '10 minutes ago'
mk "${K[unk]}.sfs.bak" '100 days ago'
ln -s "$T/outside/victim" "$CACHE/${K[lnk]}.sfs"
ln -s "$T/outside/victim" "$CACHE/${K[lnkm]}.complete"
touch -h -d '100 days ago' "$CACHE/${K[lnk]}.sfs" "$CACHE/${K[lnkm]}.complete"
fl_on_exit "rm -f '$CACHE/${K[lnk]}.sfs' '$CACHE/${K[lnkm]}.complete'"
# the reaper starts at exit, detached: "out=$(...)" returns at once
t0=$(date +%s%N)
out=$(FUSELAGE_CACHE_MAX_AGE_DAYS=1 timeout 60 "$FUSELAGE" --cache-static -s a.zip cat '/dev/null' 2>&1)
t1=$(date +%s%N)
assert_eq "run with FUSELAGE_CACHE_MAX_AGE_DAYS=1" "" "$out"
assert_true "... returned at once ($(((t1 - t0) / 1000000)) ms)" test $(((t1 - t0) / 1000000)) -lt 5000
gone() { ! test -e "$CACHE/$1" && ! test -L "$CACHE/$1"; }
for i in $(seq 1 100); do
	gone "${K[old]}.sfs" && gone "${K[old]}.complete" && gone "${K[orph]}.sfs" &&
		gone "${K[tmp]}.sfs.tmp.1.2" && break
	sleep 0.1
done
assert_true "unused for more than a day: image removed" gone "${K[old]}.sfs"
assert_true "... and its marker" gone "${K[old]}.complete"
assert_true "an image with no marker older than an hour removed" gone "${K[orph]}.sfs"
assert_true "a temp file older than an hour removed" gone "${K[tmp]}.sfs.tmp.1.2"
assert_true "used 20 s ago: image kept" test -f "$CACHE/${K[young]}.sfs"
assert_true "... and its marker" test -f "$CACHE/${K[young]}.complete"
assert_true "an image with no marker, 10 minutes old: kept" test -f "$CACHE/${K[orphyoung]}.sfs"
assert_true "a temp file 10 minutes old: kept" test -f "$CACHE/${K[tmpyoung]}.sfs.tmp.1.2"
assert_true "a name the cache does not make: kept" test -f "$CACHE/${K[unk]}.sfs.bak"
assert_true "a symlink named like an image: kept" test -L "$CACHE/${K[lnk]}.sfs"
assert_true "a symlink named like a marker: kept" test -L "$CACHE/${K[lnkm]}.complete"
assert_eq "the file outside that they point to is untouched" "keep me" "$(cat outside/victim)"
assert_true "the entry in use (a.zip) is kept" test -f "$CACHE/$ka.sfs"

# 0 = never; an invalid value means the default (30 days), with a one-line
# note even without -v
mk "${K[noexp]}.sfs" '400 days ago'
mk "${K[noexp]}.complete" '400 days ago'
FUSELAGE_CACHE_MAX_AGE_DAYS=0 fl_run --cache-static -s a.zip cat '/dev/null'
sleep 2
assert_true "FUSELAGE_CACHE_MAX_AGE_DAYS=0: a 400-day-old entry is kept" \
	test -f "$CACHE/${K[noexp]}.complete" -a -f "$CACHE/${K[noexp]}.sfs"
FUSELAGE_CACHE_MAX_AGE_DAYS=abc fl_run --cache-static -s a.zip cat '/dev/null'
assert_eq "an invalid value: a one-line note, without -v" \
	"fuselage: note: FUSELAGE_CACHE_MAX_AGE_DAYS=abc is not a number of days; using 30" "$FL_ERR"
for i in $(seq 1 100); do
	gone "${K[noexp]}.complete" && break
	sleep 0.1
done
assert_true "... and the default, 30 days, applies" gone "${K[noexp]}.complete"
assert_true "... to the image too" gone "${K[noexp]}.sfs"
assert_true "... while the entry used 20 s ago stays" test -f "$CACHE/${K[young]}.sfs"
