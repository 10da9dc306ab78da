#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §4/§7.2: a setuid-root and a setgid-root program and
# device nodes (/dev/mem's numbers, a disk's) inside a squashfs and inside a
# zip (external attributes claiming S_ISUID and S_IFCHR), served at
# $FUSELAGE_STATIC and at a fixed path: the set-id bits are not shown and
# give nothing, the devices cannot be opened (nodev) or are plain files.
# A device node made in a --dynamic-empty directory cannot be opened either.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3
need_mksquashfs

uid=$(id -u) gid=$(id -g)
mkdir -p src
cp "$(command -v id)" src/id-suid
cp "$(command -v id)" src/id-sgid
chmod 4755 src/id-suid
chmod 2755 src/id-sgid
printf 'x\n' >src/plain
# mksquashfs pseudo definitions: devices owned by root, world-writable.
fx_sqfs src evil.sfs gzip -all-root \
	-p 'mem c 666 0 0 1 1' -p 'kmsg c 666 0 0 1 11' -p 'disk b 666 0 0 7 0'

python3 - "$(command -v id)" <<'EOF'
import sys, zipfile
idbin = open(sys.argv[1], "rb").read()
with zipfile.ZipFile("evil.zip", "w", zipfile.ZIP_DEFLATED) as z:
    def add(name, mode, data):
        i = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
        i.create_system = 3  # Unix
        i.external_attr = mode << 16
        z.writestr(i, data)
    add("id-suid", 0o104755, idbin)
    add("id-sgid", 0o102755, idbin)
    add("mem", 0o020666, b"")   # claims a character device, 1,1 unknowable
    add("disk", 0o060666, b"")  # claims a block device
    add("plain", 0o100644, b"x\n")
EOF

check_archive() # LABEL DIR-EXPR ARGS...: run the checks on an archive served at DIR-EXPR
{
	local label=$1 dir=$2
	shift 2
	fl_run "$@" sh -c 'D='"$dir"'
	stat -c "%n %a %u" "$D/id-suid" "$D/id-sgid"
	"$D/id-suid" -u; "$D/id-suid" -ru; "$D/id-sgid" -g; "$D/id-sgid" -rg
	for d in mem kmsg disk; do
		[ -e "$D/$d" ] || continue
		printf "%s %s: " "$d" "$(stat -c %F "$D/$d")"
		if head -c 1 "$D/$d" >/dev/null 2>err; then echo "read ok"; else sed "s/.*: //" err; fi
		if (: >>"$D/$d") 2>err; then echo "write ok"; else sed "s/.*: /write: /" err; fi
	done' 2>&1
	assert_ok "$label: the checks ran"
	assert_eq "$label: set-id bits not shown, owner is the caller" \
		"$(printf 'id-suid 755 %s\nid-sgid 755 %s' "$uid" "$uid")" \
		"$(sed -n '1,2p' <<<"$FL_OUT" | sed 's|^.*/||')"
	assert_eq "$label: the setuid-root program runs as the caller (euid, ruid)" "$uid
$uid" "$(sed -n '3,4p' <<<"$FL_OUT")"
	assert_eq "$label: the setgid-root program runs with the caller's group" "$gid
$gid" "$(sed -n '5,6p' <<<"$FL_OUT")"
	devs=$(sed -n '7,$p' <<<"$FL_OUT")
	assert_no_match "$label: no device can be read or written" "special file: (read ok|write ok)|^write ok" "$devs"
	echo "$devs" | sed 's/^/       /'
}

check_archive "squashfs --static" '$FUSELAGE_STATIC/evil' -s evil.sfs
sq=$devs
assert_match "squashfs: mem is a character device" "^mem character special file: " "$sq"
assert_eq "squashfs: opening any device fails (nodev), for reading and writing" "mem character special file: Permission denied
write: Permission denied
kmsg character special file: Permission denied
write: Permission denied
disk block special file: Permission denied
write: Permission denied" "$sq"
check_archive "zip --static" '$FUSELAGE_STATIC/evil' -s evil.zip
assert_eq "zip: entries claiming devices are plain empty files, read-only" "mem regular empty file: read ok
write: Read-only file system
disk regular empty file: read ok
write: Read-only file system" "$devs"
if [ -d /run/fuselage ]; then
	check_archive "squashfs at a fixed path" /run/fuselage/evil -s /run/fuselage/evil:evil.sfs
	assert_eq "fixed path: opening any device fails (nodev)" "$sq" "$devs"
	check_archive "zip at a fixed path" /run/fuselage/evilz -s /run/fuselage/evilz:evil.zip
else
	note "/run/fuselage does not exist: fixed paths not checked"
fi

# --- a device node made in a writable directory ------------------------------------
fl_run --dynamic-empty=w sh -c 'cd "$FUSELAGE_DYNAMIC/w" || exit 9
if mknod mem c 1 1 2>err; then
	echo made; head -c 1 mem >/dev/null 2>err2 && echo "read ok" || sed "s/.*: //" err2
else echo refused; fi
cp /bin/true t; chmod 4755 t; stat -c "%a %u" t'
assert_ok "mknod in a --dynamic-empty directory ran"
case $FL_MODE in
root)
	assert_eq "root: mknod works but the node cannot be opened (nodev); a chmod 4755 copy is root's own" \
		"made
Permission denied
4755 0" "$FL_OUT"
	;;
*)
	assert_eq "$FL_MODE: mknod is refused; a chmod 4755 copy is the caller's own" "refused
4755 $uid" "$FL_OUT"
	;;
esac
