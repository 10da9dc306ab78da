#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §7.2: LD_PRELOAD, LD_LIBRARY_PATH (a fake libzip.so.4),
# LD_AUDIT, PATH (a fake mksquashfs first), FUSELAGE_MKSQUASHFS, BASH_ENV/ENV
# and IFS games against fuselage itself and against the helper it runs
# (mksquashfs under --cache-static).  A preloaded library logs every process
# that loads it: in setuid mode no fuselage process ever does, and in no mode
# does mksquashfs; the command (which gets the caller's whole environment)
# does, as the caller.  The fake tools never run.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need cc
need_mksquashfs

uid=$(id -u)
mkdir -p evil
cat >evil/log.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void fl_evil(void)
{
	char comm[64] = "?";
	FILE *f = fopen("/proc/self/comm", "r");
	const char *log = getenv("FL_EVIL_LOG");

	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	f = fopen(log ? log : "/tmp/fl-evil-nolog", "a");
	if (f) {
		fprintf(f, "%s euid=%u ruid=%u\n", comm, (unsigned)geteuid(), (unsigned)getuid());
		fclose(f);
	}
}
unsigned int la_version(unsigned int v) { return v; }
EOF
cc -shared -fPIC -o evil/libevil.so evil/log.c || skip "cannot build a shared library with cc"
cp evil/libevil.so evil/libzip.so.4
chmod 0755 evil
printf '#!/bin/sh\necho "fake $(basename "$0") ran as $(id -u)" >>%s/fake.log\nexit 1\n' "$T" >evil/mksquashfs
chmod 0755 evil/mksquashfs
printf 'echo "BASH_ENV/ENV sourced by $(basename "$0") as $(id -u)" >>%s/fake.log\n' "$T" >evil/rc.sh
export FL_EVIL_LOG=$T/evil.log
if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage
else
	H=$T/home
	export FUSELAGE_HOME=$H
fi
lines() { sort "$FL_EVIL_LOG" 2>/dev/null | uniq; }

# --- LD_PRELOAD, with --cache-static so that mksquashfs runs -------------------------
fx_small a.zip
key=$(sha256sum a.zip | cut -c1-16)
fl_on_exit "rm -f '$H/cache/$key.sfs' '$H/cache/$key.complete'"
rm -f "$FL_EVIL_LOG"
LD_PRELOAD=$T/evil/libevil.so fl_run --cache-static -s a.zip sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"'
assert_ok "LD_PRELOAD + --cache-static: the run works"
assert_eq "its output" hello "$FL_OUT"
assert_true "the conversion happened (the image is in the cache)" test -s "$H/cache/$key.sfs"
log=$(lines)
say "       preload log: $(fl_show "$log")"
assert_match "the command loaded the preload, as the caller" "^sh euid=$uid ruid=$uid$" "$log"
assert_no_match "mksquashfs never loaded it (its environment is PATH only)" "^mksquashfs " "$log"
if [ "$FL_MODE" = setuid ]; then
	assert_no_match "setuid: no fuselage process loaded it" "^fuselage " "$log"
	assert_no_match "setuid: nothing loaded it with euid 0" "euid=0 " "$log"
elif [ "$FL_MODE" = root ]; then
	note "root mode: root's own LD_PRELOAD applies to fuselage itself (root's choice)"
fi

# --- LD_LIBRARY_PATH with a fake libzip, LD_AUDIT -------------------------------------
if [ "$FL_MODE" = setuid ]; then
	rm -f "$FL_EVIL_LOG"
	LD_LIBRARY_PATH=$T/evil LD_AUDIT=$T/evil/libevil.so fl_run -s a.zip sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"; echo "$LD_LIBRARY_PATH"'
	assert_ok "setuid: LD_LIBRARY_PATH with a fake libzip.so.4, LD_AUDIT: the run works"
	assert_eq "the command got LD_LIBRARY_PATH" "hello
$T/evil" "$FL_OUT"
	assert_no_match "setuid: fuselage loaded neither the fake libzip nor the audit library" \
		"^fuselage " "$(lines)"
	LD_DEBUG=all LD_DEBUG_OUTPUT=$T/lddebug fl_run -s a.zip true
	assert_ok "setuid: LD_DEBUG is ignored"
	# timeout and true write their own debug files; only fuselage loads libzip.
	assert_eq "setuid: no loader debug output from fuselage (none mentions libzip)" "" \
		"$(grep -l libzip lddebug* 2>/dev/null; grep -c libzip <<<"$FL_ERR" | grep -v '^0$')"
	assert_true "LD_DEBUG_OUTPUT did work for the other programs (the check can fail)" \
		test -n "$(ls lddebug* 2>/dev/null)"
else
	note "$FL_MODE mode: LD_LIBRARY_PATH and LD_AUDIT apply to fuselage itself as they would to any program the caller runs"
fi

# --- PATH and FUSELAGE_MKSQUASHFS: the fake mksquashfs -------------------------------------
fx_small b.zip second
keyb=$(sha256sum b.zip | cut -c1-16)
fl_on_exit "rm -f '$H/cache/$keyb.sfs' '$H/cache/$keyb.complete'"
rm -f fake.log
PATH=$T/evil:$PATH fl_run --cache-static -s b.zip sh -c 'cat "$FUSELAGE_STATIC/b/hello.txt"'
assert_ok "PATH with a fake mksquashfs first: the run works"
assert_true "the real mksquashfs made the image" test -s "$H/cache/$keyb.sfs"
assert_eq "the fake mksquashfs never ran" "" "$(cat fake.log 2>/dev/null)"
if [ "$FL_MODE" = setuid ]; then
	fx_small c.zip third
	keyc=$(sha256sum c.zip | cut -c1-16)
	fl_on_exit "rm -f '$H/cache/$keyc.sfs' '$H/cache/$keyc.complete'"
	FUSELAGE_MKSQUASHFS=$T/evil/mksquashfs fl_run --cache-static -s c.zip true
	assert_ok "setuid: FUSELAGE_MKSQUASHFS is ignored"
	assert_eq "setuid: the tool it names never ran" "" "$(cat fake.log 2>/dev/null)"
	assert_true "setuid: the real mksquashfs made the image" test -s "$H/cache/$keyc.sfs"
fi

# --- BASH_ENV, ENV, IFS, odd locale variables ---------------------------------------------
rm -f fake.log
fx_small d.zip fourth
keyd=$(sha256sum d.zip | cut -c1-16)
fl_on_exit "rm -f '$H/cache/$keyd.sfs' '$H/cache/$keyd.complete'"
BASH_ENV=$T/evil/rc.sh ENV=$T/evil/rc.sh IFS=/ SHELLOPTS=xtrace PS4='$(id>>'"$T"'/fake.log)' \
	GCONV_PATH=$T/evil LOCPATH=$T/evil TZ=/etc/shadow \
	fl_run --cache-static -s d.zip cat /dev/null
assert_ok "BASH_ENV/ENV/IFS/SHELLOPTS/PS4/GCONV_PATH/LOCPATH/TZ games: the run works"
assert_true "the conversion still worked" test -s "$H/cache/$keyd.sfs"
assert_eq "no shell was started by fuselage or its helper (nothing sourced, no trace)" "" \
	"$(cat fake.log 2>/dev/null)"
