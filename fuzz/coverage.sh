#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz/coverage.sh FUZZ-BUILD - line coverage of the fuzzed sources, from
# replaying each target's corpus (FUZZ-BUILD/fuzz/work/T, fuzz/corpus/T and
# tests/fuzz-regress/T) through the replay drivers of a gcov build.  Run from
# a build directory configured with --enable-coverage (gcc).  doc/fuzzing.md.
set -eu
fb=${1:?usage: fuzz/coverage.sh FUZZ-BUILD-DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
files() {
	case $1 in
	options) echo src/libfuselage_a-options src/libfuselage_a-names ;;
	detect) echo fusefs/libfusefs_a-detect fusefs/libfusefs_a-b64 fusefs/libfusefs_a-elf ;;
	b64) echo fusefs/libfusefs_a-b64 ;;
	elf) echo fusefs/libfusefs_a-elf ;;
	zip) echo fusefs/libfusefs_a-zip_tree fusefs/libfusefs_a-zip_cd fusefs/libfusefs_a-inflate fusefs/libfusefs_a-zip_other ;;
	sqfs) echo fusefs/libfusefs_a-sqfs_tree ;;
	esac
}
for t in ${TARGETS:-options detect b64 elf zip sqfs}; do
	make -s fuzz/replay_$t >/dev/null
	find . -name '*.gcda' -delete
	set -- "$fb/fuzz/work/$t" "$fb/fuzz/corpus/$t"
	[ -d "$src/tests/fuzz-regress/$t" ] && set -- "$@" "$src/tests/fuzz-regress/$t"
	n=$(./fuzz/replay_$t "$@" 2>/dev/null | sed 's/.*: \([0-9]*\) inputs.*/\1/')
	for o in $(files $t); do
		(cd "$(dirname "$o")" && gcov -n -o . "$(basename "$o").o" 2>/dev/null) |
			awk -v t="$t" -v n="$n" '/^File .*\.c'"'"'$/ { f = $2; gsub(/'"'"'/, "", f); sub(/.*\//, "", f); next }
				f && /^Lines executed/ { sub(/Lines executed:/, ""); print t " (" n " inputs): " f ": " $0; f = "" }'
	done
done
