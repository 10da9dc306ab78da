# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Helpers for the functional scenarios (sourced, bash).  A scenario:
#
#   . "$FL_SRCDIR/tests/func/lib.sh"
#   fl_init                 # own temp dir $T (cwd), EXIT trap, result at exit
#   fl_run -s x.zip cat ... # runs $FUSELAGE under timeout: $FL_RC $FL_OUT $FL_ERR
#   assert_eq "what" expected actual
#
# Assertions never stop the scenario: each failure prints expected vs actual
# and the scenario exits 1 at the end.  skip REASON exits 77 (a failure under
# FL_TEST_STRICT=1); not_applicable REASON / fl_only_modes say that the
# scenario does not apply to this privilege mode (never a failure).

set -u
export LC_ALL=C.UTF-8

: "${FUSELAGE:?FUSELAGE must be set (run through tests/func/driver.sh)}"
: "${FL_MODE:=user}"
: "${FL_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${FL_BUILDDIR:=$(pwd)}"
: "${FL_TEST_TMP:=${TMPDIR:-/tmp}}"
: "${FL_TEST_STRICT:=0}"
: "${MKSQUASHFS:=$(command -v mksquashfs || echo mksquashfs)}"
: "${FL_TIMEOUT:=60}"

FL_FUNC=$FL_SRCDIR/tests/func
FL_FAILS=0
FL_CHECKS=0
FL_TIMED_OUT=0
FL_NOTES=()
T=

say() { printf '%s\n' "$*"; }

# --- life cycle --------------------------------------------------------------

fl_cleanup_hooks=()

# fl_on_exit CMD: run CMD (eval'd) at exit, before the temp dir is removed.
fl_on_exit() { fl_cleanup_hooks+=("$1"); }

fl_exit_trap()
{
	local rc=$?
	local h
	for h in "${fl_cleanup_hooks[@]}"; do
		eval "$h" >/dev/null 2>&1 || :
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		chmod -R u+rwX "$T" 2>/dev/null
		rm -rf "$T"
	fi
	for h in "${FL_NOTES[@]}"; do
		say "NOTE: $h"
	done
	if [ "$rc" = 0 ] || [ "$rc" = 1 ]; then
		if [ "$FL_FAILS" -gt 0 ]; then
			say "RESULT: $FL_FAILS of $FL_CHECKS checks FAILED"
			exit 1
		fi
		[ "$rc" = 0 ] && say "RESULT: all $FL_CHECKS checks passed"
	fi
	exit "$rc"
}

fl_init()
{
	T=$(mktemp -d "$FL_TEST_TMP/t.XXXXXX") || exit 99
	chmod 0755 "$T"
	trap fl_exit_trap EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd "$T" || exit 99
	say "[$(basename "$0")] mode=$FL_MODE uid=$(id -u) fuselage=$FUSELAGE T=$T"
}

skip()
{
	say "SKIP: $*"
	[ -n "${FL_TEST_TMP:-}" ] && printf '%s\n' "$*" >"$FL_TEST_TMP/.fl-skip"
	exit 77
}

not_applicable()
{
	say "NOT APPLICABLE in mode $FL_MODE: $*"
	[ -n "${FL_TEST_TMP:-}" ] && printf '%s\n' "$*" >"$FL_TEST_TMP/.fl-not-applicable"
	exit 77
}

# fl_only_modes MODE...: the scenario applies only to these modes.
fl_only_modes()
{
	local m
	for m in "$@"; do
		[ "$m" = "$FL_MODE" ] && return 0
	done
	not_applicable "this scenario is for mode(s) $* only"
}

# note TEXT: something not tested, repeated at the end of the log.
note() { FL_NOTES+=("$*"); say "NOTE: $*"; }

# need CMD...: skip unless every command exists.
need()
{
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed"
	done
}

# --- assertions ----------------------------------------------------------------

fl_pass() { FL_CHECKS=$((FL_CHECKS + 1)); say "ok   - $1"; }

fl_fail()
{
	FL_CHECKS=$((FL_CHECKS + 1))
	FL_FAILS=$((FL_FAILS + 1))
	say "FAIL - $1"
	shift
	local l
	for l in "$@"; do
		say "       $l"
	done
}

# show a value on one line, control characters made visible
fl_show() { printf '%s' "$1" | head -c 2000 | cat -A | sed -e '2,$s/^/         /'; }

