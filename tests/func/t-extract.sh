#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §8 extract-and-run (no namespace), asked for with --extract=force or
# --extract=prefer: every input format extracted with modes, symlinks, hard
# links and times kept (manifests compared with the source tree), owned by
# the caller, into $FUSELAGE_HOME/procdirs/x.<boot>.<pidns>.<pid>.<start>;
# --run; zip-slip names and symlink traps write nothing outside; fixed paths
# refused; removed at exit (read-only trees too, a job left running keeps
# it until it ends); after kill -9 of setup and of the cleaner the next run
# sweeps the leftover, while directories of live runs, of another boot and
# of a pid reused by another process are judged right; policy parsing and
# prefer per mode.  Namespace and FUSE failures are in t-no-namespace and
# t-no-fuse.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 zip base64
need_mksquashfs

if [ "$FL_MODE" = setuid ]; then
	H=$(fl_pw_home)/.fuselage
else
	H=$T/home
	export FUSELAGE_HOME=$H
fi
me=$(id -un)
left() { find "$H/procdirs" -mindepth 1 -maxdepth 1 -name 'x.*' 2>/dev/null; }

# --- every input format, compared entry by entry ---------------------------
fx_tree src
fl_manifest src >expected
fx_zip src tree.zip
fx_sqfs src tree.sqfs gzip
cp /bin/true app.elf && truncate -s %4096 app.elf && cat tree.sqfs >>app.elf
base64 tree.zip >tree.b64
for input in tree.zip tree.sqfs app.elf tree.b64; do
	fl_run --extract=force -s "t:$input" sh -c 'python3 "$1" "$FUSELAGE_STATIC/t"; echo "$FUSELAGE_STATIC"; stat -c %U "$FUSELAGE_STATIC/t/plain.txt" "$FUSELAGE_STATIC/t/sub"' sh "$FL_FUNC/manifest.py"
	assert_ok "$input: extracted and run"
	printf '%s\n' "$FL_OUT" | head -n -3 >"got-$input"
	assert_files_eq "$input: every entry as in the source tree" expected "got-$input"
	assert_match "$input: under procdirs/x.<boot>.<pidns>.<pid>.<start>" \
		"^$H/procdirs/x\.[0-9a-f-]{36}\.[0-9]+\.[0-9]+\.[0-9]+/static$" "$(printf '%s\n' "$FL_OUT" | tail -n 3 | head -n 1)"
	assert_eq "$input: owned by the caller" "$me $me" "$(printf '%s\n' "$FL_OUT" | tail -n 2 | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "$input: nothing left after exit" "" "$(left)"
done
fl_run --extract=force -s t:tree.sqfs sh -c 'stat -c %i "$FUSELAGE_STATIC/t/hard1" "$FUSELAGE_STATIC/t/hard2" | uniq | wc -l'
assert_eq "squashfs hard links stay one inode" "1" "$FL_OUT"
fl_run --extract=force -s t:tree.sqfs sh -c 'du -k "$FUSELAGE_STATIC/t/sparse" | cut -f1'
assert_true "the sparse file stays sparse (${FL_OUT} KiB)" test "${FL_OUT:-99999}" -lt 1024

# -v says which mode; no warning or note for an asked-for extraction
fl_run --extract=force -v -s tree.zip true
assert_match "-v: extract-and-run named" "extract-and-run, no namespace \(--extract=force\)" "$FL_ERR"
fl_run --extract=force -s tree.zip true
assert_eq "force: nothing on stderr" "" "$FL_ERR"

# --run, and the scratch and --dynamic-empty directories on disk
fl_run --extract=force -s tree.sqfs --dynamic-empty=w --run tree/bin/hello.sh a b
assert_ok "--run from an extracted archive"
assert_match "... runs the extracted file" "hello from $H/procdirs/x\..*/static/tree/bin/hello.sh: a b" "$FL_OUT"
fl_run --extract=force --dynamic-empty=w sh -c 'echo x > "$FUSELAGE_TMPDIR/f" && echo y > "$FUSELAGE_DYNAMIC/w/g" && cat "$FUSELAGE_TMPDIR/f" "$FUSELAGE_DYNAMIC/w/g"'
assert_eq "scratch and --dynamic-empty writable" "x y" "$(echo $FL_OUT)"

