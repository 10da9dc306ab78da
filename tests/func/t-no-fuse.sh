#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.4/§8: FUSE unavailable.  /dev/fuse is hidden by running fuselage in
# a mount namespace whose /dev is a fresh tmpfs holding only /dev/null (made
# by root with unshare -m in root mode; by the test user with
# unshare --user --map-current-user --mount --keep-caps in user mode, so that
# fuselage itself still runs unprivileged).  Expected: status 125 and one
# line naming FUSE / /dev/fuse — or, once SPEC §8's in-namespace extraction
# exists, the archive served read-only with a one-line note.
# Setuid mode cannot be tested this way (a setuid bit is ignored inside a
# user namespace that does not map root), so it is not applicable there.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
fl_only_modes root user
need unshare mount

fx_small a.zip no-fuse-data
hide='set -e
mkdir -p "$T/save" && : > "$T/save/null"
mount --bind /dev/null "$T/save/null"
mount -t tmpfs -o mode=755 fl-nodev /dev
: > /dev/null && mount --bind "$T/save/null" /dev/null
test ! -e /dev/fuse
set +e
exec "$FUSELAGE" "$@"'
case $FL_MODE in
root) wrap=(unshare --mount --propagation private) ;;
user) wrap=(unshare --user --map-current-user --mount --keep-caps) ;;
esac
export T FUSELAGE
out=$(timeout 30 "${wrap[@]}" bash -c "$hide" sh -s a.zip sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"; touch "$FUSELAGE_STATIC/a/x" 2>&1' 2>"$T/err")
rc=$?
err=$(cat "$T/err")
if [ "$rc" = 125 ]; then
	FL_RC=$rc; FL_OUT=$out; FL_ERR=$err
	assert_fl_error "no /dev/fuse: fuselage fails with one line" "FUSE|/dev/fuse"
	assert_match "... that says /dev/fuse is missing" "/dev/fuse.*(does not exist|missing|No such)" "$err"
elif [ "$rc" = 0 ]; then
	assert_match "no /dev/fuse (SPEC §8 extraction): the archive is served" "^no-fuse-data" "$out"
	assert_match "... read-only" "Read-only file system" "$out"
	assert_eq "... with a one-line note" "1" "$(grep -c . <<<"$err")"
else
	fl_fail "no /dev/fuse: unexpected status $rc" "stdout: $(fl_show "$out")" "stderr: $(fl_show "$err")"
fi
# without archives FUSE is not needed at all
out=$(timeout 30 "${wrap[@]}" bash -c "$hide" sh sh -c 'echo "$FUSELAGE_TMPDIR" | grep -c procdirs' 2>"$T/err")
assert_eq "no /dev/fuse: a run without archives still works" "0 1" "$? $out"
