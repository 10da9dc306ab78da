#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §7.2: every file the caller names is opened with the
# caller's own permissions.  Root-only files (/etc/shadow, anything under
# /root) through --static, NAME:FILE, --cache-static, a base64 name, a
# symlink, /proc/self/... and /proc/1/root paths, --run; no existence oracle
# for files the caller cannot see; fifos and devices refused without waiting;
# names and fixed paths that try to leave their directory refused.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need_mksquashfs

fx_small a.zip
fx_small b.sfs
if [ "$FL_MODE" = root ]; then
	note "root mode: root may read every file, so the root-only reads are not attacks here (checked in user and setuid mode)"
else
	[ -r /etc/shadow ] && skip "/etc/shadow is readable by $(id -un): cannot test root-only reads"
	[ -e /etc/shadow ] || skip "no /etc/shadow on this machine"
	[ -x /root ] && skip "/root is searchable by $(id -un): cannot test root-only reads"
	denied() # WHAT ARGS...: fuselage's own error naming "Permission denied"
	{
		local what=$1
		shift
		fl_run "$@" sh -c 'echo the command ran'
		assert_fl_error "$what" "Permission denied"
	}
	denied "--static=/etc/shadow" --static=/etc/shadow
	denied "--static NAME:/etc/shadow" --static x:/etc/shadow
	denied "-s NAME:/root/.bashrc" -s x:/root/.bashrc
	denied "--cache-static --static=/etc/shadow" --cache-static --static=/etc/shadow
	ln -s /etc/shadow shadow.zip.b64
	denied "a symlink named like base64 text to /etc/shadow" -s shadow.zip.b64
	ln -s /etc/shadow shadow.sfs
	denied "a symlink to /etc/shadow as the second archive" -s a.zip -s shadow.sfs
	denied "/proc/1/root/etc/shadow" -s x:/proc/1/root/etc/shadow
	denied "/proc/self/root/etc/shadow" -s x:/proc/self/root/etc/shadow
	if [ "$FL_MODE" = setuid ]; then
		# The setup process is not dumpable: its /proc files are root's.
		denied "/proc/self/environ (the setup's own)" -s x:/proc/self/environ
		denied "/proc/self/mem (the setup's own)" -s x:/proc/self/mem
	else
		fl_run -s x:/proc/self/mem sh -c 'echo the command ran'
		assert_fl_error "/proc/self/mem (the caller's own process) is no archive" "cannot read"
	fi
	# No oracle: an existing and a missing file in /root give the same answer.
	fl_run -s x:/root/.fl-surely-missing true
	missing=$FL_ERR
	fl_run -s x:/root/.bashrc true
	assert_eq "no existence oracle in /root (same error for a missing and an existing name)" \
		"$(sed 's/\.bashrc/X/' <<<"$FL_ERR")" "$(sed 's/\.fl-surely-missing/X/' <<<"$missing")"
	fl_run -s /root/.bashrc:a.zip true
	assert_fl_error "'/root/.bashrc:a.zip' is a fixed-path attempt, refused" "/run/fuselage"
	# --run of a symlink in an archive pointing at a root-only file
	mkdir -p ev/bin
	ln -s /etc/shadow ev/bin/shadow
	ln -s /root/.bashrc ev/bin/rootrc
	fx_sqfs ev ev.sfs gzip
	fl_run -s ev.sfs --run ev/bin/shadow
	assert_fl_error "--run of a symlink to /etc/shadow" "not executable: Permission denied"
	fl_run -s ev.sfs --run ev/bin/rootrc
	assert_fl_error "--run of a symlink into /root (as the caller sees it: absent)" "rootrc: not found"
	fl_run -s ev.sfs sh -c 'cat "$FUSELAGE_STATIC/ev/bin/shadow" 2>&1; echo "rc=$?"'
	assert_match "reading /etc/shadow through an archive symlink is the caller's own read" \
		"Permission denied" "$FL_OUT"
fi

# --- descriptors and special files -----------------------------------------------
# The caller's own descriptor is the caller's file: it works.
exec 7<a.zip
fl_run -s x:/proc/self/fd/7 sh -c 'cat "$FUSELAGE_STATIC/x/hello.txt"'
exec 7<&-
assert_ok "an archive passed as the caller's own descriptor (/proc/self/fd/7)"
assert_eq "its content" "hello" "$FL_OUT"
# Descriptors fuselage itself holds at that point are never archives.
for n in 3 4 5 6 8 9; do
	fl_run -s "x:/proc/self/fd/$n" sh -c 'echo the command ran'
	assert_fl_error "/proc/self/fd/$n (not the caller's)" "/proc/self/fd/$n: (No such file|not a regular file)"
done
mkfifo fifo
fl_run -s x:fifo sh -c 'echo the command ran'
assert_fl_error "a fifo is refused at once (no wait for a writer)" "fifo: not a regular file"
assert_eq "the fifo did not make fuselage wait" 0 "$FL_TIMED_OUT"
fl_run -s x:/dev/zero sh -c 'echo the command ran'
assert_fl_error "/dev/zero" "/dev/zero: not a regular file"
fl_run -s x:/dev/null sh -c 'echo the command ran'
assert_fl_error "/dev/null" "/dev/null: not a regular file"
fl_run -s x:/dev/fuse sh -c 'echo the command ran'
assert_fl_error "/dev/fuse as an archive" "/dev/fuse: not a regular file"
fl_run -s x:/proc/self/exe sh -c 'echo the command ran'
assert_fl_error "/proc/self/exe (fuselage itself)" "no squashfs image"

# --- NAME:FILE tricks --------------------------------------------------------------
# An existing file whose name looks like NAME:FILE is that file, opened as the
# caller, relative to the caller's directory.
mkdir -p 'x:/etc'
cp a.zip 'x:/etc/shadow'
fl_run -s 'x:/etc/shadow' sh -c 'cat "$FUSELAGE_STATIC/shadow/hello.txt"'
assert_ok "'x:/etc/shadow' that exists here is the caller's own file"
assert_eq "its content (the caller's zip, not /etc/shadow)" "hello" "$FL_OUT"
for bad in '..' '.' 'a/b' '../x' "$(printf 'a\nb')" "$(printf 'a\tb')"; do
	fl_run -s "$bad:a.zip" sh -c 'echo the command ran'
	assert_fl_error "name $(printf %q "$bad") refused, on one line" "invalid name|empty name"
done
for bad in /run/fuselage/../x /run/fuselage/../../etc /run/fuselage/.. /run/fuselage/. \
	/run/fuselage/ /run/fuselage/a/b /run/fuselagex/a /etc /tmp/x //run/fuselage/x; do
	fl_run -s "$bad:a.zip" sh -c 'echo the command ran'
	assert_fl_error "fixed path $bad refused (--static)" "."
	fl_run --dynamic-empty="$bad" sh -c 'echo the command ran'
	assert_fl_error "fixed path $bad refused (--dynamic-empty)" "."
done

# --- --run outside the archives -------------------------------------------------------
for p in /bin/sh /etc/shadow /proc/self/exe "$PWD/a.zip"; do
	fl_run -s a.zip --run "$p"
	assert_fl_error "--run $p (outside every archive)" "must lie inside a served archive"
done
fl_run -s a.zip --run a/../../../../../bin/sh -c 'echo the command ran'
assert_fl_error "--run with .. components" "."
