#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §2.5/§7.2: the caller's hands on fuselage's processes.
# - SIGKILL of every fuselage process, and of the setup alone, at stages
#   from "just started" (opening a 3 000-entry zip, converting it for
#   --cache-static) to "serving": nothing hangs, every process is gone in
#   seconds, nothing is left on the host, and no survivor ever holds root.
# - SIGSTOP then SIGCONT of the setup, keeper and server: the run finishes
#   with the right output and status.
# - ptrace: the setup, keeper and server are not dumpable in setuid mode
#   (their /proc files are root's, PTRACE_ATTACH fails with EPERM), the
#   command is (gdb works inside as outside); a setuid fuselage started
#   under strace runs without privilege.
# - 16 runs at once.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 pgrep ps
need_mksquashfs

uid=$(id -u)
if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage
else
	H=$T/home
	export FUSELAGE_HOME=$H
fi
python3 - <<'EOF'
import zipfile
with zipfile.ZipFile("big.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(3000):
        z.writestr("d%02d/f%05d.txt" % (i % 50, i), "file %d\n" % i)
    z.writestr("hello.txt", "hello\n")
EOF
key=$(sha256sum big.zip | cut -c1-16)
cleanup_cache() { rm -f "$H/cache/$key".*; }
fl_on_exit cleanup_cache
start_ref=$T/start-ref
touch "$start_ref"

# pids MARK: every process whose command line holds MARK (fuselage's setup,
# server and keeper share it with the command, which holds it as an argument)
# left: run directories (named by pid) visible on the host, and host mounts.
# (Other entries of a shared setuid home are not this scenario's.)
left() { fl_procdirs_left "$H" | grep -E '/procdirs/[0-9]+(/|$)'; fl_host_mounts "$H"; }
pids() { pgrep -f -- "$1" | grep -vx "$$" | tr '\n' ' '; }
root_holders() # PIDS...: those whose real, effective, saved or fs uid is 0
{
	local p
	for p in "$@"; do
		awk -v p="$p" '$1 == "Uid:" && ($2 == 0 || $3 == 0 || $4 == 0 || $5 == 0) { print p }' \
			"/proc/$p/status" 2>/dev/null
	done
}

# --- SIGKILL at each stage ------------------------------------------------------------
for how in all setup; do
	delays="0 0.02 0.1 0.3 0.8"
	[ "$how" = setup ] && delays="0 0.05 0.4"
	for delay in $delays; do
		mark=fl-kill-$how-$delay-$RANDOM
		cleanup_cache
		"$FUSELAGE" --cache-static -s big.zip sh -c 'sleep 1; : "$1"' sh "$mark" \
			</dev/null >/dev/null 2>&1 &
		setup=$!
		sleep "$delay"
		victims=$(pids "$mark")
		if [ "$how" = all ]; then
			# shellcheck disable=SC2086
			kill -KILL $setup $victims 2>/dev/null
		else
			kill -KILL "$setup" 2>/dev/null
		fi
		wait "$setup" 2>/dev/null
		# Survivors (keeper, command, server, mksquashfs) never hold root.
		survivors=$(pids "$mark")
		# shellcheck disable=SC2086
		held=$(root_holders $survivors)
		if [ "$FL_MODE" != root ]; then
			assert_eq "kill -9 $how at ${delay}s: no survivor holds root" "" "$held"
		fi
		gone=no
		for i in $(seq 1 100); do
			[ -z "$(pids "$mark")" ] && { gone=yes; break; }
			sleep 0.1
		done
		assert_eq "kill -9 $how at ${delay}s: every process gone within 10 s" yes "$gone"
		# shellcheck disable=SC2046
		[ "$gone" = yes ] || kill -KILL $(pids "$mark") 2>/dev/null
		assert_eq "kill -9 $how at ${delay}s: nothing left in procdirs, no mount on the host" "" \
			"$(left)"
	done
done
tmps=$(find "$H/cache" -name "$key.sfs.tmp.*" 2>/dev/null)
if [ -n "$tmps" ]; then
	note "killed conversions left $(wc -l <<<"$tmps") temporary image(s) in cache/, which the reaper removes after an hour (SPEC §6)"
fi
if [ "$FL_MODE" != root ]; then
	assert_eq "kill -9: no root-owned file in the cache" "" \
		"$(find "$H/cache" -newer "$start_ref" -user 0 2>/dev/null)"
fi

# --- SIGSTOP / SIGCONT of each process ------------------------------------------------------
fx_small a.zip
for victim in setup keeper server; do
	rm -f pids
	fl_bg -s a.zip sh -c "$FL_FIND_PIDS"'
sleep 1.5
cat "$FUSELAGE_STATIC/a/hello.txt"; exit 7' sh "$T/pids"
	if ! wait_for_file pids 20; then
		fl_fail "SIGSTOP $victim: the run did not start" "$(cat bg.out)"
		continue
	fi
	read -r setup keeper server <pids
	kill -STOP "${!victim}"
	sleep 2
	kill -CONT "${!victim}"
	wait "$FL_BG_PID"
	rc=$?
	assert_eq "SIGSTOP 2 s then SIGCONT of the $victim: the run finishes (status 7, output)" "7 hello" \
		"$rc $(cat bg.out)"
done

# --- ptrace and dumpability --------------------------------------------------------------------
cat >ptr.py <<'EOF'
import ctypes, errno, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
for pid in map(int, sys.argv[1:]):
    r = libc.ptrace(PTRACE_ATTACH, pid, None, None)
    if r == 0:
        os.waitpid(pid, 0x40000000)  # __WALL
        libc.ptrace(PTRACE_DETACH, pid, None, None)
        print("attached")
    else:
        print(errno.errorcode[ctypes.get_errno()])
EOF
rm -f pids
fl_bg -s a.zip sh -c "$FL_FIND_PIDS"'
echo $$ >> "$1"
sleep 4' sh "$T/pids"
if wait_for_file pids 20 && sleep 0.5; then
	read -r setup keeper server <pids
	cmd=$(sed -n 2p pids)
	owners=$(stat -c %u "/proc/$setup/environ" "/proc/$keeper/environ" "/proc/$server/environ" | tr '\n' ' ')
	traced=$(python3 ptr.py "$setup" "$keeper" "$server" | tr '\n' ' ')
	cmd_owner=$(stat -c %u "/proc/$cmd/environ")
	cmd_traced=$(python3 ptr.py "$cmd")
	ids=$(for p in "$setup" "$keeper" "$server"; do proc_field "$p" Uid; done | tr -s '\t ' ' ' | tr '\n' '/')
	wait "$FL_BG_PID"
	case $FL_MODE in
	setuid)
		assert_eq "setuid: setup, keeper and server are not dumpable (their /proc files are root's)" \
			"0 0 0 " "$owners"
		assert_eq "setuid: PTRACE_ATTACH to setup, keeper and server fails with EPERM" \
			"EPERM EPERM EPERM " "$traced"
		assert_eq "setuid: once running, setup, keeper and server hold only the caller's uid" \
			"$uid $uid $uid $uid/$uid $uid $uid $uid/$uid $uid $uid $uid/" "$ids"
		;;
	*)
		note "$FL_MODE mode: fuselage's processes hold nothing the caller lacks; ptrace of them is not restricted"
		;;
	esac
	assert_eq "the command is dumpable: its /proc files are the caller's" "$uid" "$cmd_owner"
	assert_eq "the caller can ptrace the command (debuggers work inside)" attached "$cmd_traced"
