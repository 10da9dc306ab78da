#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §7.4 --loop: kernel squashfs on a loop device.  Root: a plain and an
# ELF-appended image (LOOP_CONFIGURE's offset and size limit, read back with
# losetup) are served read-only, nosuid, nodev, with the loop device gone
# after the run (also after kill -9 of every process); two images in one
# run; a fixed path; an image the kernel refuses leaves
# no device behind; 6 concurrent runs (free device races); --loop is all or
# nothing: a zip, base64 text or a --dynamic archive in the run refuses it,
# and so does --extract=force; the setuid rule for a nosuid filesystem,
# checked from root mode with a private namespace and setuid copy.  Setuid: an image owned by root that the
# caller cannot write (a fixture driver.sh makes as root) is served; the
# caller's own image, root-owned images the caller may write (mode 0666; a
# group of the caller's, mode 0664; an ACL entry) and a root-owned zip are
# refused with the reason.  Unprivileged: refused (no block-device mounts in a user namespace).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need_mksquashfs
need losetup findmnt

mkdir -p src/bin
printf 'from the loop\n' >src/hello.txt
printf '#!/bin/sh\necho "prog: $*"\n' >src/bin/prog
chmod 0755 src/bin/prog
fx_sqfs src img.sqfs gzip
fx_small a.zip
uid=$(id -u)
probe='D=$FUSELAGE_STATIC/img
cat "$D/hello.txt"
findmnt -n -o FSTYPE,OPTIONS -T "$D" | tr -s " ," "\n" | grep -xE "squashfs|ro|nosuid|nodev" | sort | tr "\n" " "
echo
if touch "$D/x" 2>/dev/null; then echo writable; else echo read-only; fi'
# the loop device behind $FUSELAGE_STATIC/img, as losetup sees it
dev_probe='dev=$(findmnt -n -o SOURCE -T "$FUSELAGE_STATIC/img")
losetup -n -l -O OFFSET,SIZELIMIT,AUTOCLEAR,RO,PARTSCAN "$dev" | tr -s " " | sed "s/^ //"'
loop_gone() # IMAGE: no loop device still backed by IMAGE (as far as we may see)
{
	local left i
	for i in $(seq 1 30); do
		left=$(losetup -j "$1" 2>/dev/null)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	say "       still attached: $left"
	return 1
}
size_of() { stat -c %s "$1"; }

case $FL_MODE in
user)
	fl_run --loop -s img.sqfs sh -c 'echo the command ran'
	assert_fl_error "user: --loop refused with the reason" "--loop: not possible without root.*user namespace"
	fl_run -s img.sqfs sh -c 'cat "$FUSELAGE_STATIC/img/hello.txt"'
	assert_eq "user: the same image without --loop is served through FUSE" "from the loop" "$FL_OUT"
	;;
root)
	[ -e /dev/loop-control ] || skip "no /dev/loop-control: this kernel or container has no loop devices"
	fl_run -v --loop -s img.sqfs sh -c "$probe"
	assert_ok "root: --loop serves a squashfs image"
	assert_eq "root: content, squashfs ro,nosuid,nodev, writes refused" "from the loop
