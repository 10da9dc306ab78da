#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2, §4, §5: -d/--dynamic with every input format --static takes (zip,
# squashfs, ELF + squashfs, base64), with --run, at a fixed path; the archive
# file is never modified; -v names the backend and why; the mounts are
# nosuid,nodev; FUSELAGE_DYNAMIC_BACKEND is checked.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip base64 sha256sum
need_mksquashfs

mkdir -p tree/bin tree/dir/sub
printf 'hello from the tree\n' >tree/hello.txt
printf '#!/bin/sh\necho "prog: $*"\n' >tree/bin/prog
chmod 0755 tree/bin/prog
printf 'inner\n' >tree/dir/sub/f
(cd tree && zip -q -r -y ../tree.zip .)
fx_sqfs tree tree.sqfs gzip
cp /bin/true app.AppImage
truncate -s %4096 app.AppImage
cat tree.sqfs >>app.AppImage
base64 tree.zip >tree.b64
sums=$(sha256sum tree.zip tree.sqfs app.AppImage tree.b64)

# shellcheck disable=SC2016
work='cd "$FUSELAGE_DYNAMIC/x" && echo more >>hello.txt && echo new >new.txt &&
mkdir -p dir/made && mv dir/sub/f dir/made/g && rm -r dir/sub && chmod 0700 bin/prog &&
cat hello.txt new.txt dir/made/g && ls dir && stat -c %a bin/prog && ./bin/prog a'
for f in tree.zip tree.sqfs app.AppImage tree.b64; do
	fl_run -d "x:$f" sh -c "$work"
	assert_ok "--dynamic $f: write, mkdir, rename, rmdir, chmod, exec"
	assert_eq "--dynamic $f: what the command saw" "hello from the tree
more
new
inner
made
700
prog: a" "$FL_OUT"
done
assert_eq "no archive file was modified" "$sums" "$(sha256sum tree.zip tree.sqfs app.AppImage tree.b64)"

# every run starts from the archive again
fl_run -d x:tree.zip sh -c 'cat "$FUSELAGE_DYNAMIC/x/hello.txt"; ls "$FUSELAGE_DYNAMIC/x"'
assert_eq "changes vanish with the run" "hello from the tree
bin
dir
hello.txt" "$FL_OUT"

# --dynamic together with --static and --dynamic-empty; the environment
# shellcheck disable=SC2016
fl_run -d tree.zip -s s:tree.sqfs --dynamic-empty=e sh -c 'echo "$FUSELAGE_DYNAMIC"; ls "$FUSELAGE_DYNAMIC"; echo w >"$FUSELAGE_DYNAMIC/tree/w" && cat "$FUSELAGE_DYNAMIC/tree/w"; echo x >"$FUSELAGE_STATIC/s/x" 2>/dev/null || echo static stays read-only'
assert_ok "--dynamic with --static and --dynamic-empty"
assert_match "FUSELAGE_DYNAMIC is the run's dynamic/" "^/.*/procdirs/[0-9]+/dynamic
e
tree
w
static stays read-only$" "$FL_OUT"

# --run inside a --dynamic archive, also a program the command changed
fl_run -d x:tree.zip --run x/bin/prog 'a b' c
assert_eq "--run NAME/path in a --dynamic archive" "prog: a b c" "$FL_OUT"
fl_run -d x:tree.zip --run bin/prog
assert_eq "--run path looked up in the --dynamic root" "prog: " "$FL_OUT"

# -v: which backend and why; mounts nosuid,nodev, the lower read-only
case $FL_MODE in
user) flavour=userxattr ;;
*) flavour=redirect_dir=on ;;
esac
# shellcheck disable=SC2016
fl_run -v -d x:tree.zip sh -c 'awk -v d="$FUSELAGE_DYNAMIC/x" '\''$5 == d { for (i = 7; $i != "-"; i++) ; print $(i + 1), $6 }'\'' /proc/self/mountinfo'
assert_ok "-v -d"
assert_match "-v names overlayfs, its flavour and the probe" "--dynamic: kernel overlayfs \($flavour\): the probe \(copy-up, rename, rmdir with $flavour\) passed" "$FL_ERR"
assert_match "-v says where the overlay is" "overlay on .*/dynamic/x" "$FL_ERR"
assert_match "the lower FUSE mount is read-only, nosuid, nodev" "^fuse\.fuselage ro,nosuid,nodev" "$(printf '%s\n' "$FL_OUT" | sed -n 1p)"
assert_match "the overlay is nosuid, nodev" "^overlay rw,nosuid,nodev" "$(printf '%s\n' "$FL_OUT" | sed -n 2p)"
assert_eq "exactly two mounts there" 2 "$(printf '%s\n' "$FL_OUT" | wc -l)"