sum=$(sha256sum <tree.zip)
fl_run --extract=force -d tree.zip sh -c 'echo more >> "$FUSELAGE_DYNAMIC/tree/plain.txt" && rm "$FUSELAGE_DYNAMIC/tree/readonly.txt" && cat "$FUSELAGE_DYNAMIC/tree/plain.txt"; echo "$FUSELAGE_DYNAMIC"'
assert_ok "--dynamic extracted to disk"
assert_eq "... writable" "hello world more" "$(head -n 2 <<<"$FL_OUT" | tr '\n' ' ' | sed 's/ $//')"
assert_match "... under the run's directory" "^$H/procdirs/x\..*/dynamic$" "$(tail -n 1 <<<"$FL_OUT")"
assert_eq "... the archive itself unchanged" "$sum" "$(sha256sum <tree.zip)"
assert_eq "... nothing left" "" "$(left)"

# --- hostile archives: nothing is written outside the run's directory ---------
mkdir -p outside
python3 - "$T/outside" <<'EOF'
import sys, zipfile
z = zipfile.ZipFile("evil.zip", "w")
def add(name, data, mode=0o100644):
    zi = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
    zi.create_system = 3
    zi.external_attr = mode << 16
    z.writestr(zi, data)
add("../../../../../../../../tmp-fl-evil", "x")
add("/abs-fl-evil", "x")
add("ok/../../up-fl-evil", "x")
add("trap", sys.argv[1], 0o120777)
add("trap/pwned", "x")
add("fine.txt", "fine")
z.close()
EOF
before=$(ls -A "$T" | sort)
fl_run --extract=force -v -s evil.zip sh -c 'cat "$FUSELAGE_STATIC/evil/fine.txt"'
assert_ok "zip-slip zip: runs"
assert_eq "... the safe entry is there" "fine" "$FL_OUT"
assert_eq "... nothing through the symlink" "" "$(ls -A outside)"
assert_eq "... nothing new beside the archive" "$before" "$(ls -A "$T" | sort)"
assert_false "... nothing at /abs-fl-evil" test -e /abs-fl-evil
assert_match "... -v names the skipped names" "\.\./|abs-fl-evil" "$FL_ERR"

printf 'not an archive\n' >bad.zip
fl_run --extract=force -s tree.zip -s bad.zip true
assert_fl_error "a bad archive: 125, one line" "bad\.zip"
assert_eq "... nothing left" "" "$(left)"
fl_run --extract=force -s tree.zip --run tree/nothere
assert_fl_error "--run not found: 125" "not found"
assert_eq "... nothing left" "" "$(left)"

if [ "$FL_MODE" = user ]; then
	fl_run --map-root --extract=force -s tree.zip id -u
	assert_fl_error "--map-root with extract-and-run: 125, the reason" "--map-root: --extract=force .*no root to map you to"
	assert_eq "... nothing left" "" "$(left)"
fi

# --- fixed paths cannot be private without a namespace -----------------------
fl_run --extract=force -s /run/fuselage/fx:tree.zip true
assert_fl_error "a fixed path is refused" "fixed path.*(private|namespace)"
assert_eq "... nothing left" "" "$(left)"

# --- removal: read-only trees, and a job left running --------------------------
fl_run --extract=force -s tree.zip sh -c 'mkdir -p "$FUSELAGE_TMPDIR/ro/deep" && touch "$FUSELAGE_TMPDIR/ro/deep/f" && chmod 0 "$FUSELAGE_TMPDIR/ro/deep" && chmod 0500 "$FUSELAGE_TMPDIR/ro" && chmod -R a-w "$FUSELAGE_STATIC"'
assert_ok "a run that leaves read-only directories"
assert_eq "... removed all the same" "" "$(left)"
t0=$(date +%s%N)
out=$("$FUSELAGE" --extract=force -s tree.zip sh -c '(sleep 6; cat "$FUSELAGE_STATIC/tree/plain.txt" > "$1/late") </dev/null >/dev/null 2>&1 & echo started' sh "$T")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "a job left running: fuselage returns" "started" "$out"
assert_true "... before the job ends (${ms} ms)" test "$ms" -lt 5000
assert_ne "... the directory stays while the job runs" "" "$(left)"
for _ in $(seq 150); do [ -s late ] && [ -z "$(left)" ] && break; sleep 0.1; done
assert_eq "... the job could still read the archive" "hello world" "$(cat late 2>/dev/null)"
assert_eq "... removed after the job" "" "$(left)"

