#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §1/§4: 200 000 entries in one directory, zip and squashfs: all
# listed (find | wc -l), a few read, in bounded time.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3
need_mksquashfs
FL_TIMEOUT=300
N=200000

python3 "$FL_FUNC/zipfix.py" many many.zip "$N"
# 200 000 files on a disk take minutes to create: use a tmpfs when there is
# one; -no-duplicates: mksquashfs' duplicate check is quadratic on so many
# files of equal size
flat=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	flat=$(mktemp -d /dev/shm/fl-many.XXXXXX)
fi
[ -n "$flat" ] || flat=$(mktemp -d "$T/flat.XXXXXX")
fl_on_exit "rm -rf '$flat'"
python3 -c '
import sys
for i in range(int(sys.argv[2])):
    with open(sys.argv[1] + "/f%06d" % i, "w") as f:
        f.write("%d\n" % i)' "$flat" "$N"
fx_sqfs "$flat" many.sqfs gzip -no-duplicates
rm -rf "$flat"

for a in many.zip many.sqfs; do
	n=${a%.*}
	t0=$(date +%s)
	fl_run -s "$n:$a" sh -c 'cd "$FUSELAGE_STATIC/'"$n"'" && find . | wc -l && cat f000000 f123456 f199999 && stat -c %s f077777'
	secs=$(($(date +%s) - t0))
	assert_ok "$a: served"
	assert_eq "$a: all $N entries listed (plus the root)" "$((N + 1))" "$(sed -n 1p <<<"$FL_OUT")"
	assert_eq "$a: entries read" "0
123456
199999
6" "$(sed -n 2,5p <<<"$FL_OUT")"
	assert_true "$a: listed within 120 s (took ${secs}s)" test "$secs" -lt 120
	t0=$(date +%s%N)
	fl_run -s "$n:$a" sh -c 'cat "$FUSELAGE_STATIC/'"$n"'/f100000"'
	ms=$((($(date +%s%N) - t0) / 1000000))
	assert_eq "$a: one file read without listing" "100000" "$FL_OUT"
	say "       ($a: start + one lookup + read: ${ms} ms)"
	assert_true "$a: start + one lookup within 10 s (${ms} ms)" test "$ms" -lt 10000
done
