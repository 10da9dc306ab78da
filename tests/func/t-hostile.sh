#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4: truncated and bit-flipped zip and squashfs archives give a clear
# one-line error (125) before the command starts, or the command runs and
# damaged files fail (EIO) while the mount stays up: never a crash (status
# 134/139, a dead server: ENOTCONN), never a hang.  A targeted corruption of
# one file's compressed data gives EIO for that file alone.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 zip
need_mksquashfs
FL_TIMEOUT=30

mkdir -p src/bin src/d
seq 1 100000 >src/seq.txt
printf 'hello\n' >src/plain.txt
printf '#!/bin/sh\necho hi\n' >src/bin/hi.sh
chmod 0755 src/bin/hi.sh
for i in $(seq 1 40); do printf 'file %s\n' "$i" >"src/d/f$i"; done
ln -s plain.txt src/link
# fixed times: the same damaged bytes on every run, so failures reproduce
find src -exec touch -h -d "$FL_MTIME" {} +
fx_zip src good.zip -X
fx_sqfs src good-gzip.sqfs gzip -all-time 1323785716 -mkfs-time 1323785716
fx_sqfs src good-xz.sqfs xz -all-time 1323785716 -mkfs-time 1323785716

# the command finds the server (FL_FIND_PIDS), reads everything, then says
# whether the server is still alive and whether any access met a dead
# connection (ENOTCONN); EIO on damaged entries is fine
probe="$FL_FIND_PIDS"'
echo STARTED
cd "$FUSELAGE_STATIC/bad" 2>/dev/null && {
	find . 2>&1 >/dev/null
	find . -type f -exec cat {} + 2>&1 >/dev/null
	find . -type l -exec readlink {} + 2>&1 >/dev/null
	ls -la . 2>&1 >/dev/null
} > "$FUSELAGE_TMPDIR/errs"
read s k srv < "$1"
if [ -n "$srv" ] && kill -0 "$srv" 2>/dev/null; then echo server-alive; else echo server-dead; fi
if grep -q "not connected" "$FUSELAGE_TMPDIR/errs"; then echo enotconn; fi'

# judge NAME: one run of a damaged archive
judge()
{
	local what=$1
	rm -f "$T/pids"
	fl_run -s "bad:$2" sh -c "$probe" sh "$T/pids"
	if [ "$FL_TIMED_OUT" = 1 ]; then
		fl_fail "$what: hung"
		return
	fi
	case $FL_RC in
	125)
		assert_fl_error "$what: refused before the command" "bad|$2"
		;;
	0)
		if grep -q '^server-alive$' <<<"$FL_OUT" && ! grep -q '^enotconn$' <<<"$FL_OUT"; then
			fl_pass "$what: served; the server survived reading everything"
		else
			cp "$2" "$FL_TEST_TMP/../fl-hostile-$(basename "$2")" 2>/dev/null
			fl_fail "$what: the server died while reading (image kept as $FL_TEST_TMP/../fl-hostile-$(basename "$2"))" "$(fl_show "$FL_OUT")" "$(fl_show "$FL_ERR")"
		fi
		;;
	*)
		fl_fail "$what: unexpected status $FL_RC (crash?)" "stdout: $(fl_show "$FL_OUT")" "stderr: $(fl_show "$FL_ERR")"
		;;
	esac
}

core_before=$(ls core* 2>/dev/null)
for g in good.zip good-gzip.sqfs good-xz.sqfs; do
	for frac in 0 0.02 0.1 0.5 0.9 0.99 0.999; do
		python3 "$FL_FUNC/zipfix.py" truncate "$g" "trunc-$frac-$g" "$frac"
		judge "$g truncated to $frac" "trunc-$frac-$g"
	done
	head -c -1 "$g" >"cut1-$g"
	judge "$g minus its last byte" "cut1-$g"
	for seed in $(seq 1 20); do
		python3 "$FL_FUNC/zipfix.py" flip "$g" "flip-$seed-$g" "$seed" $((seed % 7 + 1))
		judge "$g with $((seed % 7 + 1)) random bit flips (seed $seed)" "flip-$seed-$g"
	done
	for seed in $(seq 21 30); do
		python3 "$FL_FUNC/zipfix.py" flip "$g" "flipt-$seed-$g" "$seed" 3 0.8
		judge "$g with bit flips in its last 20% (index/directory, seed $seed)" "flipt-$seed-$g"
	done
done
assert_eq "no core file appeared" "$core_before" "$(ls core* 2>/dev/null)"

# targeted: one file's deflated data damaged -> EIO for that file only
mkdir -p two
seq 1 50000 >two/big.txt
printf 'intact\n' >two/small.txt
(cd two && zip -q -9 "$T/two.zip" big.txt small.txt)
python3 "$FL_FUNC/zipfix.py" damage "$T/two.zip" big.txt
fl_run -s two.zip python3 -c '
import errno, os
d = os.environ["FUSELAGE_STATIC"] + "/two"
try:
    data = open(d + "/big.txt", "rb").read()
    print("big:", "CORRECT" if data == "".join("%d\n" % i for i in range(1, 50001)).encode() else "WRONG-DATA")
except OSError as e:
    print("big:", errno.errorcode[e.errno])
print("small:", open(d + "/small.txt").read().strip())'
assert_ok "zip with one damaged entry is served"
assert_eq "the damaged zip entry reads as EIO (not wrong data)" "big: EIO" "$(grep '^big:' <<<"$FL_OUT")"
assert_eq "the other zip entry reads" "small: intact" "$(grep '^small:' <<<"$FL_OUT")"

# squashfs: the first data block (right after the 96-byte superblock) of a
# compressed file damaged
fx_sqfs two two.sqfs gzip
python3 - "$T/two.sqfs" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
for k in range(96 + 64, 96 + 128):
    d[k] ^= 0x55
open(p, "wb").write(d)
PY
fl_run -s two.sqfs python3 -c '
import errno, os
d = os.environ["FUSELAGE_STATIC"] + "/two"
try:
    data = open(d + "/big.txt", "rb").read()
    print("big:", "CORRECT" if data == "".join("%d\n" % i for i in range(1, 50001)).encode() else "WRONG-DATA")
except OSError as e:
    print("big:", errno.errorcode[e.errno])
print("small:", open(d + "/small.txt").read().strip())'
assert_ok "squashfs with one damaged block is served"
assert_eq "the damaged squashfs file reads as EIO" "big: EIO" "$(grep '^big:' <<<"$FL_OUT")"
assert_eq "the other squashfs file reads" "small: intact" "$(grep '^small:' <<<"$FL_OUT")"

# not an archive at all
printf 'just text\n' >text.zip
fl_run -s text.zip echo ran
assert_fl_error "a text file is not an archive" "text\.zip"
: >empty.sqfs
fl_run -s empty.sqfs echo ran
assert_fl_error "an empty file is not an archive" "empty\.sqfs"
fl_run -s dir:"$T/src" echo ran
assert_fl_error "a directory is not an archive" "src"
