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

# --dynamic and --dynamic-empty at fixed paths are the caller's and writable
# (the seed made them root's in setuid mode, and "uv sync" into them failed)
fl_run -d /run/fuselage/dd:a.zip --dynamic-empty=/run/fuselage/de sh -c 'for d in dd de; do mkdir -p /run/fuselage/$d/.venv/lib && echo x >/run/fuselage/$d/.venv/lib/f && stat -c "$d %u %a" /run/fuselage/$d; done; cat /run/fuselage/dd/hello.txt'
assert_eq "fixed-path --dynamic and --dynamic-empty: the caller's, writable" "dd $(fl_uid) 755
de $(fl_uid) $(printf '%o' $((0777 & ~$(umask))))
fixed-a" "$FL_OUT"

# 20 concurrent runs on the same archives and the same fixed paths: each sees
# only its own writes
for i in $(seq 1 20); do
	"$FUSELAGE" -d /run/fuselage/same:a.zip --dynamic-empty=/run/fuselage/scratch -s b:b.zip sh -c '
		echo "$1" >/run/fuselage/same/mine && echo "$1" >/run/fuselage/scratch/mine && sleep 0.5 &&
		cat /run/fuselage/same/mine /run/fuselage/scratch/mine /run/fuselage/same/hello.txt "$FUSELAGE_STATIC/b/hello.txt" &&
		ls /run/fuselage/same /run/fuselage/scratch | tr "\n" " "' sh "$i" >"c$i.out" 2>&1 </dev/null &
	pids+=($!)
done
(sleep 60; kill -KILL "${pids[@]}") >/dev/null 2>&1 &
w=$!
bad=0
for i in $(seq 1 20); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
done
kill $w 2>/dev/null
assert_eq "20 concurrent runs: all exited 0" 0 "$bad"
wrong=0
for i in $(seq 1 20); do
	[ "$(cat "c$i.out")" = "$i
$i
fixed-a
fixed-b
/run/fuselage/same: bin hello.txt mine  /run/fuselage/scratch: mine " ] || { wrong=$((wrong + 1)); say "       c$i.out: $(fl_show "$(cat "c$i.out")")"; }
done
assert_eq "20 concurrent runs: each saw its own content only" 0 "$wrong"
assert_eq "the host's /run/fuselage is still untouched" "" "$(ls -A /run/fuselage)"

# /run/fuselage missing on the host, simulated for real: an outer namespace
# whose /run is a fresh tmpfs with a user directory, a file, a symlink and a
# listening socket, and no fuselage/.  Unprivileged, fuselage then makes a
# private /run that keeps all of them; as root it says how to create it.
# (Setuid mode: a setuid bit is ignored inside a user namespace, so there is
# no way to hide /run/fuselage from a setuid fuselage without root.)
missing_run_fuselage()
{
U=$(id -u)
fake='set -e
mount -t tmpfs -o mode=755 fl-run /run
mkdir -p "/run/user/$U" && echo userfile >"/run/user/$U/f" && ln -s /dev/shm /run/shm && echo 42 >/run/x.pid
python3 -c "
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(\"/run/test.sock\"); s.listen(4)
if os.fork(): sys.exit(0)
s.settimeout(50)
c, _ = s.accept(); c.sendall(b\"hello over the socket\"); c.close()" </dev/null >/dev/null 2>&1
test ! -e /run/fuselage
set +e
"$FUSELAGE" "$@"; rc=$?
test ! -e /run/fuselage && echo "outer /run/fuselage: still absent"
exit $rc'
case $FL_MODE in
root) wrap=(unshare --mount --propagation private) ;;
user) wrap=(unshare --user --map-current-user --mount --keep-caps) ;;
esac
export U FUSELAGE
inner='cat "/run/user/$U/f"; readlink /run/shm; cat /run/x.pid
python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"/run/test.sock\"); print(s.recv(100).decode())"
ls /run | tr "\n" " "; echo; echo w >/run/fuselage/w/new && cat /run/fuselage/w/hello.txt /run/fuselage/w/new'
out=$(timeout 60 "${wrap[@]}" bash -c "$fake" sh -v -d /run/fuselage/w:a.zip sh -c "$inner" 2>"$T/err")
rc=$?
if [ "$FL_MODE" = user ]; then
	assert_status "no /run/fuselage on the host (user mode): the run works" 0 "$rc" "$(cat "$T/err")"
	assert_eq "a private /run: the old entries reachable, /run/fuselage/NAME served" "userfile
/dev/shm
42
hello over the socket
fuselage shm test.sock user x.pid 
fixed-a
w
outer /run/fuselage: still absent" "$out"
	assert_match "-v says so" "/run/fuselage does not exist on the host: a private /run with it was made" "$(cat "$T/err")"
else
	FL_RC=$rc FL_OUT=$(printf '%s\n' "$out" | grep -v "outer /run/fuselage") FL_ERR=$(grep -v '^fuselage: \[' "$T/err")
	assert_fl_error "no /run/fuselage on the host (root mode): a hint" "^fuselage: cannot use fixed paths: /run/fuselage: No such file or directory \(create it as root"
fi
}
if [ "$FL_MODE" = setuid ]; then
	note "setuid mode: /run/fuselage missing on the host is not simulated (needs root)"
else
	need unshare mount python3
	missing_run_fuselage
fi