assert_eq()
{
	if [ "$2" == "$3" ]; then
		fl_pass "$1"
	else
		fl_fail "$1" "expected: $(fl_show "$2")" "actual:   $(fl_show "$3")"
	fi
}

assert_ne()
{
	if [ "$2" != "$3" ]; then
		fl_pass "$1"
	else
		fl_fail "$1" "expected anything but: $(fl_show "$2")"
	fi
}

# assert_match WHAT ERE ACTUAL
assert_match()
{
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		fl_pass "$1"
	else
		fl_fail "$1" "expected to match: $2" "actual:   $(fl_show "$3")"
	fi
}

assert_no_match()
{
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		fl_fail "$1" "expected NOT to match: $2" "actual:   $(fl_show "$3")"
	else
		fl_pass "$1"
	fi
}

# assert_status WHAT EXPECTED ACTUAL [stderr to show]
assert_status()
{
	if [ "$2" = "$3" ]; then
		fl_pass "$1 (status $3)"
	else
		fl_fail "$1" "expected status: $2" "actual status:   $3" ${4:+"stderr: $(fl_show "$4")"}
	fi
}

assert_true()
{
	local what=$1
	shift
	if "$@"; then
		fl_pass "$what"
	else
		fl_fail "$what" "command failed: $*"
	fi
}

assert_false()
{
	local what=$1
	shift
	if "$@"; then
		fl_fail "$what" "command unexpectedly succeeded: $*"
	else
		fl_pass "$what"
	fi
}

# assert_files_eq WHAT EXPECTED_FILE ACTUAL_FILE: byte for byte
assert_files_eq()
{
	if cmp -s -- "$2" "$3"; then
		fl_pass "$1"
	else
		fl_fail "$1" "files differ: $2 $3" "$(diff -u -- "$2" "$3" 2>&1 | head -n 40)"
	fi
}

# assert_text_eq WHAT EXPECTED ACTUAL: multi-line values, shown as a diff
assert_text_eq()
{
	if [ "$2" == "$3" ]; then
		fl_pass "$1"
	else
		fl_fail "$1" "diff expected actual:" \
			"$(diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3 | head -n 60)"
	fi
}

# --- running fuselage ------------------------------------------------------------

# fl_run ARGS...: run $FUSELAGE ARGS under a timeout, stdin from /dev/null.
# Sets FL_RC, FL_OUT, FL_ERR (stderr without fuselage's -v lines kept as is).
fl_run()
{
	fl_run_in /dev/null "$@"
}

# fl_run_in STDIN ARGS...
fl_run_in()
{
	local in=$1
	shift
	fl_run_cmd_in "$in" "$FUSELAGE" "$@"
}

# fl_run_cmd_in STDIN CMD ARGS...: run any program as fl_run runs fuselage.
fl_run_cmd_in()
{
	local in=$1
	shift
	local t0=$SECONDS
	timeout -k 5 "$FL_TIMEOUT" "$@" <"$in" >"$T/.fl-out" 2>"$T/.fl-err"
	FL_RC=$?
	FL_OUT=$(cat "$T/.fl-out")
	FL_ERR=$(cat "$T/.fl-err")
	FL_TIMED_OUT=0
	if [ $((SECONDS - t0)) -ge "$FL_TIMEOUT" ]; then
		FL_TIMED_OUT=1
		say "       ($* timed out after ${FL_TIMEOUT}s)"
	fi
}

# assert_ok WHAT: the last fl_run exited 0
assert_ok()
{
	if [ "$FL_RC" = 0 ]; then
		fl_pass "$1"
	else
		fl_fail "$1" "fuselage exited $FL_RC" "stdout: $(fl_show "$FL_OUT")" \
			"stderr: $(fl_show "$FL_ERR")"
	fi
}