else
	fl_fail "ptrace: the run did not start" "$(cat bg.out)"
fi
if [ "$FL_MODE" = setuid ]; then
	if command -v strace >/dev/null; then
		timeout 30 strace -f -o /dev/null "$FUSELAGE" -v -s a.zip sh -c 'id -u; cat "$FUSELAGE_STATIC/a/hello.txt"' \
			>out 2>err
		rc=$?
		assert_eq "setuid under strace: the kernel ignores the setuid bit; the run works as the caller" \
			"0 $uid hello" "$rc $(tr '\n' ' ' <out | sed 's/ $//')"
		assert_match "setuid under strace: fuselage says it runs unprivileged" "mode: unprivileged" "$(cat err)"
	else
		note "strace is not installed: the traced setuid start is not checked"
	fi
fi

# --- many runs at once ------------------------------------------------------------------------------
fx_small s.sfs squash
for i in $(seq 1 16); do
	(timeout 60 "$FUSELAGE" -s a.zip -s s.sfs --dynamic-empty=w sh -c \
		'echo "$1" > "$FUSELAGE_DYNAMIC/w/f"; cat "$FUSELAGE_STATIC/a/hello.txt" "$FUSELAGE_STATIC/s/hello.txt" "$FUSELAGE_DYNAMIC/w/f"' \
		sh "$i" >"many.$i" 2>&1; echo "rc=$?" >>"many.$i") &
done
wait
bad=0
for i in $(seq 1 16); do
	[ "$(cat "many.$i")" = "hello
squash
$i
rc=0" ] || { bad=$((bad + 1)); say "       run $i: $(fl_show "$(cat "many.$i")")"; }
done
assert_eq "16 runs at once: every one got its own output and status 0" 0 "$bad"
assert_eq "16 runs at once: nothing left" "" "$(left)"
