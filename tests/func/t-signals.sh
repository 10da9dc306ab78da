#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.4: SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 sent to fuselage reach the
# command (which traps them and reports).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip
for sig in TERM HUP USR1 USR2; do
	rm -f ready out
	fl_bg -s a.zip bash -c '
trap "echo got-'$sig'; exit 7" '$sig'
echo ready > "$1"
for i in $(seq 300); do sleep 0.1; done
echo not-signalled' sh "$T/ready"
pid=$FL_BG_PID
if wait_for_file ready 20; then
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	assert_eq "SIG$sig sent to fuselage reaches the command" "got-$sig" "$(cat bg.out)"
	assert_status "... and its trap's exit status is returned" 7 "$rc"
else
	fl_fail "SIG$sig: the command did not start" "$(cat bg.out)"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
fi
done

# a signal right after start (maybe before the command exists) is not lost:
# the command is ended long before its 30 s
start=$(date +%s)
fl_bg sleep 30
pid=$FL_BG_PID
sleep 0.05
kill -TERM "$pid"
wait "$pid"
rc=$?
assert_status "SIGTERM at once: fuselage ends by SIGTERM" 143 "$rc"
assert_true "... within 10 s" test $(($(date +%s) - start)) -lt 10

# a signal the caller had ignored stays ignored for the command (as without
# fuselage): nohup-style SIGHUP
fl_run sh -c 'trap "" HUP; exec "$@"' sh "$FUSELAGE" sh -c 'kill -HUP $$; echo survived'
assert_eq "an ignored SIGHUP stays ignored in the command" "survived" "$FL_OUT"