# assert_fl_error WHAT ERE: the last fl_run failed as fuselage's own failure:
# status 125, stderr is one line "fuselage: ..." matching ERE (a second line
# may only be the "Try 'fuselage --help'" hint), and the command never ran
# (it would have printed to stdout).
assert_fl_error()
{
	local first nlines
	first=$(printf '%s\n' "$FL_ERR" | head -n 1)
	nlines=$(printf '%s\n' "$FL_ERR" | grep -vc "^Try 'fuselage --help'")
	if [ "$FL_RC" != 125 ]; then
		fl_fail "$1" "expected status 125, got $FL_RC" "stderr: $(fl_show "$FL_ERR")" \
			"stdout: $(fl_show "$FL_OUT")"
	elif [ "$nlines" != 1 ] || [ -z "$FL_ERR" ]; then
		fl_fail "$1" "expected exactly one error line, got $nlines:" "$(fl_show "$FL_ERR")"
	elif ! printf '%s' "$first" | grep -Eq -- "^fuselage: "; then
		fl_fail "$1" "error line does not start with 'fuselage: '" "$(fl_show "$first")"
	elif ! printf '%s' "$first" | grep -Eq -- "$2"; then
		fl_fail "$1" "error line does not match: $2" "actual: $(fl_show "$first")"
	elif [ -n "$FL_OUT" ]; then
		fl_fail "$1" "the command ran (stdout not empty)" "$(fl_show "$FL_OUT")"
	else
		fl_pass "$1 ($first)"
	fi
}

# assert_no_crash WHAT: the last fl_run neither hung nor died of a crash signal
assert_no_crash()
{
	if [ "$FL_TIMED_OUT" = 1 ]; then
		fl_fail "$1" "hung (timed out after ${FL_TIMEOUT}s)"
		return
	fi
	case "$FL_RC" in
	134 | 135 | 136 | 139) fl_fail "$1" "crashed (status $FL_RC)" "stderr: $(fl_show "$FL_ERR")" ;;
	*) fl_pass "$1 (status $FL_RC)" ;;
	esac
}

# --- identities --------------------------------------------------------------------

# The uid/gid the command should see inside (the caller's; --map-root aside).
fl_uid() { id -u; }
fl_gid() { id -g; }

# fl_home: the caller's $FUSELAGE_HOME default as fuselage sees it in this
# mode (setuid: from the password database, never $HOME).
fl_pw_home() { getent passwd "$(id -u)" | cut -d: -f6; }

# --- fixtures ------------------------------------------------------------------------

FL_MTIME='2011-12-13 14:15:16 UTC'
FL_MTIME_EPOCH=1323785716
FL_UNICODE_NAME='ünïcödé-名前-🚀.txt'

# fx_tree DIR: a tree with known files, modes, symlinks, hard links, a sparse
# file and unicode names (no fifo/devices: zip cannot hold them).
fx_tree()
{
	local d=$1
	mkdir -p "$d/bin" "$d/sub/deeper" "$d/emptydir" "$d/lib" || return 1
	printf 'hello world\n' >"$d/plain.txt"
	printf '#!/bin/sh\necho "hello from $0: $*"\n' >"$d/bin/hello.sh"
	chmod 0751 "$d/bin/hello.sh"
	printf 'deep\n' >"$d/sub/deeper/file.txt"
	printf 'private\n' >"$d/private.txt"
	chmod 0600 "$d/private.txt"
	printf 'readonly\n' >"$d/readonly.txt"
	chmod 0444 "$d/readonly.txt"
	: >"$d/empty"
	ln -s plain.txt "$d/link"
	ln -s ../plain.txt "$d/sub/uplink"
	ln -s /nonexistent/target "$d/dangling"
	printf 'linked\n' >"$d/hard1"
	ln "$d/hard1" "$d/hard2"
	# 1 MiB + of deterministic, compressible and incompressible data
	seq 1 200000 >"$d/seq.txt"
	python3 -c 'import random,sys; r=random.Random(42); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(300000)))' >"$d/random.bin"
	# sparse: 5 MiB with a few bytes in the middle
	truncate -s 5M "$d/sparse"
	printf 'X' | dd of="$d/sparse" bs=1 seek=1048576 conv=notrunc status=none
	printf 'unicode\n' >"$d/$FL_UNICODE_NAME"
	mkdir -p "$d/dír-ü"
	printf 'in unicode dir\n' >"$d/dír-ü/f"
	touch -h -d "$FL_MTIME" "$d/plain.txt" "$d/seq.txt" "$d/sub/deeper/file.txt" "$d/link"
	touch -d "$FL_MTIME" "$d/sub/deeper"
}

