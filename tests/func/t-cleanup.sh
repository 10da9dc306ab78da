#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.5/§3: nothing is left on the host under $FUSELAGE_HOME/procdirs,
# and no mount leaks to the host, after a normal exit, an error exit, or a
# kill -9 of each fuselage process (setup, server, keeper) and of the
# command; when the server is killed, accesses fail instead of hanging.
# Other processes of the user see only empty directories meanwhile.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need ps pgrep

fx_small a.zip
if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage  # setuid: always from the password database
else
	H=$T/home
	export FUSELAGE_HOME=$H
fi
check_clean()
{
	assert_eq "$1: nothing left under \$FUSELAGE_HOME/procdirs" "" "$(fl_procdirs_left "$H")"
	assert_eq "$1: no fuselage mount on the host" "" "$(fl_host_mounts "$H")"
}

fl_run -s a.zip --dynamic-empty=w sh -c 'echo x > "$FUSELAGE_TMPDIR/f" && echo y > "$FUSELAGE_DYNAMIC/w/g" && ls "$FUSELAGE_STATIC/a"'
assert_ok "a normal run"
check_clean "normal exit"
fl_run -s a.zip sh -c 'echo x > "$FUSELAGE_TMPDIR/f"; exit 3'
assert_status "command exit 3" 3 "$FL_RC"
check_clean "command failure"
printf 'not an archive\n' >bad.zip
fl_run -s a.zip -s bad.zip true
assert_fl_error "a bad archive" "bad\.zip"
check_clean "fuselage's own error (bad archive)"
fl_run -s a.zip --run a/nothere
assert_fl_error "--run not found" "not found"
check_clean "fuselage's own error (--run)"
fl_run -s a.zip no-such-command-fl
assert_status "command not found" 127 "$FL_RC"
check_clean "command not found"

# kill -9 of each process
for victim in setup server keeper cmd; do
	rm -f pids probe probe.tmp
	fl_bg -s a.zip sh -c "$FL_FIND_PIDS"'
echo $$ >> "$1"
while :; do
	if ls "$FUSELAGE_STATIC/a" >/dev/null 2>&1 && cat "$FUSELAGE_STATIC/a/hello.txt" >/dev/null 2>&1
	then r=ok; else r=fail; fi
	echo "$r" > "$2.tmp"; mv "$2.tmp" "$2"
	sleep 0.1
done' sh "$T/pids" "$T/probe"
	if ! wait_for_file probe 20; then
		fl_fail "kill -9 $victim: the run did not start" "$(cat bg.out)"
		kill -KILL "$FL_BG_PID"
		continue
	fi
	read -r setup keeper server <pids
	cmd=$(sed -n 2p pids)
	assert_eq "kill -9 $victim: while running, the host sees an empty procdirs" "" "$(fl_procdirs_left "$H")"
	assert_eq "kill -9 $victim: while running, no mount on the host" "" "$(fl_host_mounts "$H")"
	pid=${!victim}
	kill -KILL "$pid"
	if [ "$victim" = server ]; then
		# the command's next accesses must fail, not hang.  Only those that
		# reach the server: a read-only mount answers from the kernel's
		# caches what it already knows (the listing, attributes), but every
		# open(2) of a file is a request (doc/decisions.md)
		sleep 1
		rm -f probe
		if wait_for_file probe 5; then
			assert_eq "server killed: accesses to the mount fail (not hang)" "fail" "$(cat probe)"
		else
			fl_fail "server killed: accesses to the mount hang"
		fi
	fi
	sleep 0.5
	for p in "$setup" "$keeper" "$server" "$cmd"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "$setup" "$keeper" "$server" "$cmd"; do
		wait_gone "$p" 10 || fl_fail "kill -9 $victim: process $p does not go away"
	done
	wait "$FL_BG_PID" 2>/dev/null
	check_clean "kill -9 $victim"
done

# a later run still works (and sweeps nothing visible: there is nothing)
fl_run -s a.zip cat "\$FUSELAGE_STATIC/a/hello.txt"
fl_run -s a.zip sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"'
assert_eq "a run after the kills works" "hello" "$FL_OUT"
check_clean "after the kills"