nodev nosuid ro squashfs 
read-only" "$FL_OUT"
	assert_match "root: -v says it is the kernel's driver and names the device" \
		"serving img\.sqfs \(squashfs, kernel driver on a loop device\) at .*/static/img: /dev/loop[0-9]+, bytes 0-$(size_of img.sqfs) of the file" "$FL_ERR"
	assert_no_match "root: no FUSE server for it" "server [0-9]+ ready" "$FL_ERR"
	assert_true "root: the loop device is gone after the run" loop_gone "$PWD/img.sqfs"
	fl_run --loop -s img.sqfs sh -c "$dev_probe"
	assert_eq "root: the device: offset 0, the image's size, autoclear, read-only, no partition scan" \
		"0 $(size_of img.sqfs) 1 1 0" "$FL_OUT"
	# ELF + appended squashfs: the image starts at an offset
	cp "$(type -P true)" app.elf
	truncate -s %4096 app.elf
	off=$(size_of app.elf)
	assert_eq "root: the fixture is an ELF file with the image at 4096 or later" "ELF yes" \
		"$(head -c 4 app.elf | tail -c 3) $([ "$off" -ge 4096 ] && echo yes)"
	cat img.sqfs >>app.elf
	printf 'trailing bytes' >>app.elf
	fl_run --loop -s img:app.elf --run img/bin/prog a b
	assert_eq "root: an ELF-appended image (LOOP_CONFIGURE offset): --run works" "0 prog: a b" "$FL_RC $FL_OUT"
	fl_run --loop -s img:app.elf sh -c "$dev_probe"
	assert_eq "root: its device covers exactly the image (offset, size limit), not the ELF or the tail" \
		"$off $(size_of img.sqfs) 1 1 0" "$FL_OUT"
	assert_true "root: its loop device is gone too" loop_gone "$PWD/app.elf"
	# two images in one run, one at a fixed path when /run/fuselage exists
	printf 'second\n' >src/hello.txt
	fx_sqfs src two.sqfs xz
	fl_run --loop -s img.sqfs -s two.sqfs sh -c 'cat "$FUSELAGE_STATIC/img/hello.txt" "$FUSELAGE_STATIC/two/hello.txt"; findmnt -n -o SOURCE -T "$FUSELAGE_STATIC/img"; findmnt -n -o SOURCE -T "$FUSELAGE_STATIC/two"'
	assert_ok "root: two --loop images in one run"
	assert_eq "root: both served" "from the loop
second" "$(printf '%s\n' "$FL_OUT" | head -n 2)"
	assert_eq "root: on two different loop devices" 2 "$(printf '%s\n' "$FL_OUT" | tail -n 2 | grep -E '^/dev/loop[0-9]+$' | sort -u | wc -l)"
	assert_true "root: both devices gone" loop_gone "$PWD/two.sqfs"
	if [ -d /run/fuselage ]; then
		fl_run --loop -s /run/fuselage/lp:img.sqfs sh -c 'cat /run/fuselage/lp/hello.txt; findmnt -n -o FSTYPE -T /run/fuselage/lp'
		assert_eq "root: a fixed path /run/fuselage/NAME with --loop" "0 from the loop