# fx_zip DIR OUT [zip options]: Info-ZIP, symlinks stored as links (-y)
fx_zip()
{
	local d=$1 out=$2
	shift 2
	case "$out" in /*) ;; *) out=$PWD/$out ;; esac
	rm -f "$out"
	(cd "$d" && zip -q -r -y "$@" "$out" .)
}

# fx_zip_py DIR OUT [stored|deflated]: python zipfile with Unix modes and
# symlinks in the external attributes, directory entries included.
fx_zip_py()
{
	python3 "$FL_FUNC/zipfix.py" fromdir "$1" "$2" "${3:-deflated}"
}

# fx_sqfs DIR OUT [COMP [mksquashfs args...]]
fx_sqfs()
{
	local d=$1 out=$2 comp=${3:-gzip}
	shift 3 2>/dev/null || shift $#
	rm -f "$out"
	"$MKSQUASHFS" "$d" "$out" -noappend -no-progress -quiet -comp "$comp" "$@" >/dev/null
}

need_mksquashfs()
{
	[ -x "$MKSQUASHFS" ] || command -v "$MKSQUASHFS" >/dev/null 2>&1 ||
		skip "mksquashfs is not installed (squashfs-tools)"
}

# fl_manifest DIR [opts]: one line per entry (type, perms, size, mtime, link
# target, sha256) — see manifest.py for opts.
fl_manifest() { python3 "$FL_FUNC/manifest.py" "$@"; }

# --- processes ------------------------------------------------------------------------

# The command can find fuselage's processes: its parent is the keeper, the
# keeper's parent the setup process; the server is the setup's other child
# with the same command line.  This shell snippet, run as the command, writes
# "setup keeper server" pids to the file given as $1.
FL_FIND_PIDS='keeper=$PPID
setup=$(ps -o ppid= -p "$keeper" | tr -d " ")
server=
for c in $(pgrep -P "$setup"); do
	[ "$c" = "$keeper" ] && continue
	if cmp -s /proc/$c/cmdline /proc/$setup/cmdline; then server=$c; fi
done
echo "$setup $keeper $server" > "$1"'

# proc_field PID FIELD: a line of /proc/PID/status, value only
proc_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }

# fl_bg ARGS...: start $FUSELAGE ARGS in the background (stdin /dev/null,
# output to $T/bg.out), with a watchdog that kills it after $FL_TIMEOUT s.
# Sets FL_BG_PID (fuselage's own pid: signals go straight to it).
fl_bg()
{
	"$FUSELAGE" "$@" </dev/null >"$T/bg.out" 2>&1 &
	FL_BG_PID=$!
	(sleep "$FL_TIMEOUT"; kill -KILL "$FL_BG_PID") >/dev/null 2>&1 &
	fl_on_exit "kill $! $FL_BG_PID"
}

# wait_gone PID SECONDS: wait until PID is gone; 0 if it went
wait_gone()
{
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# wait_for_file FILE SECONDS
wait_for_file()
{
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# fl_procdirs_left HOME: entries under HOME/procdirs on the host (must be none)
fl_procdirs_left() { find "$1/procdirs" -mindepth 1 -maxdepth 2 2>/dev/null; }

# fl_host_mounts DIR: mounts at or under DIR or /run/fuselage visible in the
# caller's own namespace (a run's mounts must never be: they live in its
# private namespace)
fl_host_mounts()
{
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 || $5 == "/run/fuselage" ||
		index($5, "/run/fuselage/") == 1 { print }' /proc/self/mountinfo
}

# fx_small NAME.zip|NAME.sfs [TEXT]: a tiny archive holding hello.txt (TEXT,
# default "hello") and an executable bin/prog that prints its argv.
fx_small()
{
	local out=$1 text=${2:-hello} d
	d=$(mktemp -d "$T/small.XXXXXX")
	mkdir -p "$d/bin"
	printf '%s\n' "$text" >"$d/hello.txt"
	printf '#!/bin/sh\nprintf "argv0=%%s\\n" "$0"\nfor a in "$@"; do printf "arg=%%s\\n" "$a"; done\n' >"$d/bin/prog"
	chmod 0755 "$d/bin/prog"
	case "$out" in
	*.zip | *.jar) fx_zip "$d" "$out" ;;
	*) need_mksquashfs; fx_sqfs "$d" "$out" gzip ;;
	esac
	rm -rf "$d"
}
