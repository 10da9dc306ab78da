#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §3/§7.2: $FUSELAGE_HOME and $HOME pointing at root's
# directories, at system directories, at a symlink; then symlink and rename
# races (atomic renameat2 exchanges) on ~/.fuselage, procdirs/ and cache/
# while fuselage runs.  Every run either works or fails with one clean line;
# no mount of any run ever lands outside the caller's own directories and
# /run/fuselage, and nothing is left on the host.
# fl-setuid-home: exclusive  (driver.sh: no other setuid scenario meanwhile;
# the races swap the test user's real ~/.fuselage)
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 findmnt
fl_only_modes user setuid

fx_small a.zip
if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage
	unset FUSELAGE_HOME
	# --- the environment cannot move the home -----------------------------------
	for v in FUSELAGE_HOME=/root FUSELAGE_HOME=/etc FUSELAGE_HOME=/ HOME=/root HOME=/etc \
		"FUSELAGE_HOME=$T/link"; do
		ln -sfn /etc "$T/link"
		env "$v" "$FUSELAGE" -s a.zip sh -c 'echo "$FUSELAGE_TMPDIR"' >out 2>err
		assert_match "setuid: $v is ignored (the password database's home)" \
			"^$H/procdirs/[0-9]+/tmp$" "$(cat out err)"
	done
else
	H=$T/home
	export FUSELAGE_HOME=$H
	for v in /root /etc / /proc/self/cwd; do
		FUSELAGE_HOME=$v fl_run -s a.zip sh -c 'echo the command ran'
		assert_fl_error "user: FUSELAGE_HOME=$v refused" "FUSELAGE_HOME.*(not owned|Permission denied|symlink)"
	done
	HOME=/etc FUSELAGE_HOME= fl_run -s a.zip sh -c 'echo the command ran'
	assert_fl_error "user: HOME=/etc refused" "/etc/\.fuselage.*Permission denied"
	ln -s /etc "$T/link"
	FUSELAGE_HOME=$T/link fl_run -s a.zip sh -c 'echo the command ran'
	assert_fl_error "user: FUSELAGE_HOME a symlink to /etc refused" "symlink"
fi

# --- races -------------------------------------------------------------------------
# The racer swaps, by atomic exchange, each of ~/.fuselage, procdirs and
# cache with a symlink to a root-owned directory (or to /run, or a
# directory of the caller's own elsewhere), for a bounded time.
cat >racer.py <<'EOF'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
AT_FDCWD = -100
def xchg(a, b):
    return libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE) == 0
home, until, mine = sys.argv[1], time.time() + float(sys.argv[2]), sys.argv[3]
targets = ["/etc", "/root", "/run", "/usr/bin", mine]
paths = [home, home + "/procdirs", home + "/cache"]
n = swaps = 0
while time.time() < until:
    p = paths[n % len(paths)]
    t = targets[(n // len(paths)) % len(targets)]
    n += 1
    link = p + ".evil"
    try:
        os.unlink(link)
    except OSError:
        pass
    try:
        os.symlink(t, link)
    except OSError:
        continue
    if xchg(p, link):
        swaps += 1
        time.sleep(0.0005 * (n % 7))
        xchg(p, link)  # and back
    os.unlink(link)
    time.sleep(0.001 * (n % 13))
print(swaps)
EOF
key=$(sha256sum a.zip | cut -c1-16)
fl_on_exit "rm -f '$H/cache/$key.sfs' '$H/cache/$key.complete'"
mkdir -p "$T/mine" "$H"
chmod 0700 "$H"
mkdir -p "$H/procdirs" "$H/cache"
# Mount points visible to the test before the races: the command reports
# every other one it sees.
findmnt -rn -o TARGET | sort >host-mounts
cat >cmd.sh <<'EOF'
findmnt -rn -o TARGET | sort | comm -13 "$1" - | while read -r m; do
	case $m in
	# The caller's own directories, under whatever name the racer
	# left them: the mount stays on the directory that was checked.
	"$2"/procdirs | "$2"/procdirs/* | "$2"/procdirs.evil | "$2"/procdirs.evil/*) ;;
	"$2".evil/procdirs | "$2".evil/procdirs/* | /run/fuselage | /run/fuselage/*) ;;
	*) echo "FOREIGN MOUNT: $m" ;;
	esac
done
cat "$FUSELAGE_STATIC/a/hello.txt" 2>/dev/null || echo "the path moved under the command"
EOF
fixed=()
[ -d /run/fuselage ] && fixed=(--dynamic-empty=/run/fuselage/fxrace)
python3 racer.py "$H" 12 "$T/mine" >swaps &
racer=$!
fl_on_exit "kill $racer"
ok=0 refused=0 other=0 moved=0
: >runs.log
for round in $(seq 1 12); do
	for j in 1 2 3; do
		(
			timeout -k 5 30 "$FUSELAGE" -s a.zip --cache-static "${fixed[@]}" \
				bash "$T/cmd.sh" "$T/host-mounts" "$H" >"out.$j" 2>"err.$j"
			echo $? >"rc.$j"
		) &
	done
	wait $(jobs -p | grep -v "^$racer$") 2>/dev/null
	for j in 1 2 3; do
		rc=$(cat "rc.$j") o=$(cat "out.$j") e=$(cat "err.$j")
		printf 'rc=%s out=%s err=%s\n' "$rc" "$(fl_show "$o")" "$(fl_show "$e")" >>runs.log
		if [ "$rc" = 0 ] && [ "$o" = hello ] && { [ -z "$e" ] || ! grep -vq '^fuselage: note:' <<<"$e"; }; then
			ok=$((ok + 1))
		elif [ "$rc" = 0 ] && [ "$o" = "the path moved under the command" ]; then
			moved=$((moved + 1)) # served, but the command's own path was swapped
		elif [ "$rc" = 125 ] && [ "$(wc -l <<<"$e")" = 1 ] && [[ $e == fuselage:* ]] && [ -z "$o" ]; then
			refused=$((refused + 1))
		else
			other=$((other + 1))
		fi
	done
done
wait "$racer"
say "races: $(cat swaps) swaps; runs: $ok worked, $moved worked but the command's path moved, $refused refused cleanly, $other other"
grep -v '^rc=0 out=hello err=$' runs.log | sort | uniq -c | sort -rn | head -n 12 | sed 's/^/       /'
assert_eq "racing runs: none crashed, hung, half-worked or saw a foreign mount" 0 "$other"
assert_true "some runs worked despite the races ($ok)" test "$ok" -gt 0
assert_true "the racer really swapped ($(cat swaps) swaps)" test "$(cat swaps)" -gt 20
assert_eq "after the races: no mount left on the host" "" "$(fl_host_mounts "$H")"
assert_eq "after the races: no new mount anywhere on the host" "" "$(findmnt -rn -o TARGET | sort | comm -13 host-mounts -)"
# (only run directories, named by pid: other trees' tests share a setuid home)
assert_eq "after the races: nothing left in procdirs" "" \
	"$(fl_procdirs_left "$H" | grep -E '/procdirs/[0-9]+(/|$)')"
assert_eq "after the races: the home is still the caller's directory" "d $(id -u)" \
	"$(stat -c '%F %u' "$H" | sed 's/^directory/d/')"
assert_eq "no .evil link left" "" "$(ls -d "$H".evil "$H"/*.evil 2>/dev/null)"
left=$(find "$H/cache" -newer racer.py -user root 2>/dev/null)
assert_eq "no root-owned file in the cache" "" "$left"
fl_run -s a.zip cat '/dev/null'
assert_ok "a run after the races works"