# --- kill -9, then the next run sweeps ----------------------------------------
for victim in setup cleaner; do
	rm -f info
	fl_bg --extract=force -s tree.zip sh -c 'echo "$PPID $FUSELAGE_TMPDIR" > "$1"; exec sleep 30' sh "$T/info"
	for _ in $(seq 100); do [ -s info ] && break; sleep 0.1; done
	read -r keeper tmpdir <info
	dir=${tmpdir%/tmp}
	cleaner=${dir##*/}; cleaner=${cleaner#x.*.*.}; cleaner=${cleaner%.*}
	setup=$(ps -o ppid= -p "$keeper" | tr -d ' ')
	if [ "$victim" = setup ]; then kill -KILL "$setup"; else kill -KILL "$cleaner"; fi
	pkill -KILL -P "$keeper" sleep 2>/dev/null
	wait_gone "$keeper" 10
	sleep 0.3
	if [ "$victim" = setup ]; then
		assert_eq "kill -9 of setup: the cleaner still removes the directory" "" "$(left)"
	else
		assert_eq "kill -9 of the cleaner leaves the directory" "$dir" "$(left)"
		fl_run --extract=force true
		assert_ok "the next run"
		assert_eq "... swept the dead run's directory" "" "$(left)"
	fi
done

# --- the sweep's rule, with hand-made directories --------------------------------
boot=$(cat /proc/sys/kernel/random/boot_id)
pidns=$(readlink /proc/self/ns/pid | tr -dc 0-9)
start_of() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat"; }
sleep 60 &
live=$!
fl_on_exit "kill $live"
mkdir -p "$H/procdirs" && chmod 0700 "$H" "$H/procdirs"
ours="$H/procdirs/x.$boot.$pidns.$live.$(start_of $live)"
reused="$H/procdirs/x.$boot.$pidns.$live.$(( $(start_of $live) + 1 ))"
other_boot="$H/procdirs/x.00000000-0000-0000-0000-000000000000.$pidns.999999.1"
other_ns="$H/procdirs/x.$boot.1.999999.1"
for d in "$ours" "$reused" "$other_boot" "$other_ns"; do
	mkdir -p "$d/static/ro" && touch "$d/static/ro/f" && chmod 0555 "$d/static/ro"
done
fl_run --extract=force true
assert_ok "a run with hand-made leftovers"
assert_true "a live process's directory is kept" test -d "$ours"
assert_false "a pid now used by another process (other start time): swept" test -e "$reused"
assert_true "another boot's directory is kept (its process cannot be checked)" test -d "$other_boot"
assert_true "another pid namespace's directory is kept" test -d "$other_ns"
chmod -R u+w "$H/procdirs" && rm -rf "$ours" "$other_boot" "$other_ns"

# --- policies ------------------------------------------------------------------------
fl_run --extract=bogus true
assert_fl_error "--extract=bogus" "--extract: invalid policy 'bogus'"
fl_run --extract=prefer -s tree.zip sh -c 'echo "$FUSELAGE_STATIC"'
assert_ok "--extract=prefer runs"
if [ "$FL_MODE" = user ]; then
	assert_match "prefer, unprivileged: extract-and-run, no namespace tried" "/procdirs/x\." "$FL_OUT"
else
	assert_match "prefer, $FL_MODE: a namespace" "/procdirs/[0-9]+/static$" "$FL_OUT"
fi
fl_run --extract=allow -s tree.zip sh -c 'echo "$FUSELAGE_STATIC"; touch "$FUSELAGE_STATIC/tree/x" 2>&1'
assert_match "allow with namespaces available: a namespace" "/procdirs/[0-9]+/static" "$FL_OUT"
assert_match "... read-only FUSE mount" "Read-only file system" "$FL_OUT"
assert_eq "... no warning" "" "$FL_ERR"
assert_eq "nothing left at the end" "" "$(left)"
