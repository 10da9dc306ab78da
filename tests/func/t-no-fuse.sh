#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §8: FUSE unavailable inside a namespace that works.  The archives are
# then extracted into the run's private tmpfs: the content is all there,
# --static stays read-only (a read-only bind mount), files are the caller's,
# and one note line says why and what happened.  FUSE is taken away for real
# by running fuselage in a mount namespace whose /dev is a fresh tmpfs (made
# by root with unshare -m in root mode; by the test user with
# unshare --user --map-current-user --mount --keep-caps in user mode, so
# that fuselage itself still runs unprivileged) holding /dev/null and:
#   - no /dev/fuse at all;
#   - a regular file as /dev/fuse: it opens, and the kernel refuses to mount
#     with it;
#   - root mode only: the real device with mode 0600, and fuselage run as the
#     test user (unprivileged): /dev/fuse is not accessible to the caller.
# --dynamic archives are extracted the same way and stay writable.
# Every policy: deny/allow/prefer-in-root extract into memory (a namespace
# exists); force (and prefer unprivileged) extract to disk, no namespace.
# Setuid mode cannot be tested this way (a setuid bit is ignored inside a
# user namespace that does not map root), so it is not applicable there.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
fl_only_modes root user
need unshare mount

fx_small a.zip no-fuse-data
mkdir -p "$T/save" && chmod 0755 "$T/save"
# $1: what /dev/fuse is (none, file, dev0600); then the fuselage arguments.
hide='set -e
what=$1; shift
: > "$T/save/null"
mount --bind /dev/null "$T/save/null"
mount -t tmpfs -o mode=755 fl-nodev /dev
: > /dev/null && mount --bind "$T/save/null" /dev/null
case $what in
none) ;;
file) : > /dev/fuse; chmod 0666 /dev/fuse ;;
dev0600) mknod -m 0600 /dev/fuse c 10 229 ;;
esac
set +e
if [ -n "${AS_USER:-}" ]; then
	exec setpriv --reuid="$AS_USER" --regid="$AS_USER" --init-groups -- env FUSELAGE_HOME="$T/uhome" "$FUSELAGE" "$@"
