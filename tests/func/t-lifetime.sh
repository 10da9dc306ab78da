#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.5: fuselage returns as soon as the command exits and holds none of
# the caller's stdio; processes left behind keep the archives until they
# exit, then the server exits.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need ps pgrep

fx_small a.zip lifetime-data

# out=$(...) returns at once although a background job holds a copy of stdout
t0=$(date +%s%N)
out=$(timeout -k 5 30 "$FUSELAGE" -s a.zip sh -c 'sleep 5 >/dev/null 2>&1 & echo started')
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
assert_eq "out=\$(fuselage ...) gets the command's output" "started" "$out"
assert_true "out=\$(fuselage ...) returns at once (${ms} ms < 3000 ms)" test "$ms" -lt 3000
# ... and also with the background job keeping its stdout: then the command's
# own job holds the pipe, not fuselage: that is not measured here.

# a background job reads the archive after fuselage returned
rm -f pids bg.txt
t0=$(date +%s%N)
fl_run -s a.zip sh -c "$FL_FIND_PIDS"'
(sleep 2; cat "$FUSELAGE_STATIC/a/hello.txt" > "$2.tmp"; mv "$2.tmp" "$2") >/dev/null 2>&1 </dev/null &
echo command-done' sh "$T/pids" "$T/bg.txt"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_ok "fuselage with a background job"
assert_eq "the command ran" "command-done" "$FL_OUT"
assert_true "fuselage returned before the job ended (${ms} ms < 1800 ms)" test "$ms" -lt 1800
assert_false "the job has not read yet when fuselage returned" test -e bg.txt
read -r setup keeper server <pids
assert_match "the command found fuselage's processes (setup keeper server)" '^[0-9]+ [0-9]+ [0-9]+$' "$setup $keeper $server"
if [ -n "${server:-}" ]; then
	assert_true "the server is still running after fuselage returned" kill -0 "$server"
	assert_true "the keeper is still running after fuselage returned" kill -0 "$keeper"
	assert_true "the background job read the archive" wait_for_file bg.txt 15
	assert_eq "... and got its content" "lifetime-data" "$(cat bg.txt 2>/dev/null)"
	assert_true "the keeper exits after the last job" wait_gone "$keeper" 10
	assert_true "then the server exits" wait_gone "$server" 10
	assert_false "the setup process is long gone" kill -0 "$setup"
fi

# without background jobs the server is gone right after fuselage returns
rm -f pids
fl_run -s a.zip sh -c "$FL_FIND_PIDS" sh "$T/pids"
read -r setup keeper server <pids
if [ -n "${server:-}" ]; then
	assert_true "no jobs left: the server exits at once" wait_gone "$server" 5
	assert_true "no jobs left: the keeper exits at once" wait_gone "$keeper" 5
else
	fl_fail "could not find the server process" "$(cat pids)"
fi

# a daemon that closes its stdio and lives on does not delay fuselage
t0=$(date +%s%N)
out=$(timeout -k 5 30 "$FUSELAGE" -s a.zip sh -c '(setsid sleep 3 </dev/null >/dev/null 2>&1 &); echo ok')
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "a daemon left behind: output" "ok" "$out"
assert_true "a daemon left behind: fuselage returns at once (${ms} ms)" test "$ms" -lt 2500
