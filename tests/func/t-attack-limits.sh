#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §7.2 entry hardening: hostile resource limits and
# closed standard descriptors.  A tiny stack or open-file limit is refused
# before anything starts, naming the limit; RLIMIT_NPROC at the edge makes
# the run fail with one line (or the command's own fork fail), never
# half-done; RLIMIT_FSIZE 0 turns the --cache-static conversion into a note
# with nothing left in the cache; fds 0-2 closed become /dev/null, so no
# file fuselage opens can pose as the command's stdout.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 ps
need_mksquashfs

if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage
else
	H=$T/home
	export FUSELAGE_HOME=$H
fi
fx_small a.zip
fx_small b.sfs bee
cat >lim.py <<'EOF'
import os, resource, subprocess, sys
what, value = sys.argv[1], int(sys.argv[2])
if what == "nproc":  # this user's threads now, plus value
    n = subprocess.run(["ps", "-u", str(os.getuid()), "-L", "--no-headers"],
                       capture_output=True, text=True).stdout.count("\n") + value
    resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
else:
    r = {"fsize": resource.RLIMIT_FSIZE, "stack": resource.RLIMIT_STACK,
         "nofile": resource.RLIMIT_NOFILE}[what]
    resource.setrlimit(r, (value, resource.getrlimit(r)[1]))
os.execv(sys.argv[3], sys.argv[3:])
EOF
lim() { fl_run_py "$@"; }
fl_run_py()
{
	timeout -k 5 "$FL_TIMEOUT" python3 lim.py "$@" </dev/null >"$T/.fl-out" 2>"$T/.fl-err"
	FL_RC=$?
	FL_OUT=$(cat "$T/.fl-out")
	FL_ERR=$(cat "$T/.fl-err")
	FL_TIMED_OUT=0
	[ "$FL_RC" = 124 ] && FL_TIMED_OUT=1
}
cmd=(sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt" "$FUSELAGE_STATIC/b/hello.txt"')

# --- stack and open files: refused up front --------------------------------------------
# (at 16 KiB the process may crash before any check of fuselage can run)
lim stack $((64 * 1024)) "$FUSELAGE" -s a.zip -s b.sfs "${cmd[@]}"
assert_fl_error "a 64 KiB stack limit is refused up front" "stack size limit \(64 KiB\) is below the 256 KiB"
lim stack $((255 * 1024)) "$FUSELAGE" -s a.zip "${cmd[@]}"
assert_fl_error "a 255 KiB stack limit is refused" "stack size limit \(255 KiB\)"
lim stack $((256 * 1024)) "$FUSELAGE" -s a.zip -s b.sfs "${cmd[@]}"
assert_eq "a 256 KiB stack limit works" "0 hello bee" "$FL_RC $(tr '\n' ' ' <<<"$FL_OUT" | sed 's/ $//')"
for n in 4 10 20 63; do
	lim nofile "$n" "$FUSELAGE" -s a.zip -s b.sfs "${cmd[@]}"
	assert_fl_error "an open-file limit of $n is refused up front" "open-file limit \($n\) is below the 64"
done
lim nofile 64 "$FUSELAGE" -s a.zip -s b.sfs --dynamic-empty=w "${cmd[@]}"
assert_eq "an open-file limit of 64 works (two archives)" "0 hello bee" "$FL_RC $(tr '\n' ' ' <<<"$FL_OUT" | sed 's/ $//')"
args=()
for i in $(seq 1 20); do cp a.zip "z$i.zip"; args+=(-s "z$i.zip"); done
lim nofile 64 "$FUSELAGE" "${args[@]}" sh -c 'cat "$FUSELAGE_STATIC/z20/hello.txt"'
if [ "$FL_RC" = 0 ]; then
	assert_eq "20 archives under 64 open files: served" hello "$FL_OUT"
else
	assert_fl_error "20 archives under 64 open files: one clean line" "Too many open files"
fi
assert_eq "nothing left after the open-file limits" "" "$(fl_procdirs_left "$H" | grep -E '/procdirs/[0-9]+(/|$)')$(fl_host_mounts "$H")"

# --- processes: at the edge of RLIMIT_NPROC -------------------------------------------------------
for extra in 0 1 2 3 4 6; do
	lim nproc "$extra" "$FUSELAGE" -s a.zip -s b.sfs "${cmd[@]}"
	case $FL_RC in
	0) assert_eq "RLIMIT_NPROC +$extra: served" "hello
bee" "$FL_OUT" ;;
	125) assert_fl_error "RLIMIT_NPROC +$extra: one clean line" "Resource temporarily unavailable" ;;
	*) assert_match "RLIMIT_NPROC +$extra: only the command's own fork failed ($FL_RC)" \
		"[Cc]an(no|')t fork|Resource temporarily unavailable" "$FL_ERR" ;;
	esac
	assert_no_crash "RLIMIT_NPROC +$extra: no crash, no hang"
done
sleep 0.5
assert_eq "nothing left after the process limits" "" "$(fl_procdirs_left "$H" | grep -E '/procdirs/[0-9]+(/|$)')$(fl_host_mounts "$H")"

# --- RLIMIT_FSIZE 0: the conversion fails, the run goes on ------------------------------------------
key=$(sha256sum a.zip | cut -c1-16)
fl_on_exit "rm -f '$H/cache/$key'.*"
rm -f "$H/cache/$key".*
# (through pipes: the limit applies to fuselage's own output files too)
timeout -k 5 "$FL_TIMEOUT" python3 lim.py fsize 0 "$FUSELAGE" --cache-static -s a.zip \
	sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"' 2> >(cat >fsize.err) | cat >fsize.out
FL_RC=${PIPESTATUS[0]}
sleep 0.2
FL_OUT=$(cat fsize.out) FL_ERR=$(cat fsize.err)
assert_eq "RLIMIT_FSIZE 0 with --cache-static: served from the zip" "0 hello" "$FL_RC $FL_OUT"
assert_match "RLIMIT_FSIZE 0: a one-line note about the failed conversion" \
	"^fuselage: note: cannot cache a\.zip: mksquashfs failed" "$FL_ERR"
assert_eq "RLIMIT_FSIZE 0: nothing of it left in the cache" "" "$(ls "$H/cache" 2>/dev/null | grep "^$key")"

# --- fds 0-2 closed -------------------------------------------------------------------------------------
"$FUSELAGE" -s a.zip sh -c 'x="$(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2)"; echo "$x" | tr " " "\n" >"$1"; cat "$FUSELAGE_STATIC/a/hello.txt" >>"$1"' sh "$T/fds" <&- >&- 2>&-
rc=$?
# (setuid: glibc itself fills the holes of a secure-mode process before main,
# stdin with /dev/full; fuselage's own filling is for the other modes)
in0=/dev/null
[ "$FL_MODE" = setuid ] && in0=/dev/full
assert_eq "stdin, stdout and stderr closed: the run works; the command gets $in0, /dev/null, /dev/null" "0
$in0
/dev/null
/dev/null
hello" "$rc
$(cat fds 2>/dev/null)"
