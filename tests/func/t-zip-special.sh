#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4 zip specifics: implied directories, Unix modes (and defaults when
# none), set-id bits masked, Unix symlinks, duplicate names (last wins),
# hostile names never outside the root (skipped; warned under -v), DOS
# time, stored and deflated data, encrypted entries (EACCES on read),
# unknown methods (EIO on read) while the rest stays readable.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip python3 readelf

python3 "$FL_FUNC/zipfix.py" special sp.zip
fl_run -v -s sp.zip sh -c 'cd "$FUSELAGE_STATIC/sp" || exit 1
for p in implied implied/a implied/a/b modes/dir700 dos/dir; do echo "dir $p: $(stat -c "%F %a" $p)"; done
for p in implied/a/b/c.txt modes/x751 modes/x600 modes/x4755 modes/x2755 dos/file; do echo "file $p: $(stat -c "%a" $p)"; done
echo "c.txt: $(cat implied/a/b/c.txt)"
echo "rel: $(readlink links/rel) $(stat -L -c %a links/rel)"
echo "abs: $(readlink links/abs)"
echo "dup: $(cat dup.txt) $(ls | grep -c "^dup.txt$")"
echo "top: $(ls -A | tr "\n" " ")"
echo "dostime: $(stat -c %Y dostime.txt)"
python3 -c "import sys; d=open(\"stored.bin\",\"rb\").read(); e=open(\"deflated.bin\",\"rb\").read(); p=bytes((i*7+i//256)%251 for i in range(65536)); print(\"data:\", d==p, e==p)"
echo "x751 runs: $(./modes/x751)"
echo "owners: $(find . -printf "%U:%G\n" | sort -u | tr "\n" " ")"'
assert_ok "the special zip is served"
out=$FL_OUT
get() { sed -n "s|^$1: ||p" <<<"$out"; }
assert_eq "implied dir implied/" "directory 755" "$(get 'dir implied')"
assert_eq "implied dir implied/a" "directory 755" "$(get 'dir implied/a')"
assert_eq "implied dir implied/a/b" "directory 755" "$(get 'dir implied/a/b')"
assert_eq "file under implied dirs" "implied" "$(get c.txt)"
assert_eq "a directory entry's Unix mode" "directory 700" "$(get 'dir modes/dir700')"
assert_eq "no Unix mode: directory 0755" "directory 755" "$(get 'dir dos/dir')"
assert_eq "no Unix mode: file 0644" "644" "$(get 'file dos/file')"
assert_eq "Unix mode 0751" "751" "$(get 'file modes/x751')"
assert_eq "Unix mode 0600" "600" "$(get 'file modes/x600')"
assert_eq "setuid bit masked" "755" "$(get 'file modes/x4755')"
assert_eq "setgid bit masked" "755" "$(get 'file modes/x2755')"
assert_eq "relative Unix symlink" "../modes/x751 751" "$(get rel)"
assert_eq "absolute Unix symlink (target kept as is)" "/etc/passwd" "$(get abs)"
assert_eq "duplicate names: the last entry wins, listed once" "second 1" "$(get dup)"
assert_eq "top level: hostile names are not there" "deflated.bin dos dostime.txt dup.txt good.txt implied links modes stored.bin " "$(get top)"
assert_eq "DOS time (local time, no extended timestamp)" "$(date -d '2001-02-03 04:05:06' +%s)" "$(get dostime)"
assert_eq "stored and deflated data" "True True" "$(get data)"
assert_eq "an executable entry runs" "x751" "$(get 'x751 runs')"
assert_eq "owners are the caller" "$(id -u):$(id -g) " "$(get owners)"
for n in evil1.txt evil2.txt evil3.txt; do
	assert_false "zip-slip: $n not created anywhere near" test -e "$T/$n" -o -e "$T/../$n" -o -e "/$n"
done
assert_match "-v warns about the skipped hostile names" "\.\./evil1\.txt" "$FL_ERR"
assert_match "-v warns about the absolute name" "/evil2\.txt" "$FL_ERR"
fl_run -s sp.zip sh -c 'find "$FUSELAGE_STATIC/sp" -name "evil*"; find / -xdev -maxdepth 3 -name "evil[123].txt" 2>/dev/null'
assert_eq "no evil*.txt inside the mount nor at the top of the tree" "" "$FL_OUT"

