#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.4: exit statuses 0/N/125/126/127; death by a signal is re-raised
# (the shell sees 128+S) and fuselage leaves no core file of its own.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip
for n in 0 1 42 124 125 126 127 255; do
	fl_run -s a.zip sh -c "exit $n"
	assert_status "the command's exit status $n is fuselage's" "$n" "$FL_RC" "$FL_ERR"
done
fl_run false
assert_status "false" 1 "$FL_RC"

# not found: 127 and one line
fl_run no-such-command-fl "arg"
assert_status "a command not in PATH" 127 "$FL_RC"
assert_match "... says so in one line" '^fuselage: .*no-such-command-fl.*not found$' "$FL_ERR"
fl_run "$T/nonexistent/prog"
assert_status "a path that does not exist" 127 "$FL_RC"
# found but not executable: 126
printf 'echo hi\n' >noexec
chmod 0644 noexec
fl_run "$T/noexec"
assert_status "a file without x permission" 126 "$FL_RC"
assert_match "... says why" '^fuselage: .*noexec.*(Permission denied|cannot execute)' "$FL_ERR"
mkdir adir
fl_run "$T/adir"
assert_status "a directory as the command" 126 "$FL_RC"
fl_run -s a.zip sh -c '"$FUSELAGE_STATIC/a/hello.txt"'
assert_status "the shell inside reports 126 for a data file in the archive" 126 "$FL_RC"

# The command is started by a vfork-like clone that runs execvp/execve as
# before (src/supervise.c): found through PATH, a script without "#!" runs
# under /bin/sh as execvp runs it; named by its path, it is execve's ENOEXEC
# (126); the caller's umask and argv reach it.
mkdir bin
printf 'echo "no-shebang: $# $1 $(umask)"\n' >bin/noshebang
chmod 0755 bin/noshebang
saved_umask=$(umask)
umask 0027
PATH=$T/bin:$PATH fl_run noshebang "an arg"
umask "$saved_umask"
assert_ok "a script without #! found in PATH runs"
assert_eq "... under /bin/sh, with its arguments and the caller's umask" "no-shebang: 1 an arg 0027" "$FL_OUT"
fl_run "$T/bin/noshebang"
assert_status "the same script named by its path: execve's ENOEXEC" 126 "$FL_RC"
assert_match "... says why" '^fuselage: .*noshebang: cannot execute: Exec format error$' "$FL_ERR"

# death by signal: fuselage dies of the same signal (checked with waitpid, not
# just the shell's 128+S) and writes no core file of its own
core_pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|unknown')
for sig in TERM KILL INT HUP SEGV ABRT USR1; do
	num=$(kill -l "$sig")
	rm -f core core.*
	# the command itself may not dump core (ulimit -c 0 inside); fuselage may
	out=$(cd "$T" && ulimit -c unlimited 2>/dev/null; timeout -k 5 30 python3 -c '
import subprocess, sys
r = subprocess.run(sys.argv[1:])
print(r.returncode)' "$FUSELAGE" sh -c "ulimit -c 0; kill -$sig \$\$; sleep 5")
	assert_eq "the command dies of SIG$sig: fuselage dies of it too" "-$num" "$out"
	if [ "${core_pattern#|}" = "$core_pattern" ] && [ "${core_pattern#*/}" = "$core_pattern" ]; then
		assert_eq "no core file after SIG$sig" "" "$(ls core core.* 2>/dev/null)"
	fi
	fl_run sh -c "kill -$sig \$\$"
	assert_status "the shell sees 128+SIG$sig" "$((128 + num))" "$FL_RC"
done
if [ "${core_pattern#|}" != "$core_pattern" ] || [ "${core_pattern#*/}" != "$core_pattern" ]; then
	note "core_pattern is '$core_pattern' (a pipe or a path): the no-core-file check was not made"
fi
# SIGPIPE from a pipeline
out=$(timeout 20 "$FUSELAGE" sh -c 'yes' | head -n 1; echo "rc=${PIPESTATUS[0]}")
assert_eq "a command killed by SIGPIPE: 128+SIGPIPE" "y
rc=141" "$out"