squashfs" "$FL_RC $FL_OUT"
		assert_eq "root: nothing at the fixed path on the host" "" "$(findmnt -n /run/fuselage/lp)"
	else
		note "no /run/fuselage on this host: --loop at a fixed path is not checked"
	fi
	# all or nothing
	fl_run --loop -s a.zip sh -c 'echo the command ran'
	assert_fl_error "root: --loop with a zip is refused" "--loop: a\.zip is a zip, not a squashfs image"
	fl_run --loop -s img.sqfs -s a.zip sh -c 'echo the command ran'
	assert_fl_error "root: a zip next to a squashfs image refuses the whole run" "--loop: a\.zip is a zip, not a squashfs image"
	assert_true "root: and the image's device is not left attached" loop_gone "$PWD/img.sqfs"
	base64 img.sqfs >img.sqfs.b64
	fl_run --loop -s img.sqfs.b64 sh -c 'echo the command ran'
	assert_fl_error "root: --loop with base64 text is refused" "is base64 text, not a squashfs image"
	fl_run --loop -d img.sqfs sh -c 'echo the command ran'
	assert_fl_error "root: --loop with a --dynamic archive is refused" "--loop: --dynamic=img\.sqfs: only --static archives"
	fl_run --loop --dynamic-empty=w -s img.sqfs sh -c 'touch "$FUSELAGE_DYNAMIC/w/f" && cat "$FUSELAGE_STATIC/img/hello.txt"'
	assert_eq "root: --dynamic-empty (no archive) goes with --loop" "0 from the loop" "$FL_RC $FL_OUT"
	fl_run --loop --extract=force -s img.sqfs sh -c 'echo the command ran'
	assert_fl_error "root: --loop with --extract=force is refused" "--loop: --extract=force extracts the archives to disk"
	printf 'hsqs' >fake.sqfs
	fl_run --loop -s fake.sqfs sh -c 'echo the command ran'
	assert_fl_error "root: a truncated superblock is refused before any device" "--loop: fake\.sqfs: truncated squashfs superblock"
	# an image whose superblock names an unknown compressor: the kernel refuses it
	cp img.sqfs badcomp.sqfs
	printf '\143\000' | dd of=badcomp.sqfs bs=1 seek=20 conv=notrunc status=none
	fl_run --loop -s badcomp.sqfs sh -c 'echo the command ran'
	assert_fl_error "root: an image the kernel refuses: one line naming the file and the device" "--loop: cannot mount badcomp\.sqfs \(kernel squashfs on /dev/loop[0-9]+\)"
	assert_true "root: the refused image's device is gone" loop_gone "$PWD/badcomp.sqfs"
	# The setuid rule for the filesystem, from root mode: in a private mount
	# namespace of our own, a setuid-root copy on a tmpfs, and the same
	# root-owned 0644 image on a nosuid tmpfs and on a suid one, run as the
	# test user.  Nothing of it reaches the host's mounts.
	if id -u "$FL_TEST_USER" >/dev/null 2>&1 && command -v runuser >/dev/null && command -v unshare >/dev/null; then
		mkdir -p suid nosuid
		# shellcheck disable=SC2016
		unshare -m --propagation private sh -c '
			mount -t tmpfs -o mode=0755 fl-suid suid &&
			mount -t tmpfs -o mode=0755,nosuid fl-nosuid nosuid &&
			cp "$1" suid/fuselage && chmod 4755 suid/fuselage &&
			cp img.sqfs suid/img.sqfs && cp img.sqfs nosuid/img.sqfs &&
			chmod 0644 suid/img.sqfs nosuid/img.sqfs || exit 99
			runuser -u "$2" -- "$3/suid/fuselage" --loop -s "img:$3/nosuid/img.sqfs" \
				echo the command ran >ns-nosuid.out 2>&1
			echo "$?" >ns-nosuid.rc
			runuser -u "$2" -- "$3/suid/fuselage" --loop -s "img:$3/suid/img.sqfs" \
				sh -c "id -u; cat \"\$FUSELAGE_STATIC/img/hello.txt\"; findmnt -n -o FSTYPE -T \"\$FUSELAGE_STATIC/img\"" \
				>ns-suid.out 2>&1
			echo "$?" >ns-suid.rc' sh "$FUSELAGE" "$FL_TEST_USER" "$PWD"
		assert_eq "root (setuid rule): a root-owned image on a nosuid filesystem is refused" \
			"125 fuselage: --loop: $PWD/nosuid/img.sqfs is on a filesystem mounted nosuid, where the kernel does not trust its owners either; in setuid mode the kernel mounts only images owned by root that you cannot write; drop --loop to serve it with FUSE" \
			"$(cat ns-nosuid.rc 2>&1) $(cat ns-nosuid.out 2>&1)"
		assert_eq "root (setuid rule): the same image on a suid filesystem is served, as the test user" \
			"0 $(id -u "$FL_TEST_USER")
from the loop
squashfs" "$(cat ns-suid.rc 2>&1) $(cat ns-suid.out 2>&1)"
	else
		note "no test user, runuser or unshare: the setuid nosuid-filesystem rule is not checked from root mode"
	fi
	# kill -9 of every process of the run: the namespace goes, and the device
	cp img.sqfs killed.sqfs
	fl_bg --loop -s killed.sqfs sh -c "$FL_FIND_PIDS"'
echo $$ >"$1.cmd"
exec sleep 30' sh "$T/pids"
	if wait_for_file "$T/pids.cmd" 20 && wait_for_file "$T/pids" 5; then
		read -r setup keeper _ <"$T/pids"
		cmd=$(cat "$T/pids.cmd")
		assert_ne "root: the killed run had its device" "" "$(losetup -j "$PWD/killed.sqfs")"
		kill -KILL "$setup" "$keeper" "$cmd"
		wait_gone "$cmd" 10
		assert_true "root: after kill -9 of setup, keeper and command the device is gone" loop_gone "$PWD/killed.sqfs"
	else
		fl_fail "root: the run to be killed did not start" "$(cat "$T/bg.out")"
	fi
	par=()
	for i in 1 2 3 4 5 6; do
		(timeout 60 "$FUSELAGE" --loop -s img.sqfs sh -c 'cat "$FUSELAGE_STATIC/img/hello.txt"' >"par.$i" 2>&1) &
		par+=($!)
	done
	wait "${par[@]}"
	assert_eq "root: 6 concurrent --loop runs all served" "6" "$(cat par.* | grep -cx 'from the loop')"
	assert_true "root: no loop device left after them" loop_gone "$PWD/img.sqfs"
	;;