fi
exec "$FUSELAGE" "$@"'
case $FL_MODE in
root) wrap=(unshare --mount --propagation private) ;;
user) wrap=(unshare --user --map-current-user --mount --keep-caps) ;;
esac
export T FUSELAGE FUSELAGE_HOME=$T/home
# Reads, says where, tries to write, shows the owner and the mount options.
CMD=(sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"; echo "$FUSELAGE_STATIC"; touch "$FUSELAGE_STATIC/a/x" 2>&1 && echo written; stat -c %u "$FUSELAGE_STATIC/a/hello.txt"; awk -v d="$FUSELAGE_STATIC/a" '\''$5 == d { print $6 }'\'' /proc/self/mountinfo')

nofuse()
{
	local what=$1
	shift
	timeout 60 "${wrap[@]}" bash -c "$hide" sh "$what" "$@" >"$T/out" 2>"$T/err"
	FL_RC=$?
	FL_OUT=$(cat "$T/out")
	FL_ERR=$(cat "$T/err")
}

# in_memory CASE CAUSE-ERE UID: the archive extracted into the private tmpfs.
in_memory()
{
	assert_ok "$1: runs"
	assert_eq "$1: the archive's content" "no-fuse-data" "$(sed -n 1p <<<"$FL_OUT")"
	assert_match "$1: in the run's tmpfs (a namespace)" "/procdirs/[0-9]+/static$" "$(sed -n 2p <<<"$FL_OUT")"
	assert_match "$1: --static stays read-only" "Read-only file system" "$(sed -n 3p <<<"$FL_OUT")"
	assert_eq "$1: files are the caller's" "$3" "$(sed -n 4p <<<"$FL_OUT")"
	assert_match "$1: a read-only nosuid,nodev bind mount" "^ro,nosuid,nodev" "$(sed -n 5p <<<"$FL_OUT")"
	assert_eq "$1: exactly one line on stderr" "1" "$(grep -c . <<<"$FL_ERR")"
	assert_match "$1: a note that names the cause" "^fuselage: note: .*($2).*extracted into the run's private memory" "$FL_ERR"
}

on_disk()
{
	assert_ok "$1: runs"
	assert_eq "$1: the archive's content" "no-fuse-data" "$(sed -n 1p <<<"$FL_OUT")"
	assert_match "$1: extracted on disk, no namespace" "/procdirs/x\..*/static$" "$(sed -n 2p <<<"$FL_OUT")"
	assert_eq "$1: not read-only (SPEC §8: not enforced)" "written" "$(sed -n 3p <<<"$FL_OUT")"
	assert_eq "$1: silent" "" "$FL_ERR"
}

me=$(id -u)
nofuse none -s a.zip "${CMD[@]}"
in_memory "no /dev/fuse, deny (default)" "/dev/fuse does not exist" "$me"
nofuse none --extract=allow -s a.zip "${CMD[@]}"
in_memory "no /dev/fuse, allow" "/dev/fuse does not exist" "$me"
nofuse none --extract=prefer -s a.zip "${CMD[@]}"
if [ "$FL_MODE" = user ]; then
	on_disk "no /dev/fuse, prefer (unprivileged)"
else
	in_memory "no /dev/fuse, prefer (root)" "/dev/fuse does not exist" "$me"
fi
nofuse none --extract=force -s a.zip "${CMD[@]}"
on_disk "no /dev/fuse, force"
nofuse file -s a.zip "${CMD[@]}"
in_memory "/dev/fuse that the kernel refuses to mount with" "cannot mount FUSE" "$me"
nofuse none -s /run/fuselage/nf:a.zip sh -c 'cat /run/fuselage/nf/hello.txt; touch /run/fuselage/nf/x 2>&1; true'
assert_ok "no /dev/fuse, a fixed path: runs"
assert_match "... served read-only" "^no-fuse-data.*Read-only file system" "$(echo $FL_OUT)"
sum=$(sha256sum <a.zip)
nofuse none -d a.zip sh -c 'echo more >> "$FUSELAGE_DYNAMIC/a/hello.txt" && mkdir "$FUSELAGE_DYNAMIC/a/new" && cat "$FUSELAGE_DYNAMIC/a/hello.txt"; awk -v d="$FUSELAGE_DYNAMIC/a" '\''$5 == d { print "mounted" }'\'' /proc/self/mountinfo'
assert_ok "no /dev/fuse, --dynamic: runs"
assert_eq "... writable, in the run's private memory" "no-fuse-data more" "$(echo $FL_OUT)"
assert_match "... with the note" "^fuselage: note: .*--dynamic writable" "$FL_ERR"
assert_eq "... the archive itself unchanged" "$sum" "$(sha256sum <a.zip)"
nofuse none -s a.zip --run a/bin/prog x y
assert_eq "no /dev/fuse: --run from the extracted archive" "argv0=$FUSELAGE_HOME/procdirs/*/static/a/bin/prog arg=x arg=y" \
	"$(echo $FL_OUT | sed -E 's|procdirs/[0-9]+/|procdirs/*/|')"
if [ -x "$MKSQUASHFS" ]; then
	nofuse none --cache-static -s a.zip "${CMD[@]}"
	in_memory "no /dev/fuse, --cache-static (first run converts the extracted tree)" "/dev/fuse" "$me"
	nofuse none -v --cache-static -s a.zip "${CMD[@]}"
	assert_match "... the second run hits the cache" "cache hit" "$FL_ERR"
	assert_eq "... and extracts the cached image" "no-fuse-data" "$(sed -n 1p <<<"$FL_OUT")"
fi
if [ "$FL_MODE" = root ]; then
	u=${FL_TEST_USER:-fltest}
	if id -u "$u" >/dev/null 2>&1; then
		mkdir -p "$T/uhome" && chown "$u:" "$T/uhome"
		AS_USER=$u nofuse dev0600 -s a.zip "${CMD[@]}"
		in_memory "/dev/fuse 0600 root, run by $u" "not accessible to you" "$(id -u "$u")"
	else
		fl_fail "no test user $u for the /dev/fuse-not-accessible case"
	fi
fi
# without archives FUSE is not needed at all
nofuse none sh -c 'echo "$FUSELAGE_TMPDIR" | grep -c procdirs'
assert_eq "no /dev/fuse: a run without archives still works, silently" "0 1 " "$FL_RC $FL_OUT $FL_ERR"
assert_eq "nothing left on disk" "" "$(find "$FUSELAGE_HOME/procdirs" -mindepth 1 -maxdepth 1 -name 'x.*')"