# encrypted entry: lists normally, read gives EACCES; the rest is readable
mkdir -p enc
printf 'secret\n' >enc/secret.txt
printf 'open\n' >enc/open.txt
(cd enc && zip -q -P pw "$T/enc.zip" secret.txt && zip -q "$T/enc.zip" open.txt)
fl_run -s enc.zip python3 -c '
import errno, os
d = os.environ["FUSELAGE_STATIC"] + "/enc"
print("list:", sorted(os.listdir(d)))
print("size:", os.stat(d + "/secret.txt").st_size)
try:
    open(d + "/secret.txt", "rb").read(); print("read: ok")
except OSError as e:
    print("read:", errno.errorcode[e.errno])
print("open:", open(d + "/open.txt").read().strip())'
assert_ok "a zip with an encrypted entry is served"
assert_match "encrypted: listed" "list: \['open.txt', 'secret.txt'\]" "$FL_OUT"
assert_match "encrypted: size shown" "size: 7" "$FL_OUT"
assert_match "encrypted: reading gives EACCES" "read: EACCES" "$FL_OUT"
assert_match "encrypted: the other entry reads" "open: open" "$FL_OUT"

# unknown compression method: lists, read gives EIO
python3 "$FL_FUNC/zipfix.py" fromdir enc plain.zip deflated
python3 "$FL_FUNC/zipfix.py" method plain.zip secret.txt 77
fl_run -s plain.zip python3 -c '
import errno, os
d = os.environ["FUSELAGE_STATIC"] + "/plain"
print("list:", sorted(os.listdir(d)))
try:
    open(d + "/secret.txt", "rb").read(); print("read: ok")
except OSError as e:
    print("read:", errno.errorcode[e.errno])
print("open:", open(d + "/open.txt").read().strip())'
assert_ok "a zip with an unknown method is served"
assert_match "unknown method: listed" "list: \['open.txt', 'secret.txt'\]" "$FL_OUT"
assert_match "unknown method: reading gives EIO" "read: EIO" "$FL_OUT"
assert_match "unknown method: the other entry reads" "open: open" "$FL_OUT"

# bzip2 and lzma entries are decoded by libzip, which fuselage loads only
# when the first such entry is read (fusefs/dl.h): in every mode, setuid
# included, where the loader looks in the system directories only.
python3 - "$T/other.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("b.txt", "bzip2 " * 5000, compress_type=zipfile.ZIP_BZIP2)
    z.writestr("l.txt", "lzma " * 5000, compress_type=zipfile.ZIP_LZMA)
    z.writestr("d.txt", "deflate " * 5000, compress_type=zipfile.ZIP_DEFLATED)
PY
fl_run -s other.zip python3 -c '
import errno, hashlib, os
d = os.environ["FUSELAGE_STATIC"] + "/other"
for f in "bld":
    try:
        print(f + ":", hashlib.md5(open(d + "/" + f + ".txt", "rb").read()).hexdigest())
    except OSError as e:
        print(f + ":", errno.errorcode[e.errno])'
assert_ok "a zip with bzip2 and lzma entries is served"
md5() { printf "$1 %.0s" $(seq 5000) | md5sum | cut -c1-32; }
assert_eq "bzip2 entry decoded" "$(md5 bzip2)" "$(sed -n 's/^b: //p' <<<"$FL_OUT")"
assert_eq "deflate entry decoded" "$(md5 deflate)" "$(sed -n 's/^d: //p' <<<"$FL_OUT")"
# Debian 12's libzip 1.7.3 has no lzma decoder: EIO, as for any method it lacks.
assert_match "lzma entry decoded, or EIO where libzip lacks lzma" "^($(md5 lzma)|EIO)\$" \
	"$(sed -n 's/^l: //p' <<<"$FL_OUT")"
# ...and neither libzip nor libcrypto is linked in: each costs every run its
# dynamic linking at exec (doc/benchmarks.md, row 5).
needed=$(readelf -d "$FUSELAGE" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
assert_match "readelf lists what fuselage links" "libc\.so" "$needed"
assert_no_match "fuselage does not link libzip or libcrypto ($needed)" "libzip|libcrypto" "$needed"