# FUSELAGE_DYNAMIC_BACKEND
FUSELAGE_DYNAMIC_BACKEND=overlay fl_run -d x:tree.zip sh -c 'cat "$FUSELAGE_DYNAMIC/x/hello.txt"'
assert_eq "FUSELAGE_DYNAMIC_BACKEND=overlay" "hello from the tree" "$FL_OUT"
FUSELAGE_DYNAMIC_BACKEND=zfs fl_run -d x:tree.zip echo ran
assert_fl_error "FUSELAGE_DYNAMIC_BACKEND=zfs" "^fuselage: FUSELAGE_DYNAMIC_BACKEND=zfs: must be 'overlay' or 'fuse'$"
FUSELAGE_DYNAMIC_BACKEND= fl_run -d x:tree.zip sh -c 'echo ran'
assert_eq "FUSELAGE_DYNAMIC_BACKEND empty: the probe decides" "ran" "$FL_OUT"
# The FUSE copy-on-write fallback: the same work on every format, said by
# -v, on a writable FUSE mount with no overlay (t-dynamic-fuse runs the
# POSIX suite on it).
for f in tree.zip tree.sqfs app.AppImage tree.b64; do
	FUSELAGE_DYNAMIC_BACKEND=fuse fl_run -d "x:$f" sh -c "$work"
	assert_ok "FUSELAGE_DYNAMIC_BACKEND=fuse, $f: write, mkdir, rename, rmdir, chmod, exec"
	assert_eq "FUSELAGE_DYNAMIC_BACKEND=fuse, $f: what the command saw" "hello from the tree
more
new
inner
made
700
prog: a" "$FL_OUT"
done
assert_eq "no archive file was modified (fallback)" "$sums" "$(sha256sum tree.zip tree.sqfs app.AppImage tree.b64)"
# shellcheck disable=SC2016
FUSELAGE_DYNAMIC_BACKEND=fuse fl_run -v -d x:tree.zip sh -c 'awk -v d="$FUSELAGE_DYNAMIC/x" '\''$5 == d { for (i = 7; $i != "-"; i++) ; print $(i + 1), $6 }'\'' /proc/self/mountinfo'
assert_match "fallback: the FUSE mount is writable, nosuid, nodev" "^fuse\.fuselage rw,nosuid,nodev" "$FL_OUT"
assert_eq "fallback: exactly one mount there (no overlay)" 1 "$(printf '%s\n' "$FL_OUT" | wc -l)"
assert_match "-v says the fallback is used, and why" "--dynamic: the FUSE copy-on-write fallback in the server: FUSELAGE_DYNAMIC_BACKEND=fuse" "$FL_ERR"
assert_match "-v says the archive is served writable" "serving tree.zip \(zip, writable: copy-on-write in the server\)" "$FL_ERR"
FUSELAGE_DYNAMIC_BACKEND=zfs fl_run -s x:tree.zip sh -c 'echo ran'
assert_eq "FUSELAGE_DYNAMIC_BACKEND is only read for --dynamic" "ran" "$FL_OUT"

# FUSELAGE_TMPFS_SIZE: the run's memory limit
FUSELAGE_TMPFS_SIZE=3m fl_run -d x:tree.zip sh -c 'df -k "$FUSELAGE_TMPDIR" | awk "NR == 2 { print \$2 }"'
assert_eq "FUSELAGE_TMPFS_SIZE=3m sizes the run's tmpfs" 3072 "$FL_OUT"
FUSELAGE_TMPFS_SIZE=3q fl_run -d x:tree.zip echo ran
assert_fl_error "FUSELAGE_TMPFS_SIZE=3q" "^fuselage: FUSELAGE_TMPFS_SIZE=3q: not a size"

# a fixed path: private, writable by the caller, no FUSELAGE_DYNAMIC
if [ -d /run/fuselage ]; then
	# shellcheck disable=SC2016
	fl_run -d /run/fuselage/dx:tree.zip sh -c 'cd /run/fuselage/dx && touch mine && stat -c "%u %a" . mine && cat hello.txt && echo "D=${FUSELAGE_DYNAMIC-unset}"'
	assert_eq "a fixed-path --dynamic is the caller's and writable" "$(fl_uid) 755
$(fl_uid) $(printf '%o' $((0666 & ~$(umask))))
hello from the tree
D=unset" "$FL_OUT"
	assert_eq "the host's /run/fuselage is untouched" "" "$(ls -A /run/fuselage)"
fi
