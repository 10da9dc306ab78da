#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4: what squashfs holds beyond plain files — hard links (same inode
# number), fifos, device nodes (visible, not usable: nodev), user.* xattrs
# visible and trusted.* not, directory mtimes, owners squashed to the
# caller, set-id bits never shown.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need_mksquashfs
need python3

mkdir -p src/dir
printf 'linked\n' >src/hard1
ln src/hard1 src/hard2
ln src/hard1 src/dir/hard3
mkfifo src/fifo
for m in 4755 2755 6755 1777; do
	printf '#!/bin/sh\necho %s\n' "$m" >"src/mode$m"
	chmod "$m" "src/mode$m"
done
mkdir src/sticky
chmod 1777 src/sticky
printf 'x\n' >src/xattr-file
touch -d "$FL_MTIME" src/dir
have_attr=0
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
	if setfattr -n user.fl.test -v hello-xattr src/xattr-file 2>/dev/null; then
		have_attr=1
		setfattr -n user.fl.second -v 2 src/xattr-file
	else
		note "this filesystem ($T) refuses user.* xattrs: the xattr checks were not made"
	fi
	if [ "$(id -u)" = 0 ] && [ "$have_attr" = 1 ]; then
		setfattr -n trusted.fl.secret -v must-not-show src/xattr-file
	fi
else
	[ "$FL_TEST_STRICT" = 1 ] && fl_fail "setfattr/getfattr are not installed (Debian: attr)"
	note "setfattr/getfattr (attr) are not installed: the xattr checks were not made"
fi
# device nodes through mksquashfs pseudo definitions (no root needed); the
# image's owner is forced to someone else to see it squashed
fx_sqfs src img.sqfs gzip -force-uid 4242 -force-gid 4343 \
	-p 'chardev c 0666 0 0 1 3' -p 'blockdev b 0600 0 0 7 0'

fl_run -s img.sqfs sh -c 'cd "$FUSELAGE_STATIC/img" || exit 1
echo "hard: $(stat -c %i hard1) $(stat -c %i hard2) $(stat -c %i dir/hard3) $(stat -c %h hard1)"
echo "fifo: $(stat -c %F fifo)"
echo "chardev: $(stat -c "%F %t,%T" chardev)"
echo "blockdev: $(stat -c "%F %t,%T" blockdev)"
if head -c 1 chardev >/dev/null 2>"$1/dev.err"; then echo "chardev-open: ok"; else echo "chardev-open: $(cat "$1/dev.err")"; fi
echo "owners: $(find . -printf "%U:%G\n" | sort -u | tr "\n" " ")"
for m in 4755 2755 6755 1777; do echo "mode$m: $(stat -c %a mode$m)"; done
echo "sticky-dir: $(stat -c %a sticky)"
echo "dir-mtime: $(stat -c %Y dir)"
if command -v getfattr >/dev/null; then
	echo "xattr-value: $(getfattr --only-values -n user.fl.test xattr-file 2>&1)"
	echo "xattr-names: $(getfattr -d -m - xattr-file 2>/dev/null | grep -v "^#" | grep . | cut -d= -f1 | sort | tr "\n" " ")"
	echo "trusted: $(getfattr --only-values -n trusted.fl.secret xattr-file 2>&1 | head -n 1)"
fi' sh "$T"
assert_ok "the image is served"
out=$FL_OUT
get() { sed -n "s/^$1: //p" <<<"$out"; }
read -r i1 i2 i3 nl <<<"$(get hard)"
assert_eq "hard links share one inode number (hard1 = hard2)" "$i1" "$i2"
assert_eq "hard links share one inode number (hard1 = dir/hard3)" "$i1" "$i3"
assert_eq "hard link count" "3" "$nl"
assert_eq "a fifo is a fifo" "fifo" "$(get fifo)"
assert_eq "a character device is visible" "character special file 1,3" "$(get chardev)"
assert_eq "a block device is visible" "block special file 7,0" "$(get blockdev)"
assert_match "a device node cannot be used (nodev)" "Permission denied|Operation not permitted" "$(get chardev-open)"
assert_eq "every owner is the caller" "$(id -u):$(id -g) " "$(get owners)"
assert_eq "setuid bit never shown" "755" "$(get mode4755)"
assert_eq "setgid bit never shown" "755" "$(get mode2755)"
assert_eq "setuid+setgid never shown" "755" "$(get mode6755)"
assert_eq "the sticky bit is kept (a file)" "1777" "$(get mode1777)"
assert_eq "the sticky bit is kept (a directory)" "1777" "$(get sticky-dir)"
assert_eq "directory mtime kept" "$FL_MTIME_EPOCH" "$(get dir-mtime)"
if [ "$have_attr" = 1 ]; then
	assert_eq "a user.* xattr is visible with its value" "hello-xattr" "$(get xattr-value)"
	assert_eq "only user.* xattrs are listed" "user.fl.second user.fl.test " "$(get xattr-names)"
	if [ "$(id -u)" = 0 ]; then
		assert_eq "the source really holds trusted.fl.secret" "must-not-show" "$(getfattr --only-values -n trusted.fl.secret src/xattr-file)"
		assert_match "trusted.* is not exposed" "No such attribute|not supported" "$(get trusted)"
	else
		note "trusted.* xattrs can only be put in an image as root: checked in root mode only"
	fi
fi
