#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/bundle.sh - start-up of a bundled Python (SPEC §9, issue 7's row, row 10 in doc/benchmarks.md):
# "python -c pass" through a fuselage-bundle output, against the same venv
# extracted on disk, and against extracting the image first on every start
# (the PyInstaller one-file approach: unsquashfs to a fresh temporary
# directory, run, remove).  Prints a Markdown table of medians.
#
#   bench/bundle.sh [--reps N] [--builddir DIR] [--keep DIR]
#
# Needs /run/fuselage, python3 -m venv (with ensurepip), squashfs-tools.
# As root it also times the same image on the kernel's squashfs (--loop,
# SPEC §7.4), which needs no FUSE round trip: the part of the bundle's cost
# that is FUSE's.
set -u -o pipefail

REPS=21
B=$(cd "$(dirname "$0")/.." && pwd)
KEEP=
while [ $# -gt 0 ]; do
	case $1 in
	--reps) REPS=$2; shift ;;
	--reps=*) REPS=${1#*=} ;;
	--builddir) B=$2; shift ;;
	--builddir=*) B=${1#*=} ;;
	--keep) KEEP=$2; shift ;;
	--keep=*) KEEP=${1#*=} ;;
	-h | --help) sed -n '3,12p' "$0"; exit 0 ;;
	*) echo "bundle.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
FL=$B/fuselage
export FUSELAGE=$FL
FB=$B/fuselage-bundle
PY=${PYTHON:-/usr/bin/python3}
for x in "$FL" "$FB"; do
	[ -x "$x" ] || { echo "bundle.sh: $x not built (--builddir)" >&2; exit 2; }
done
[ -d /run/fuselage ] || { echo "bundle.sh: /run/fuselage does not exist" >&2; exit 2; }

W=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/fl-bundle-bench.XXXXXX")}
mkdir -p "$W"
[ -n "$KEEP" ] || trap 'rm -rf "$W"' EXIT
cd "$W" || exit 2

# A venv with pip and setuptools in it (ensurepip, offline): ~2 000 files,
# a realistic amount to extract.
if [ ! -e app.sfs ]; then
	"$FL" --dynamic-empty=/run/fuselage/benchpy -- sh -ec '
		"$1" -m venv /run/fuselage/benchpy/.venv
		/run/fuselage/benchpy/.venv/bin/python -m compileall -q /run/fuselage/benchpy/.venv/lib >/dev/null
		mksquashfs /run/fuselage/benchpy "$2/app.sfs" -noappend -comp zstd -quiet -no-progress >/dev/null' \
		sh "$PY" "$W" || exit 1
fi
"$FB" --archive=app.sfs --output=bundle -- \
	--static=/run/fuselage/benchpy:/proc/self/exe --run /run/fuselage/benchpy/.venv/bin/python || exit 1
rm -rf disk && unsquashfs -q -d disk app.sfs >/dev/null || exit 1
OFF=$(python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(65536)
shoff, = struct.unpack_from("<Q", d, 40); shentsize, shnum = struct.unpack_from("<HH", d, 58)
print((shoff + shentsize * shnum + 4095) // 4096 * 4096)' bundle)

LOOP=
[ "$(id -u)" = 0 ] && LOOP=bundle_loop

files=$(find disk | wc -l)
bytes=$(du -sb disk | cut -f1)

# one NAME CMD...: one timed run, microseconds appended to NAME.us.  The
# clock is $EPOCHREALTIME, read without a fork, so a timing holds the run
# itself and nothing else (bench/run.sh times the same way).
one() {
	local name=$1 t0 t1
	shift
	t0=${EPOCHREALTIME/[.,]/}
	"$@" >/dev/null 2>&1 || echo "bundle.sh: $name failed: $*" >&2
	t1=${EPOCHREALTIME/[.,]/}
	echo $((10#$t1 - 10#$t0)) >>"$name.us"
}
extract_run() {
	local d
	d=$(mktemp -d "$W/x.XXXXXX")
	unsquashfs -q -o "$OFF" -d "$d/r" bundle >/dev/null && "$d/r/.venv/bin/python" -c pass
	rm -rf "$d"
}
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'; }
minmax() { sort -n "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f–%.1f", lo / 1000, hi / 1000 }'; }

# Interleaved (one of each per round, after a warm-up round) so that the
# load of a shared machine hits every variant alike.
rm -f ./*.us
for ((i = 0; i <= REPS; i++)); do
	one disk disk/.venv/bin/python -c pass
	one bundle ./bundle -c pass
	one extract extract_run
	sync # the removed tree's writeback is not the next timing's business
	one fuselage_true "$FL" -- true
	one fuselage_disk "$FL" -- disk/.venv/bin/python -c pass
	[ -n "$LOOP" ] && one bundle_loop "$FL" --loop --static=/run/fuselage/benchpy:bundle -- \
		/run/fuselage/benchpy/.venv/bin/python -c pass
	[ "$i" = 0 ] && rm -f ./*.us
done

d=$(median disk.us)
printf '\nLoad average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'venv: %s files, %s bytes; image %s bytes (zstd); bundle %s bytes; %s repeats, median (min–max) in ms\n\n' \
	"$files" "$bytes" "$(stat -c %s app.sfs)" "$(stat -c %s bundle)" "$REPS"
printf '| start-up of `python -c pass` | median ms | min–max ms | ratio to venv on disk |\n|---|---|---|---|\n'
for n in disk bundle extract fuselage_true fuselage_disk $LOOP; do
	case $n in
	disk) label="the venv on disk" ;;
	bundle) label="the bundle (fuselage-bundle, squashfs served by fuselage)" ;;
	extract) label="extract the image first, run, remove (PyInstaller one-file style)" ;;
	fuselage_true) label="(for reference: \`fuselage -- true\`, no archive)" ;;
	fuselage_disk) label="(for reference: the venv on disk under \`fuselage --\`, no archive)" ;;
	bundle_loop) label="(for reference: the bundle's image on the kernel's squashfs, \`fuselage --loop\`, root)" ;;
	esac
	m=$(median "$n.us")
	printf '| %s | %s | %s | %s |\n' "$label" "$m" "$(minmax "$n.us")" \
		"$(awk -v a="$m" -v b="$d" 'BEGIN { printf "%.2f×", a / b }')"
done
