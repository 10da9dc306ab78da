#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.1/§2.2/§5: fixed paths /run/fuselage/NAME for --static and
# --dynamic-empty: served there, private to the run, no FUSELAGE_STATIC or
# FUSELAGE_DYNAMIC for them; two concurrent runs do not see each other.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
[ -d /run/fuselage ] || skip "/run/fuselage does not exist (mkdir -m 0755 /run/fuselage as root)"

fx_small a.zip fixed-a
fx_small b.zip fixed-b
fl_run -s /run/fuselage/fa:a.zip sh -c 'cat /run/fuselage/fa/hello.txt; echo "S=${FUSELAGE_STATIC-unset} D=${FUSELAGE_DYNAMIC-unset}"'
assert_ok "a fixed-path --static"
assert_eq "served at /run/fuselage/NAME; no FUSELAGE_STATIC" "fixed-a
S=unset D=unset" "$FL_OUT"
fl_run --dynamic-empty=/run/fuselage/fw sh -c 'echo w > /run/fuselage/fw/f && cat /run/fuselage/fw/f; echo "D=${FUSELAGE_DYNAMIC-unset}"'
assert_eq "a fixed-path --dynamic-empty is writable; no FUSELAGE_DYNAMIC" "w
D=unset" "$FL_OUT"
fl_run -s /run/fuselage/fa:a.zip -s b.zip sh -c 'ls /run/fuselage; ls "$FUSELAGE_STATIC"'
assert_eq "fixed and relative together" "fa
b" "$FL_OUT"
assert_eq "the host's /run/fuselage is untouched" "" "$(ls -A /run/fuselage)"

# two concurrent runs with the same fixed path see only their own
rm -f r1 r2 go
"$FUSELAGE" -s /run/fuselage/same:a.zip sh -c 'until [ -e "$1" ]; do sleep 0.1; done; cat /run/fuselage/same/hello.txt; ls /run/fuselage' sh "$T/go" >r1 2>&1 </dev/null &
p1=$!
"$FUSELAGE" -s /run/fuselage/same:b.zip sh -c 'until [ -e "$1" ]; do sleep 0.1; done; cat /run/fuselage/same/hello.txt; ls /run/fuselage' sh "$T/go" >r2 2>&1 </dev/null &
p2=$!
sleep 1
touch go
(sleep 30; kill -KILL $p1 $p2) >/dev/null 2>&1 &
w=$!
wait $p1
wait $p2
kill $w 2>/dev/null
assert_eq "concurrent run 1 sees its own archive only" "fixed-a
same" "$(cat r1)"
assert_eq "concurrent run 2 sees its own archive only" "fixed-b
same" "$(cat r2)"
