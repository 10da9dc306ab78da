#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz/run.sh TARGET SECONDS [LIBFUZZER-OPTION...] - run one libFuzzer
# target of a --enable-fuzzing build (run from that build directory) on one
# core for SECONDS.  The working corpus is fuzz/work/TARGET (kept between
# runs), seeded from fuzz/corpus/TARGET (fuzz/make-corpus.sh, made if
# missing) and tests/fuzz-regress/TARGET; crashers go to
# fuzz/artifacts/TARGET/; the log to fuzz/logs/TARGET.log.  doc/fuzzing.md.
set -eu
t=${1:?usage: fuzz/run.sh TARGET SECONDS [OPTION...]}
secs=${2:?usage: fuzz/run.sh TARGET SECONDS [OPTION...]}
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
prog=fuzz/fuzz_$t
[ -x "$prog" ] || { echo "run.sh: no $prog here (./configure --enable-fuzzing CC=clang; make)" >&2; exit 1; }
[ -d fuzz/corpus/$t ] || sh "$src/fuzz/make-corpus.sh" fuzz/corpus
mkdir -p fuzz/work/$t fuzz/artifacts/$t fuzz/logs
case $t in
options) dict=$src/fuzz/options.dict max=4096 ;;
zip) dict=$src/fuzz/zip.dict max=65536 ;;
sqfs) dict=$src/fuzz/sqfs.dict max=65536 ;;
detect) dict=$src/fuzz/zip.dict max=65536 ;;
*) dict= max=65536 ;;
esac
set -- -max_total_time="$secs" -max_len=$max -timeout=10 -rss_limit_mb=1024 \
	-malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix=fuzz/artifacts/$t/ \
	${dict:+-dict=$dict} "$@" fuzz/work/$t fuzz/corpus/$t
[ -d "$src/tests/fuzz-regress/$t" ] && set -- "$@" "$src/tests/fuzz-regress/$t"
echo "run.sh: $prog $*" >&2
"$prog" "$@" 2>&1 | tee fuzz/logs/$t.log | grep -E '^#[0-9]+.*(INITED|REDUCE|pulse|DONE)|ERROR|SUMMARY|contract|stat::|Test unit written' >&2 || true
