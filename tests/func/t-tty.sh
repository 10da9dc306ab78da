#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.4: from a real terminal (a pty driven by tests/func/ptyrun.py),
# Ctrl-C interrupts the command and fuselage dies of SIGINT; Ctrl-Z stops
# the job in an interactive bash and "fg" resumes it.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 bash

out=$(timeout -k 5 60 python3 "$FL_FUNC/ptyrun.py" ctrl-c "$FUSELAGE")
assert_match "Ctrl-C: fuselage dies of SIGINT" '^status=signal:2$' "$out"
assert_match "Ctrl-C: the command was interrupted" '^interrupted=yes$' "$out"

out=$(timeout -k 5 90 python3 "$FL_FUNC/ptyrun.py" jobctl "$FUSELAGE")
assert_match "Ctrl-Z stops the job" '^stopped=yes$' "$out"
assert_match "nothing runs while stopped" '^ran-while-stopped=no$' "$out"
assert_match "fg resumes it" '^resumed=yes$' "$out"
assert_match "... and it ends with status 0" '^fg-status=0$' "$out"
