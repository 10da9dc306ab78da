#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - side-by-side benchmarks of fuselage against its peers
# (extraction, squashfuse_ll, fuse-zip, kernel squashfs on a loop device).
# See bench/README.md for what is measured and how; results are written as
# a Markdown table to stdout (and to --out FILE).

set -u -o pipefail

usage() {
	cat <<'EOF'
usage: bench/run.sh [--quick] [--reps N] [--cache DIR] [--fuselage PATH]
                    [--rows "1 2 3 4 5 6 7 8 9"] [--out FILE] [--keep-going]

  --quick          small data sets (5k files/50 MB, 128 MiB file, 20k tiny
                   files) and 3 repeats; a few minutes
  --reps N         repeats per measurement (default 5, --quick 3)
  --cache DIR      where data sets are built once (default $FL_BENCH_CACHE
                   or /var/tmp/fl-bench)
  --fuselage PATH  the binary to measure (default $FUSELAGE, else the one in
                   PATH, else ./fuselage)
  --rows LIST      only these rows (default: all)
  --out FILE       also write the Markdown report to FILE
EOF
}

MODE=full
REPS=
CACHE=${FL_BENCH_CACHE:-/var/tmp/fl-bench}
FL=${FUSELAGE:-}
ROWS="1 2 3 4 5 6 7 8 9"
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) MODE=quick ;;
	--full) MODE=full ;;
	--reps) REPS=$2; shift ;;
	--reps=*) REPS=${1#*=} ;;
	--cache) CACHE=$2; shift ;;
	--cache=*) CACHE=${1#*=} ;;
	--fuselage) FL=$2; shift ;;
	--fuselage=*) FL=${1#*=} ;;
	--rows) ROWS=$2; shift ;;
	--rows=*) ROWS=${1#*=} ;;
	--out) OUT=$2; shift ;;
	--out=*) OUT=${1#*=} ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

if [ "$MODE" = quick ]; then
	: "${REPS:=3}"
	TREE_FILES=5000 TREE_MB=50 BIG_MB=128 TINY_FILES=20000 REINFLATE_SAMPLE=20 DYN_SRC_FILES=100
else
	: "${REPS:=5}"
	TREE_FILES=50000 TREE_MB=500 BIG_MB=1024 TINY_FILES=200000 REINFLATE_SAMPLE=10 DYN_SRC_FILES=400
fi
NREAD=1000 # row 4: random 4 KiB reads

if [ -z "$FL" ]; then
	FL=$(command -v fuselage || true)
	[ -n "$FL" ] || FL=./fuselage
fi
FL=$(readlink -f "$FL")
[ -x "$FL" ] || { echo "run.sh: no fuselage binary at $FL (use --fuselage)" >&2; exit 2; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

SET=$CACHE/$MODE
mkdir -p "$SET" || exit 2
RES=$(mktemp -d "${TMPDIR:-/tmp}/fl-bench-res.XXXXXX")
chmod 755 "$RES"
MNT=$CACHE/mnt.$$
mkdir -p "$MNT"
SAMPLES=$RES/samples.tsv
: >"$SAMPLES"

cleanup() {
	for m in "$MNT"/*; do
		[ -d "$m" ] || continue
		mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null; }
	done
	rm -rf "$MNT" "$CACHE"/x.$$ 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- data sets

gen_py() {
	cat >"$SET/gen.py" <<'EOF'
import os, random, sys
kind, dest = sys.argv[1], sys.argv[2]
rnd = random.Random(20240601)
LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
PATHS = ["/api/v1/items", "/api/v1/users", "/static/app.js", "/healthz", "/api/v2/search"]
def logchunk(r, size):
    out, n = [], 0
    t = r.randrange(1_700_000_000)
    while n < size:
        t += r.randrange(3)
        line = "%d.%03d %s worker-%d req=%08x %s/%d status=%d bytes=%d ms=%d\n" % (
            t, r.randrange(1000), r.choice(LEVELS), r.randrange(16), r.getrandbits(32),
            r.choice(PATHS), r.randrange(100000), r.choice((200, 200, 200, 404, 500)),
            r.randrange(1 << 20), r.randrange(2000))
        out.append(line); n += len(line)
    return "".join(out).encode()[:size]
chunks = [logchunk(rnd, 1 << 20) for _ in range(48)]
def text(size):
    b, out = bytearray(), 0
    while len(b) < size:
        c = rnd.choice(chunks); o = rnd.randrange(len(c) // 2)
        b += c[o:o + min(size - len(b), len(c) - o)]
    return bytes(b)
if kind == "big":
    mb = int(sys.argv[3])
    with open(dest, "wb") as f:
        for _ in range(mb):
            f.write(rnd.choice(chunks))
elif kind == "tree":
    nfiles, total = int(sys.argv[3]), int(sys.argv[4]) << 20
    # mixed sizes: 90% small (0.2-4 KiB), 9% medium (16-64 KiB), 1% large;
    # large files absorb what is left of the byte budget.
    sizes = []
    for i in range(nfiles):
        x = rnd.random()
        sizes.append(rnd.randrange(200, 4096) if x < 0.9 else
                     rnd.randrange(16384, 65536) if x < 0.99 else -1)
    big = [i for i, s in enumerate(sizes) if s < 0]
    rest = max(total - sum(s for s in sizes if s > 0), len(big) * 4096)
    for i in big:
        sizes[i] = rest // len(big)
    for i, s in enumerate(sizes):
        d = os.path.join(dest, "d%02d" % (i % 40), "s%02d" % ((i // 40) % 25))
        os.makedirs(d, exist_ok=True)
        if rnd.random() < 0.5:
            data, ext = text(s), "txt"
        else:
            data, ext = rnd.randbytes(s), "bin"
        with open(os.path.join(d, "f%06d.%s" % (i, ext)), "wb") as f:
            f.write(data)
elif kind == "tiny":
    n = int(sys.argv[3])
    for i in range(n):
        d = os.path.join(dest, "p%03d" % (i % 200), "q%02d" % ((i // 200) % 50))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "t%06d" % i), "w") as f:
            f.write("tiny file %d %x\n" % (i, rnd.getrandbits(48)))
elif kind == "offsets":
    size, n = int(sys.argv[3]), int(sys.argv[4])
    r = random.Random(42)
    with open(dest, "w") as f:
        for _ in range(n):
            f.write("%d\n" % r.randrange(size - 4096))
EOF
}

# build_set NAME GEN-ARGS...: src dir $SET/src/NAME -> NAME.zip, NAME.sqfs
build_set() {
	local name=$1; shift
	[ -e "$SET/$name.done" ] && return 0
	log "building data set $name ($*)"
	local src=$SET/src/$name
	rm -rf "$src" "$SET/$name.zip" "$SET/$name.sqfs"
	mkdir -p "$src"
	if [ "$name" = big ]; then
		python3 "$SET/gen.py" big "$src/big.log" "$@" || return 1
	else
		python3 "$SET/gen.py" "$name" "$src" "$@" || return 1
	fi
	(cd "$src" && zip -q -r -X "$SET/$name.zip" .) || return 1
	mksquashfs "$src" "$SET/$name.sqfs" -noappend -quiet -no-progress >/dev/null || return 1
	find "$src" -type f | wc -l >"$SET/$name.nfiles"
	du -sb "$src" | cut -f1 >"$SET/$name.bytes"
	rm -rf "$src"
	touch "$SET/$name.done"
}

build_data() {
	for t in zip unzip mksquashfs unsquashfs python3 gcc; do
		have $t || { echo "run.sh: $t is required" >&2; exit 2; }
	done
	gen_py
	# row 9 alone needs only big (and its own src set)
	if [ "$ROWS" != 9 ]; then
		build_set tree "$TREE_FILES" "$TREE_MB" || exit 1
		build_set tiny "$TINY_FILES" || exit 1
	fi
	build_set big "$BIG_MB" || exit 1
	if [ ! -e "$SET/offsets.txt" ]; then
		python3 "$SET/gen.py" offsets "$SET/offsets.txt" $((BIG_MB << 20)) "$NREAD" || exit 1
	fi
	# the file read by row 1: a small file from the middle of the tree
	SMALL=$(unzip -Z1 "$SET/tree.zip" 2>/dev/null | grep '\.txt$' | awk '{ l[NR] = $0 } END { print l[int(NR / 2)] }')
	TINY1=$(unzip -Z1 "$SET/tiny.zip" 2>/dev/null | grep '/t' | awk '{ l[NR] = $0 } END { print l[int(NR / 2)] }')
	# row 4 reader
	cat >"$SET/randread.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	static char buf[4096];
	static long long off[100000];
	int n = 0;
	FILE *f = fopen(argv[2], "r");
	if (!f) return 2;
	while (n < 100000 && fscanf(f, "%lld", &off[n]) == 1) n++;
	fclose(f);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) { perror(argv[1]); return 1; }
	for (int i = 0; i < n; i++)
		if (pread(fd, buf, sizeof buf, off[i]) != sizeof buf) { perror("pread"); return 1; }
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
EOF
	gcc -O2 -o "$SET/randread" "$SET/randread.c" || exit 1
	cat >"$SET/reinflate.py" <<'EOF'
# re-inflate from zero for each read: open the member, seek (zipfile inflates
# and discards everything before the offset), read 4 KiB.
import sys, time, zipfile
z = zipfile.ZipFile(sys.argv[1]); name = sys.argv[2]
offs = [int(l) for l in open(sys.argv[3])][:int(sys.argv[4])]
t = time.monotonic()
for o in offs:
    with z.open(name) as f:
        f.seek(o)
        assert len(f.read(4096)) == 4096
print("%.6f" % ((time.monotonic() - t) / len(offs)))
EOF
}

# ------------------------------------------------------------- measurement

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# elapsed seconds between two $EPOCHREALTIME values
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }

# measure ROW KEY LABEL FUNC ARGS...: FUNC prints seconds (or a number) as
# its last stdout line; non-numeric output or failure records nothing.
measure() {
	local row=$1 key=$2 label=$3 i v; shift 3
	for ((i = 1; i <= REPS; i++)); do
		v=$("$@" 2>>"$RES/stderr.log" | tail -n1)
		if [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
			printf '%s\t%s\t%s\t%s\n' "$row" "$key" "$label" "$v" >>"$SAMPLES"
		else
			log "  $key: run $i failed (${v:-no output}); see $RES/stderr.log"
			echo "$key run $i: '$v'" >>"$RES/stderr.log"
		fi
	done
	log "  $key: $(stat_of "$key" | awk '{ print "median " $1 }')"
}
# stat_of KEY -> "median min max n"
stat_of() {
	awk -F'\t' -v k="$1" '$2 == k { print $4 }' "$SAMPLES" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "NA NA NA 0"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m, v[1], v[NR], NR }'
}
med() { stat_of "$1" | cut -d' ' -f1; }
# measure_few: the same with at most 3 repeats, for the slow baselines
# (extracting a whole archive, re-inflating from zero): their ratios to
# fuselage are in the hundreds, so precision matters less than run time.
measure_few() { local REPS=$(( REPS < 3 ? REPS : 3 )); measure "$@"; }

mp() { local d=$MNT/$1; mkdir -p "$d"; echo "$d"; }
wait_mounted() { local i; for ((i = 0; i < 2000; i++)); do mountpoint -q "$1" && return 0; sleep 0.005; done; return 1; }
fuse_umount() { fusermount3 -u "$1" 2>/dev/null || umount -l "$1"; }

# mount_peer KIND ARCHIVE DIR: kernel | squashfuse | fusezip (returns when it answers)
mount_peer() {
	case $1 in
	# A new loop device every time: `mount -o loop` reuses a device still
	# attached to the same file, and a mount copied into some other
	# namespace (any concurrent fuselage run) keeps it attached, so the next
	# "fresh" mount would share the old superblock and its page cache.
	kernel) local dev; dev=$(losetup -f --show -r "$2") &&
		{ mount -t squashfs -o ro "$dev" "$3" || { losetup -d "$dev"; false; }; } ;;
	squashfuse) squashfuse_ll "$2" "$3" && wait_mounted "$3" ;;
	fusezip) fuse-zip -r "$2" "$3" && wait_mounted "$3" ;;
	esac
}
umount_peer() {
	if [ "$1" = kernel ]; then
		local dev; dev=$(findmnt -n -o SOURCE "$2")
		umount "$2"; [ -n "$dev" ] && losetup -d "$dev" 2>/dev/null
	else
		fuse_umount "$2"
	fi
	return 0
}

# Row 1: end to end, one small file. fuselage runs `sh -c 'exec cat ...'`
# because the command itself has to expand $FUSELAGE_STATIC.
r1_fuselage() { # ARCHIVE PATH [cold]
	[ "${3:-}" = cold ] && drop_caches
	local s=$EPOCHREALTIME
	"$FL" "${FL_OPTS[@]}" --static="a:$1" -- sh -c 'exec cat "$FUSELAGE_STATIC/a/$0"' "$2" >/dev/null || return 1
	delta "$s" "$EPOCHREALTIME"
}
r1_extract() { # unzip|unsquashfs ARCHIVE PATH [cold]
	local x=$CACHE/x.$$ s e rc=0
	rm -rf "$x"
	# Flush the previous run's writes first, or this run is timed against
	# their writeback (measured: 50-90 s instead of ~5 s for the tree).
	sync
	[ "${4:-}" = cold ] && drop_caches
	s=$EPOCHREALTIME
	if [ "$1" = unzip ]; then
		unzip -q "$2" -d "$x" >/dev/null && cat "$x/$3" >/dev/null || rc=1
	else
		unsquashfs -d "$x" "$2" >/dev/null && cat "$x/$3" >/dev/null || rc=1
	fi
	e=$EPOCHREALTIME
	rm -rf "$x"
	[ $rc = 0 ] && delta "$s" "$e"
}
r1_peer() { # KIND ARCHIVE PATH
	local d s rc=0; d=$(mp r1)
	s=$EPOCHREALTIME
	mount_peer "$1" "$2" "$d" && cat "$d/$3" >/dev/null || rc=1
	umount_peer "$1" "$d"
	[ $rc = 0 ] && delta "$s" "$EPOCHREALTIME"
}

# Rows 2-4 time the work only, inside a fresh mount (archive file in the
# page cache = warm; caches dropped after the mount is up = cold).
# INNER is a bash snippet that uses $D (the mounted archive root).
inner_fuselage() { # ARCHIVE INNER [cold]
	"$FL" "${FL_OPTS[@]}" --static="a:$1" -- bash -c '
		D=$FUSELAGE_STATIC/a
		[ "$1" = cold ] && { sync; echo 3 >/proc/sys/vm/drop_caches; }
		s=$EPOCHREALTIME; eval "$0" || exit 1; e=$EPOCHREALTIME
		echo "$s $e"' "$2" "${3:-warm}" | tail -n1 | awk 'NF == 2 { printf "%.6f\n", $2 - $1 }'
}
inner_peer() { # KIND ARCHIVE INNER [cold]
	local D s e rc=0; D=$(mp inner)
	mount_peer "$1" "$2" "$D" || { umount_peer "$1" "$D"; return 1; }
	[ "${4:-}" = cold ] && drop_caches
	s=$EPOCHREALTIME
	eval "$3" || rc=1
	e=$EPOCHREALTIME
	umount_peer "$1" "$D"
	[ $rc = 0 ] && delta "$s" "$e"
}
reinflate() { python3 "$SET/reinflate.py" "$SET/big.zip" big.log "$SET/offsets.txt" "$REINFLATE_SAMPLE" | awk -v n="$NREAD" '{ printf "%.6f\n", $1 * n }'; }

# Row 6: peak RSS (VmHWM, KiB) of the serving process after the work.
FL_HWM_SNIPPET='
	eval "$0" >/dev/null || exit 1
	anc=" $$ "; p=$$
	while [ "$p" -gt 1 ]; do p=$(ps -o ppid= -p "$p" | tr -d " "); anc="$anc$p "; done
	best=0
	for a in $anc; do for c in $(pgrep -x fuselage -P "$a"); do
		case "$anc" in *" $c "*) continue ;; esac
		h=$(awk "/^VmHWM/ { print \$2 }" /proc/$c/status)
		[ "${h:-0}" -gt "$best" ] && best=$h
	done; done
	echo "$best"'
hwm_fuselage() { # ARCHIVE WORK
	"$FL" --static="a:$1" -- bash -c 'D=$FUSELAGE_STATIC/a; '"$FL_HWM_SNIPPET" "$2" | tail -n1
}
hwm_peer() { # KIND ARCHIVE WORK
	local D pid h; D=$(mp hwm)
	mount_peer "$1" "$2" "$D" || return 1
	pid=$(pgrep -f "$D\$" | head -1)
	eval "$3" >/dev/null
	h=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
	umount_peer "$1" "$D"
	echo "$h"
}

# ------------------------------------------------------------------- rows

want() { [[ " $ROWS " == *" $1 "* ]]; }
canpeer() { case $1 in kernel) [ $IS_ROOT = 1 ] ;; squashfuse) have squashfuse_ll ;; fusezip) have fuse-zip ;; esac; }

row1() {
	log "row 1: time until a command has read one small file ($SMALL)"
	local t=$SET/tree
	measure 1 r1.fl.zip "fuselage, zip" r1_fuselage "$t.zip" "$SMALL"
	measure 1 r1.fl.sqfs "fuselage, squashfs" r1_fuselage "$t.sqfs" "$SMALL"
	measure_few 1 r1.unzip "unzip, then cat" r1_extract unzip "$t.zip" "$SMALL"
	measure_few 1 r1.unsquashfs "unsquashfs, then cat" r1_extract unsquashfs "$t.sqfs" "$SMALL"
	canpeer fusezip && measure 1 r1.fusezip "fuse-zip -r mount+cat+umount" r1_peer fusezip "$t.zip" "$SMALL"
	canpeer squashfuse && measure 1 r1.sqfuse "squashfuse_ll mount+cat+umount" r1_peer squashfuse "$t.sqfs" "$SMALL"
	canpeer kernel && measure 1 r1.kernel "kernel squashfs mount+cat+umount" r1_peer kernel "$t.sqfs" "$SMALL"
	if [ $IS_ROOT = 1 ]; then
		measure 1 r1.fl.zip.cold "fuselage, zip (cold)" r1_fuselage "$t.zip" "$SMALL" cold
		measure 1 r1.fl.sqfs.cold "fuselage, squashfs (cold)" r1_fuselage "$t.sqfs" "$SMALL" cold
		measure_few 1 r1.unzip.cold "unzip, then cat (cold)" r1_extract unzip "$t.zip" "$SMALL" cold
	fi
	t=$SET/tiny
	log "row 1b: the same on the tiny-files archive ($TINY1)"
	measure 1 r1t.fl.zip "fuselage, zip" r1_fuselage "$t.zip" "$TINY1"
	measure 1 r1t.fl.sqfs "fuselage, squashfs" r1_fuselage "$t.sqfs" "$TINY1"
	measure_few 1 r1t.unzip "unzip, then cat" r1_extract unzip "$t.zip" "$TINY1"
	canpeer fusezip && measure 1 r1t.fusezip "fuse-zip -r mount+cat+umount" r1_peer fusezip "$t.zip" "$TINY1"
	canpeer squashfuse && measure 1 r1t.sqfuse "squashfuse_ll mount+cat+umount" r1_peer squashfuse "$t.sqfs" "$TINY1"
}

row2() {
	log "row 2: sequential read of the ${BIG_MB} MiB file"
	local b=$SET/big W='cat "$D/big.log" >/dev/null' m
	for m in warm cold; do
		[ $m = cold ] && [ $IS_ROOT = 0 ] && continue
		local k=r2${m:0:1}
		measure 2 $k.fl.zip "fuselage, zip ($m)" inner_fuselage "$b.zip" "$W" $m
		measure 2 $k.fl.sqfs "fuselage, squashfs ($m)" inner_fuselage "$b.sqfs" "$W" $m
		canpeer kernel && measure 2 $k.kernel "kernel squashfs ($m)" inner_peer kernel "$b.sqfs" "$W" $m
		canpeer squashfuse && measure 2 $k.sqfuse "squashfuse_ll ($m)" inner_peer squashfuse "$b.sqfs" "$W" $m
		canpeer fusezip && measure 2 $k.fusezip "fuse-zip ($m)" inner_peer fusezip "$b.zip" "$W" $m
	done
}

row3() {
	local s
	for s in tree tiny; do
		local n; n=$(cat "$SET/$s.nfiles")
		local W='[ "$(find "$D" -type f -printf "%s\n" | wc -l)" = '"$n"' ]'
		log "row 3: find -type f -printf %s over $s ($n files)"
		measure 3 r3.$s.fl.sqfs "fuselage, squashfs" inner_fuselage "$SET/$s.sqfs" "$W"
		measure 3 r3.$s.fl.zip "fuselage, zip" inner_fuselage "$SET/$s.zip" "$W"
		canpeer kernel && measure 3 r3.$s.kernel "kernel squashfs" inner_peer kernel "$SET/$s.sqfs" "$W"
		canpeer squashfuse && measure 3 r3.$s.sqfuse "squashfuse_ll" inner_peer squashfuse "$SET/$s.sqfs" "$W"
		canpeer fusezip && measure 3 r3.$s.fusezip "fuse-zip" inner_peer fusezip "$SET/$s.zip" "$W"
	done
}

row4() {
	log "row 4: $NREAD random 4 KiB preads in the ${BIG_MB} MiB file"
	local b=$SET/big W="\"$SET/randread\" \"\$D/big.log\" \"$SET/offsets.txt\" >/dev/null"
	measure 4 r4.fl.zip "fuselage, zip (deflated)" inner_fuselage "$b.zip" "$W"
	measure_few 4 r4.reinflate "re-inflate from zero per read (python zipfile; $REINFLATE_SAMPLE reads x $((NREAD / REINFLATE_SAMPLE)))" reinflate
	canpeer fusezip && measure 4 r4.fusezip "fuse-zip" inner_peer fusezip "$b.zip" "$W"
	measure 4 r4.fl.sqfs "fuselage, squashfs" inner_fuselage "$b.sqfs" "$W"
	canpeer kernel && measure 4 r4.kernel "kernel squashfs" inner_peer kernel "$b.sqfs" "$W"
	canpeer squashfuse && measure 4 r4.sqfuse "squashfuse_ll" inner_peer squashfuse "$b.sqfs" "$W"
}

# Row 5: per-invocation start-up cost; hyperfine median when available.
r5_loop() { # USER CMD...
	local u=$1 s; shift
	if [ "$u" = root ]; then
		s=$EPOCHREALTIME; for ((k = 0; k < 50; k++)); do "$@" || return 1; done
		delta "$s" "$EPOCHREALTIME" | awk '{ printf "%.6f\n", $1 / 50 }'
	else
		runuser -u "$u" -- bash -c 's=$EPOCHREALTIME; for ((k = 0; k < 50; k++)); do "$@" || exit 1; done; echo "$s $EPOCHREALTIME"' r5 "$@" |
			awk 'NF == 2 { printf "%.6f\n", ($2 - $1) / 50 }'
	fi
}
r5_hyperfine() { # ROW-KEY-PREFIX USER
	local pfx=$1 u=$2 j=$RES/hf-$2.json
	local run=(); [ "$u" = root ] || run=(runuser -u "$u" --)
	rm -f "$j"; touch "$j"; chmod 666 "$j"
	"${run[@]}" hyperfine -N --warmup 5 --runs $((REPS * 20)) --export-json "$j" \
		"$FL -- true" "unshare -rm true" >/dev/null 2>>"$RES/stderr.log" || return 1
	python3 - "$j" "$pfx" "$u" >>"$SAMPLES" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
for r, key in zip(res, ("fl", "unshare")):
    label = ("fuselage -- true" if key == "fl" else "unshare -rm true") + " (%s)" % sys.argv[3]
    for t in r["times"]:
        print("5\t%s.%s\t%s\t%.6f" % (sys.argv[2], key, label, t))
EOF
	log "  $pfx: fuselage $(med "$pfx.fl") s, unshare $(med "$pfx.unshare") s"
}
row5() {
	log "row 5: start-up cost"
	local users=root
	[ $IS_ROOT = 1 ] && id fltest >/dev/null 2>&1 && users="root fltest"
	[ $IS_ROOT = 1 ] || users=$(id -un)
	for u in $users; do
		if have hyperfine; then
			r5_hyperfine "r5.$u" "$u"
		else
			measure 5 "r5.$u.fl" "fuselage -- true ($u)" r5_loop "$u" "$FL" -- true
			measure 5 "r5.$u.unshare" "unshare -rm true ($u)" r5_loop "$u" unshare -rm true
		fi
	done
}

row6() {
	log "row 6: peak RSS of the serving process"
	local REPS_SAVE=$REPS; REPS=$(( REPS < 3 ? REPS : 3 ))
	local WB='cat "$D/big.log"' WT='find "$D" -printf "%s %p\n"'
	measure 6 r6.big.fl.zip "fuselage, zip: read big file" hwm_fuselage "$SET/big.zip" "$WB"
	canpeer fusezip && measure 6 r6.big.fusezip "fuse-zip: read big file" hwm_peer fusezip "$SET/big.zip" "$WB"
	measure 6 r6.big.fl.sqfs "fuselage, squashfs: read big file" hwm_fuselage "$SET/big.sqfs" "$WB"
	canpeer squashfuse && measure 6 r6.big.sqfuse "squashfuse_ll: read big file" hwm_peer squashfuse "$SET/big.sqfs" "$WB"
	local s
	for s in tree tiny; do
		measure 6 r6.$s.fl.zip "fuselage, zip: walk $s" hwm_fuselage "$SET/$s.zip" "$WT"
		canpeer fusezip && measure 6 r6.$s.fusezip "fuse-zip: walk $s" hwm_peer fusezip "$SET/$s.zip" "$WT"
		measure 6 r6.$s.fl.sqfs "fuselage, squashfs: walk $s" hwm_fuselage "$SET/$s.sqfs" "$WT"
		canpeer squashfuse && measure 6 r6.$s.sqfuse "squashfuse_ll: walk $s" hwm_peer squashfuse "$SET/$s.sqfs" "$WT"
	done
	REPS=$REPS_SAVE
}

# Rows 7-8: --cache-static.  A private FUSELAGE_HOME per bench run; the
# first run converts (timed once, for information), later runs serve the
# cached image.  FL_OPTS adds --cache-static to the row 1 / row 4 helpers.
FL_OPTS=()
cache_home() {
	export FUSELAGE_HOME=$RES/home
	rm -rf "$FUSELAGE_HOME"; mkdir -p "$FUSELAGE_HOME"
}
r7_first() { # ARCHIVE PATH: the converting run, a fresh cache each time
	rm -rf "$FUSELAGE_HOME/cache"
	r1_fuselage "$1" "$2"
}
row7() {
	log "row 7: --cache-static, a run after the first (tree zip, one small file)"
	local t=$SET/tree FUSELAGE_HOME_SAVE=${FUSELAGE_HOME-}
	cache_home
	measure 7 r7.fl.zip "fuselage, zip (no cache)" r1_fuselage "$t.zip" "$SMALL"
	FL_OPTS=(--cache-static)
	measure_few 7 r7.first "fuselage --cache-static, first run (converts)" r7_first "$t.zip" "$SMALL"
	r1_fuselage "$t.zip" "$SMALL" >/dev/null # leave a converted image
	measure 7 r7.cached "fuselage --cache-static, later runs (cached image)" r1_fuselage "$t.zip" "$SMALL"
	FL_OPTS=()
	measure 7 r7.fl.sqfs "fuselage, the same tree as squashfs (reference)" r1_fuselage "$t.sqfs" "$SMALL"
	if [ -n "$FUSELAGE_HOME_SAVE" ]; then export FUSELAGE_HOME=$FUSELAGE_HOME_SAVE; else unset FUSELAGE_HOME; fi
}
row8() {
	log "row 8: --cache-static, $NREAD random 4 KiB preads in the ${BIG_MB} MiB file"
	local b=$SET/big W="\"$SET/randread\" \"\$D/big.log\" \"$SET/offsets.txt\" >/dev/null"
	local FUSELAGE_HOME_SAVE=${FUSELAGE_HOME-}
	cache_home
	measure 8 r8.fl.zip "fuselage, zip (deflated)" inner_fuselage "$b.zip" "$W"
	FL_OPTS=(--cache-static)
	inner_fuselage "$b.zip" true >/dev/null # convert once
	measure 8 r8.cached "fuselage --cache-static (cached image)" inner_fuselage "$b.zip" "$W"
	FL_OPTS=()
	if [ -n "$FUSELAGE_HOME_SAVE" ]; then export FUSELAGE_HOME=$FUSELAGE_HOME_SAVE; else unset FUSELAGE_HOME; fi
}

# Row 9: --dynamic.  The same work in the same fuselage run layout, on the
# overlay over a --dynamic archive, on the FUSE copy-on-write fallback
# (FUSELAGE_DYNAMIC_BACKEND=fuse; recorded only where it exists), and on the
# run's plain tmpfs ($FUSELAGE_TMPDIR, with the archive --static).  Work time
# only, timed inside the command.
# inner_dyn BACKEND ARCHIVE INNER: BACKEND overlay|fuse|tmpfs; INNER uses $D
# (where to work) and $S (the archive's read-only view, tmpfs only).
inner_dyn() {
	local opt=-d be=$1
	[ "$be" = tmpfs ] && opt=-s
	FUSELAGE_DYNAMIC_BACKEND=${be/tmpfs/overlay} "$FL" "$opt" "a:$2" -- bash -c '
		if [ "$1" = tmpfs ]; then D=$FUSELAGE_TMPDIR/w S=$FUSELAGE_STATIC/a; mkdir "$D"
		else D=$FUSELAGE_DYNAMIC/a S=$D; fi
		cd "$D" || exit 1
		s=$EPOCHREALTIME; eval "$0" >/dev/null || exit 1; e=$EPOCHREALTIME
		echo "$s $e"' "$3" "$be" | tail -n1 | awk 'NF == 2 { printf "%.6f\n", $2 - $1 }'
}
# a small C project (files × 1 function, a Makefile) as src.zip
build_src() {
	[ -e "$SET/src.done" ] && return 0
	local d=$SET/src/src n=$DYN_SRC_FILES i
	rm -rf "$d" "$SET/src.zip"
	mkdir -p "$d/lib"
	for ((i = 0; i < n; i++)); do
		printf '#include "all.h"\nint f%d(int x)\n{\n\tint s = 0;\n\tfor (int i = 0; i < x; i++)\n\t\ts += i * %d %% 7;\n\treturn s;\n}\n' "$i" "$i" >"$d/lib/f$i.c"
		printf 'int f%d(int x);\n' "$i" >>"$d/lib/all.h"
	done
	printf '#include <stdio.h>\n#include "lib/all.h"\nint main(void) { printf("%%d\\n", f0(10)); return 0; }\n' >"$d/main.c"
	printf 'OBJS := $(patsubst %%.c,%%.o,$(wildcard lib/*.c)) main.o\nCFLAGS := -O1 -Ilib\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n' >"$d/Makefile"
	(cd "$d" && zip -q -r -X "$SET/src.zip" .) || return 1
	rm -rf "$d"
	touch "$SET/src.done"
}
row9() {
	log "row 9: --dynamic: overlay vs the FUSE fallback vs the run's plain tmpfs"
	build_src || return
	local be W
	# in a new directory (build output, a venv) and, for the archive, in
	# one of its own directories, where every new name is first looked up
	# in the lower layer (one FUSE round trip each)
	local CREATE='mkdir new && cd new && python3 -c "import os
for i in range(100000): open(\"c%06d\" % i, \"w\").write(\"x\" * 100)"'
	local CREATE_OLD='python3 -c "import os
for i in range(100000): open(\"c%06d\" % i, \"w\").write(\"x\" * 100)"'
	local SEQ="dd if=/dev/zero of=seq.bin bs=1M count=$BIG_MB status=none"
	local COPYUP='if [ "$S" = "$D" ]; then printf Z >>big.log; else cp "$S/big.log" . && printf Z >>big.log; fi'
	local BUILD="if [ \"\$S\" != \"\$D\" ]; then unzip -q '$SET/src.zip'; fi; make -s -j2 prog && ./prog"
	for be in overlay fuse tmpfs; do
		if [ "$be" = fuse ] && ! FUSELAGE_DYNAMIC_BACKEND=fuse "$FL" -d "a:$SET/src.zip" true 2>/dev/null; then
			log "  the FUSE copy-on-write fallback is not available: its column is skipped"
			continue
		fi
		measure 9 "r9.create.$be" "$be" inner_dyn "$be" "$SET/src.zip" "$CREATE"
		[ "$be" != tmpfs ] && measure 9 "r9.create.$be.old" "$be, in the archive's root directory" inner_dyn "$be" "$SET/src.zip" "$CREATE_OLD"
		measure 9 "r9.seq.$be" "$be" inner_dyn "$be" "$SET/src.zip" "$SEQ"
		measure_few 9 "r9.copyup.$be" "$be" inner_dyn "$be" "$SET/big.sqfs" "$COPYUP"
		measure 9 "r9.build.$be" "$be" inner_dyn "$be" "$SET/src.zip" "$BUILD"
	done
}

# ----------------------------------------------------------------- report

fmt() { awk -v v="$1" -v u="$2" 'BEGIN { if (v == "NA") { print "n/a"; exit }
	if (u == "KiB") printf "%.1f MiB", v / 1024
	else if (v >= 1) printf "%.2f s", v
	else if (v >= 0.001) printf "%.1f ms", v * 1000
	else printf "%.0f µs", v * 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "n/a"; else printf "%.2f×", a / b }'; }

# table ROWPREFIX REFKEY UNIT: one line per key starting with ROWPREFIX;
# ratio = that line / REFKEY (so >1× means the line is slower/bigger).
table_lines() {
	local pfx=$1 ref=$2 unit=${3:-s} rm key label st
	rm=$(med "$ref")
	awk -F'\t' -v p="$pfx" 'index($2, p) == 1 && !seen[$2]++ { print $2 "\t" $3 }' "$SAMPLES" |
	while IFS=$'\t' read -r key label; do
		read -r m lo hi n <<<"$(stat_of "$key")"
		printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(fmt "$m" "$unit")" \
			"$(fmt "$lo" "$unit")" "$(fmt "$hi" "$unit")" "$n" "$(ratio "$m" "$rm")"
	done
}
thead() { printf '\n%s\n\n| tool | median | min | max | n | ratio to %s |\n|---|---|---|---|---|---|\n' "$1" "$2"; }

# target NAME VALUE OP LIMIT TEXT
target() {
	local ok
	if [ "$2" = n/a ] || [ "$2" = NA ]; then ok="not measured"
	elif awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=") ? v >= l : v <= l) }'; then ok="**met**"
	else ok="**missed**"; fi
	printf '| %s | %s | %s | %s |\n' "$1" "$5" "$2" "$ok"
}
r() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

report() {
	echo "## Results ($MODE mode, $REPS repeats, $(date -u +%Y-%m-%d))"
	echo
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)."
	echo "Load average before / after the measurements: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared)."
	echo "fuselage: \`$FL\` ($("$FL" --version 2>/dev/null | head -1))."
	[ -e "$SET/tree.done" ] && echo "Data: tree = $(cat "$SET/tree.nfiles") files / $(( $(cat "$SET/tree.bytes") >> 20 )) MiB" \
		"(zip $(( $(stat -c %s "$SET/tree.zip") >> 20 )) MiB, squashfs $(( $(stat -c %s "$SET/tree.sqfs") >> 20 )) MiB);" \
		"big = one ${BIG_MB} MiB log-like text file (zip $(( $(stat -c %s "$SET/big.zip") >> 20 )) MiB deflate, squashfs $(( $(stat -c %s "$SET/big.sqfs") >> 20 )) MiB);" \
		"tiny = $(cat "$SET/tiny.nfiles") files of ~30 bytes."
	want 9 && echo "Row 9: big as above; src = ${DYN_SRC_FILES} C files of one function each plus a Makefile, zipped; tmpfs = the run's own tmpfs (\$FUSELAGE_TMPDIR), overlay = a --dynamic archive, fuse = the same with FUSELAGE_DYNAMIC_BACKEND=fuse."
	echo "zip: \`zip -r\` (deflate -6); squashfs: \`mksquashfs\` defaults (gzip, block size 128 KiB)."
	echo "warm = archive file in the page cache, fresh mount per run; cold = \`drop_caches\` after the mount is up."
	want 1 && { thead "### Row 1: time until a command has read one small file (end to end, tree, warm unless noted)" "fuselage zip"; table_lines r1. r1.fl.zip; }
	want 1 && { thead "### Row 1b: the same on the tiny-files archive" "fuselage zip"; table_lines r1t. r1t.fl.zip; }
	want 2 && { thead "### Row 2: sequential read of the big file, warm (\`cat > /dev/null\`, read time only)" "kernel squashfs"; table_lines r2w. r2w.kernel; }
	want 2 && [ $IS_ROOT = 1 ] && { thead "### Row 2, cold (caches dropped after mounting)" "kernel squashfs"; table_lines r2c. r2c.kernel; }
	want 3 && { thead "### Row 3: \`find -type f -printf '%s\\n'\` over the tree (walk time only, warm)" "kernel squashfs"; table_lines r3.tree. r3.tree.kernel; }
	want 3 && { thead "### Row 3b: the same over the tiny-files archive" "kernel squashfs"; table_lines r3.tiny. r3.tiny.kernel; }
	want 4 && { thead "### Row 4: $NREAD random 4 KiB preads in the big file (warm)" "fuselage zip"; table_lines r4. r4.fl.zip; }
	want 5 && { thead "### Row 5: start-up, \`fuselage -- true\` vs \`unshare -rm true\` (per invocation)" "unshare (root)"; table_lines r5. r5.root.unshare; }
	want 7 && { thead "### Row 7: \`--cache-static\`, end to end, one small file from the tree zip (warm)" "no cache"; table_lines r7. r7.fl.zip; }
	want 8 && { thead "### Row 8: \`--cache-static\`, $NREAD random 4 KiB preads in the big file (warm)" "the zip"; table_lines r8. r8.fl.zip; }
	for w in create seq copyup build; do
		want 9 || break
		case $w in
		create) t="100 000 creates of 100-byte files (python; a new directory unless noted)" ;;
		seq) t="sequential write of ${BIG_MB} MiB (\`dd bs=1M\`)" ;;
		copyup) t="copy-up of the ${BIG_MB} MiB archive file (append a byte; tmpfs: \`cp\` from the archive, then append)" ;;
		build) t="build a ${DYN_SRC_FILES}-file C project (\`make -j2\`; tmpfs: \`unzip\` first)" ;;
		esac
		thead "### Row 9 ($w): --dynamic, $t" "plain tmpfs"
		table_lines "r9.$w." "r9.$w.tmpfs"
	done
	want 6 && { thead "### Row 6: peak RSS (VmHWM) of the serving process after the work" "fuselage zip, big file"; table_lines r6. r6.big.fl.zip KiB; }
	echo
	echo "### Targets"
	echo
	echo "| target | measured as | value | verdict |"
	echo "|---|---|---|---|"
	want 1 && target "1: fuselage ≥ 100× faster than extracting the zip" "$(r r1.unzip r1.fl.zip)" ">=" 100 "unzip+cat / fuselage zip (warm)"
	want 1 && target "1: (cold)" "$(r r1.unzip.cold r1.fl.zip.cold)" ">=" 100 "unzip+cat / fuselage zip (cold)"
	want 2 && target "2: warm squashfs read ≥ 0.9× kernel" "$(r r2w.kernel r2w.fl.sqfs)" ">=" 0.9 "kernel time / fuselage sqfs time"
	want 2 && target "2: warm zip read ≥ 0.9× kernel" "$(r r2w.kernel r2w.fl.zip)" ">=" 0.9 "kernel time / fuselage zip time"
	want 3 && target "3: find faster than squashfuse_ll" "$(r r3.tree.sqfuse r3.tree.fl.sqfs)" ">=" 1 "squashfuse_ll / fuselage sqfs"
	want 3 && target "3: find within 1.5× of kernel" "$(r r3.tree.fl.sqfs r3.tree.kernel)" "<=" 1.5 "fuselage sqfs / kernel"
	want 4 && target "4: random reads ≥ 10× faster than re-inflating" "$(r r4.reinflate r4.fl.zip)" ">=" 10 "re-inflate / fuselage zip"
	want 5 && target "5: start-up within 3× of unshare (root)" "$(r r5.root.fl r5.root.unshare)" "<=" 3 "fuselage / unshare"
	want 5 && target "5: start-up within 3× of unshare (fltest)" "$(r r5.fltest.fl r5.fltest.unshare)" "<=" 3 "fuselage / unshare"
	want 6 && target "6: peak RSS below fuse-zip (big file)" "$(r r6.big.fl.zip r6.big.fusezip)" "<=" 1 "fuselage / fuse-zip"
	want 6 && target "6: peak RSS below fuse-zip (walk tree)" "$(r r6.tree.fl.zip r6.tree.fusezip)" "<=" 1 "fuselage / fuse-zip"
	want 7 && target "7: a cached run faster than serving the zip" "$(r r7.fl.zip r7.cached)" ">=" 1 "no cache / cached"
	want 8 && target "8: random reads in the cached image faster than in the zip" "$(r r8.fl.zip r8.cached)" ">=" 1 "zip / cached image"
	want 9 && target "9: overlay creates within 1.2× of tmpfs" "$(r r9.create.overlay r9.create.tmpfs)" "<=" 1.2 "overlay / tmpfs"
	want 9 && target "9: overlay sequential write within 1.2× of tmpfs" "$(r r9.seq.overlay r9.seq.tmpfs)" "<=" 1.2 "overlay / tmpfs"
	want 9 && target "9: overlay copy-up within 1.2× of cp to tmpfs" "$(r r9.copyup.overlay r9.copyup.tmpfs)" "<=" 1.2 "overlay / tmpfs"
	want 9 && target "9: overlay build within 1.2× of unzip + build on tmpfs" "$(r r9.build.overlay r9.build.tmpfs)" "<=" 1.2 "overlay / tmpfs"
	want 9 && target "9: FUSE fallback writes within 3× of tmpfs" "$(r r9.seq.fuse r9.seq.tmpfs)" "<=" 3 "fuse / tmpfs (seq write)"
	want 9 && target "9: FUSE fallback creates within 3× of tmpfs" "$(r r9.create.fuse r9.create.tmpfs)" "<=" 3 "fuse / tmpfs (creates)"
	want 6 && target "6: peak RSS below fuse-zip (walk tiny)" "$(r r6.tiny.fl.zip r6.tiny.fusezip)" "<=" 1 "fuselage / fuse-zip"
	echo
	echo "Raw samples: $SAMPLES"
}

# ------------------------------------------------------------------- main

[ $IS_ROOT = 1 ] || log "not root: cold runs and kernel squashfs are skipped"
log "mode $MODE, $REPS repeats, cache $SET, fuselage $FL"
build_data
T0=$SECONDS
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for row in 1 2 3 4 5 6 7 8 9; do want $row && row$row; done
log "measurements took $((SECONDS - T0)) s"
if [ -n "$OUT" ]; then report | tee "$OUT"; else report; fi