setuid)
	fl_run --loop -s img.sqfs sh -c 'echo the command ran'
	assert_fl_error "setuid: the caller's own image is refused" "--loop: img\.sqfs is owned by uid $uid, not root"
	fl_run --loop -s a.zip sh -c 'echo the command ran'
	assert_fl_error "setuid: the caller's own zip is refused" "--loop: a\.zip is owned by uid $uid, not root"
	D=${FL_SETUID_DIR:-}
	if [ -z "$D" ] || [ ! -s "$D/root-owned.sqfs" ]; then
		fl_fail "setuid: the driver's root-owned fixtures are missing (FL_SETUID_DIR=$D)"
	else
		fl_run --loop -s "$D/root-writable.sqfs" sh -c 'echo the command ran'
		assert_fl_error "setuid: a root-owned image anybody may write is refused" "root-writable\.sqfs is writable by you \(mode 0666: by everyone\)"
		fl_run --loop -s "$D/root-group.sqfs" sh -c 'echo the command ran'
		assert_fl_error "setuid: a root-owned image writable through one of the caller's groups is refused" \
			"root-group\.sqfs is writable by you \(mode 0664, and its group $(stat -c %g "$D/root-group.sqfs") is one of yours\)"
		assert_ne "setuid: (that group is not root's)" 0 "$(stat -c %g "$D/root-group.sqfs")"
		if [ -e "$D/root-acl.sqfs" ]; then
			fl_run --loop -s "$D/root-acl.sqfs" sh -c 'echo the command ran'
			assert_fl_error "setuid: a root-owned 0664 root:root image with an ACL entry for the caller is refused" \
				"root-acl\.sqfs is writable by you \(mode 0664; an ACL or another grant lets you write it\)"
		else
			note "the filesystem of FL_SETUID_DIR takes no POSIX ACLs: the ACL case is not checked"
		fi
		fl_run --loop -s "$D/root-owned.zip" sh -c 'echo the command ran'
		assert_fl_error "setuid: a root-owned zip is refused" "is a zip, not a squashfs image"
		fl_run --loop -s "img:$D/root-owned.sqfs" -s img2:img.sqfs sh -c 'echo the command ran'
		assert_fl_error "setuid: a trusted image next to the caller's own: the whole run is refused" "--loop: img\.sqfs is owned by uid $uid, not root"
		fl_run -s "img:$D/root-owned.sqfs" sh -c 'cat "$FUSELAGE_STATIC/img/hello.txt"'
		assert_eq "setuid: the same root-owned image without --loop is served through FUSE" "root-owned image" "$FL_OUT"
		if [ -e /dev/loop-control ]; then
			fl_run --loop -s "img:$D/root-owned.sqfs" sh -c "$probe"'
"$D/bin/id-suid" -u; stat -c "%u %a" "$D/bin/id-suid"'
			assert_ok "setuid: a root-owned image the caller cannot write is served with --loop"
			assert_eq "setuid: content, squashfs ro,nosuid,nodev; its setuid-root id runs as the caller" "root-owned image
nodev nosuid ro squashfs 
read-only
$uid
0 4755" "$FL_OUT"
			fl_run --loop -s "img:$D/root-owned.sqfs" sh -c "$dev_probe"
			assert_eq "setuid: the device: offset 0, the image's size, autoclear, read-only" \
				"0 $(size_of "$D/root-owned.sqfs") 1 1 0" "$FL_OUT"
			assert_true "setuid: the loop device is gone after the run" loop_gone "$D/root-owned.sqfs"
		else
			note "no /dev/loop-control: the setuid --loop success path is not checked"
		fi
	fi
	;;
esac
