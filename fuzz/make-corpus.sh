#!/bin/sh
# SPDX-License-Identifier: MIT
# make-corpus.sh OUT: make the fuzz targets' seed corpora in OUT/TARGET/
# (options, detect, b64, elf, zip, sqfs) from real archives: made here by
# zip, python's zipfile and mksquashfs (every compressor it has), taken from
# the system (a Debian wheel, a JAR, ELF programs), and base64 texts of them.
# Seeds are kept under 64 KiB (the targets' -max_len, fuzz/run.sh) so that
# they are whole archives.  A missing tool leaves out its seeds, with a note
# on stderr; python3 is required.
set -eu

out=${1:?usage: make-corpus.sh OUTDIR}
for t in options detect b64 elf zip sqfs; do
	rm -rf "$out/$t"
	mkdir -p "$out/$t"
done
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fl-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT
note() { echo "make-corpus: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
PATH=$PATH:/usr/sbin:/sbin
# Deterministic archives: fixed times, a fixed umask.
umask 022
export TZ=UTC SOURCE_DATE_EPOCH=1700000000

# --- the tree every archive holds --------------------------------------------
tree=$work/tree
mkdir -p "$tree/bin" "$tree/dir/sub" "$tree/empty-dir"
printf 'hello\n' >"$tree/hello.txt"
: >"$tree/empty"
printf '#!/bin/sh\necho run\n' >"$tree/bin/run.sh"
chmod 755 "$tree/bin/run.sh"
printf 'deep\n' >"$tree/dir/sub/deep.txt"
ln -s hello.txt "$tree/link"
ln -s ../../hello.txt "$tree/dir/sub/uplink"
ln "$tree/hello.txt" "$tree/dir/hard.txt"
# several data blocks at -b 4096, compressible so the archive stays small
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write("line %d %s\n" % (i, "abcdefgh"[i % 8] * (i % 13)))
' "$tree/dir/lines.txt"
if have setfattr && setfattr -n user.fuzz -v seed "$tree/hello.txt" 2>/dev/null; then
	setfattr -n user.long -v "$(printf 'v%.0s' $(seq 1 300))" "$tree/dir" 2>/dev/null || true
	setfattr -n trusted.fuzz -v t "$tree/empty" 2>/dev/null || true
else
	note "no user xattrs here: the squashfs seeds have none"
fi
find "$tree" -exec touch -h -d @1700000000 {} + 2>/dev/null || true
# a large file of zeros: tiny compressed, sparse in squashfs, and past the
# zip backend's whole-file inflation limit (4 MiB) so its cursor runs
zeros=$work/zeros
mkdir -p "$zeros"
head -c 5000000 /dev/zero >"$zeros/zeros.bin"
printf 'x\n' >"$zeros/small"

# --- zip ------------------------------------------------------------------------
z=$out/zip
if have zip; then
	(cd "$tree" && zip -qry -X "$z/zip-deflate.zip" .)
	(cd "$tree" && zip -qry -0 "$z/zip-stored.zip" .)
	(cd "$tree" && zip -qr "$z/zip-nosymlinks.zip" hello.txt bin dir/sub)
	(cd "$tree" && zip -qry -Z bzip2 "$z/zip-bzip2.zip" hello.txt bin dir) 2>/dev/null ||
		note "zip has no bzip2"
	(cd "$tree" && zip -qr -P secret "$z/zip-encrypted.zip" hello.txt dir/sub)
	(cd "$zeros" && zip -q -9 "$z/zip-zeros.zip" zeros.bin small)
	(cd "$tree" && printf 'a comment\n' | zip -qr -z "$z/zip-comment.zip" hello.txt)
	# data in front: a self-extracting zip with an ELF stub, offsets as
	# made (relative to the zip) and as fixed by zip -A
	cp "$z/zip-deflate.zip" "$work/sfx.zip"
	head -c 3000 /bin/true >"$z/zip-prefixed.zip"
	cat "$work/sfx.zip" >>"$z/zip-prefixed.zip"
	cat /bin/true "$work/sfx.zip" >"$work/sfx-fixed.zip"
	zip -qA "$work/sfx-fixed.zip" 2>/dev/null && cp "$work/sfx-fixed.zip" "$out/detect/elf-sfx.zip"
else
	note "no zip: its seeds are left out"
fi
python3 -W ignore - "$z" "$tree" <<'EOF'
import os, sys, zipfile, time
out, tree = sys.argv[1], sys.argv[2]
T = (2023, 11, 14, 22, 13, 20)

def info(name, mode=0o100644, method=zipfile.ZIP_DEFLATED):
    zi = zipfile.ZipInfo(name, T)
    zi.external_attr = mode << 16
    zi.create_system = 3
    zi.compress_type = method
    return zi

for tag, method in (("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED),
                    ("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)):
    with zipfile.ZipFile(os.path.join(out, "py-%s.zip" % tag), "w") as zf:
        zf.writestr(info("a.txt", method=method), b"alpha\n" * 50)
        zf.writestr(info("d/", 0o40755, zipfile.ZIP_STORED), b"")
        zf.writestr(info("d/b.bin", method=method), bytes(range(256)) * 8)
        zf.writestr(info("d/e/link", 0o120777, zipfile.ZIP_STORED), b"../../a.txt")
        zf.writestr(info("x.sh", 0o100755, method), b"#!/bin/sh\n")
# zip64 records on a small archive
with zipfile.ZipFile(os.path.join(out, "py-zip64.zip"), "w", allowZip64=True) as zf:
    with zf.open(info("big.txt"), "w", force_zip64=True) as f:
        f.write(b"zip64 " * 100)
    zf.writestr(info("small.txt", method=zipfile.ZIP_STORED), b"s\n")
# names the backend skips or repairs, duplicates, a file/directory clash
with zipfile.ZipFile(os.path.join(out, "py-names.zip"), "w") as zf:
    for n in ("./dot/x", "a//b", "/abs", "../up", "ok/../../esc", "dup", "dup",
              "clash", "clash/child", "sp ace", "\u00e9t\u00e9", "n" * 300, "empty-dir/"):
        zf.writestr(info(n, 0o40755 if n.endswith("/") else 0o100644), n.encode() * 2)
    zf.comment = b"names"
# a DOS archive (no unix modes), a directory by the DOS attribute bit
with zipfile.ZipFile(os.path.join(out, "py-dos.zip"), "w") as zf:
    zi = zipfile.ZipInfo("dos.txt", T); zi.create_system = 0
    zf.writestr(zi, b"dos\r\n")
    zi = zipfile.ZipInfo("dosdir", T); zi.create_system = 0; zi.external_attr = 0x10
    zf.writestr(zi, b"")
# an empty archive: only the end record
with zipfile.ZipFile(os.path.join(out, "py-empty.zip"), "w"):
    pass

# A 5 MB deflated entry in many deflate blocks, some ending off a byte
# boundary: the zip backend streams it (over 4 MiB) and checkpoints at block
# ends.  Written by hand, as zipfile cannot take compressed data.
def raw_zip(path, name, data, blocks):
    import struct, zlib
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = b""
    step = len(data) // blocks
    for i in range(0, len(data), step):
        comp += co.compress(data[i:i + step])
        comp += co.flush(zlib.Z_BLOCK if (i // step) % 2 else zlib.Z_SYNC_FLUSH)
    comp += co.flush()
    crc = zlib.crc32(data)
    n = name.encode()
    lh = struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, 8, 0, 0x5821, crc, len(comp), len(data),
                     len(n), 0) + n
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0x031e, 20, 0, 8, 0, 0x5821, crc,
                     len(comp), len(data), len(n), 0, 0, 0, 0, 0o100644 << 16, 0) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 1, 1, len(cd), len(lh) + len(comp), 0)
    with open(path, "wb") as f:
        f.write(lh + comp + cd + eocd)

raw_zip(os.path.join(out, "raw-blocks.zip"), "blocks.bin",
        bytes((i * 7) % 251 for i in range(1000)) * 5000, 60)

def subset(src, dst, count, maxsize):
    """The first small entries of a real archive, compression kept."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        n = 0
        for zi in zin.infolist():
            if zi.file_size > maxsize:
                continue
            zout.writestr(zi, zin.read(zi), compress_type=zi.compress_type)
            n += 1
            if n == count:
                break

import glob
for whl in sorted(glob.glob("/usr/share/python-wheels/*.whl"))[:2]:
    subset(whl, os.path.join(out, "wheel-" + os.path.basename(whl)[:12] + ".zip"), 25, 3000)
for jar in ("/usr/share/java/commons-cli.jar",):
    if os.path.exists(jar):
        if os.path.getsize(jar) <= 65536:
            with open(jar, "rb") as f, open(os.path.join(out, "commons-cli.jar"), "wb") as g:
                g.write(f.read())
        else:
            subset(jar, os.path.join(out, "jar-subset.zip"), 25, 3000)
EOF
ls /usr/share/python-wheels/*.whl >/dev/null 2>&1 || note "no Debian wheel (python3-pip-whl): its seed is left out"
[ -e /usr/share/java/commons-cli.jar ] || note "no JAR (libcommons-cli-java): its seed is left out"

# --- squashfs -------------------------------------------------------------------
s=$out/sqfs
if have mksquashfs; then
	mk() { # mk NAME SRC OPTIONS...
		name=$1 src=$2
		shift 2
		mksquashfs "$src" "$s/$name.sqfs" -noappend -quiet -no-progress -nopad "$@" \
			>/dev/null 2>&1 || { note "mksquashfs $*: failed, $name left out"; rm -f "$s/$name.sqfs"; }
	}
	for c in gzip xz lzo lz4 zstd; do
		mk "sq-$c" "$tree" -comp "$c" -b 4096
	done
	mk sq-uncompressed "$tree" -noI -noD -noF -noX -b 4096
	mk sq-nofrag "$tree" -no-fragments -b 4096
	mk sq-allfrag "$tree" -always-use-fragments
	mk sq-noxattr "$tree" -no-xattrs -all-root
	mk sq-ids "$tree" -force-uid 4000000 -force-gid 12345
	mk sq-zeros "$zeros" -b 65536
	mk sq-pseudo "$tree" -p 'dev c 0600 0 0 1 3' -p 'blk b 0600 0 0 7 0' \
		-p 'fifo i 0644 0 0 f' -p 'sock i 0644 0 0 s' -p 'bin/run.sh m 4755 0 0' \
		-p 'made f 0644 1000 1000 echo made'
	# tiny images, uncompressed: most mutations land on a field
	tiny=$work/tiny
	mkdir -p "$tiny/d"
	printf 'x' >"$tiny/d/f"
	ln -s f "$tiny/d/l"
	setfattr -n user.a -v b "$tiny/d/f" 2>/dev/null || true
	mk sq-tiny-raw "$tiny" -noI -noD -noF -noX -all-root
	mk sq-tiny-rawids "$tiny" -noI -noD -noF -noX -force-uid 7 -force-gid 8
	mk sq-tiny-gzip "$tiny" -all-root
	# a directory of many entries: directory index and several headers
	mkdir -p "$work/many"
	for i in $(seq 1 300); do : >"$work/many/entry-with-a-longish-name-$i"; done
	mk sq-many "$work/many" -comp gzip
	# an image appended to an ELF file at the extent rule's offset
	if [ -e "$s/sq-gzip.sqfs" ]; then
		python3 - /bin/true "$s/sq-gzip.sqfs" "$out/sqfs/elf-appended.sqfs" <<'EOF'
import sys
elf = open(sys.argv[1], "rb").read()
img = open(sys.argv[2], "rb").read()
pad = (-len(elf)) % 4096
open(sys.argv[3], "wb").write(elf + b"\0" * pad + img)
EOF
	fi
else
	note "no mksquashfs: the squashfs seeds are left out"
fi

# --- detect: one of each kind -----------------------------------------------------
d=$out/detect
for f in "$z/zip-deflate.zip" "$z/zip-prefixed.zip" "$z/py-empty.zip" "$z/py-zip64.zip" \
	"$s/sq-gzip.sqfs" "$s/elf-appended.sqfs"; do
	[ -e "$f" ] && cp "$f" "$d/"
done
[ -e "$z/zip-deflate.zip" ] && base64 -w 76 "$z/zip-deflate.zip" >"$d/zip.b64"
[ -e "$s/sq-lz4.sqfs" ] && { printf '# a squashfs image\n'; base64 -w 64 "$s/sq-lz4.sqfs"; } >"$d/sqfs.b64"
[ -e "$z/py-stored.zip" ] && base64 -w 0 "$z/py-stored.zip" | sed 's/$/\r/' >"$d/zip-crlf.b64"
printf 'plain text, not an archive\n' >"$d/text"
head -c 4096 /bin/true >"$d/elf-truncated"
cp /bin/true "$d/elf-plain"

# --- b64 ------------------------------------------------------------------------------
b=$out/b64
cp "$d"/*.b64 "$b/" 2>/dev/null || true
printf 'YQ==\n' >"$b/pad2"
printf 'YWI=\n' >"$b/pad1"
printf 'YWJj\n' >"$b/pad0"
printf '# comment\n#another\nYWJj\nZGVm\n# end\n' >"$b/comments"
printf 'YWJj  \t\r\nZGVm\r\n' >"$b/trailing-space"
printf 'YWJj ZGVm\n' >"$b/bad-inner-space"
printf 'YW=j\n' >"$b/bad-pad"
printf 'YWJjZA==YQ==\n' >"$b/bad-after-pad"
printf 'YWJ\n' >"$b/truncated"
printf '%s\n' "$(head -c 200 /bin/true | base64 -w 0)" "!bad" >"$b/damaged-late"

# --- elf ---------------------------------------------------------------------------------
e=$out/elf
cp /bin/true "$e/true"
[ -e "$s/elf-appended.sqfs" ] && cp "$s/elf-appended.sqfs" "$e/elf-appended"
if have cc; then
	printf 'int f(int x) { return x + 1; }\n' >"$work/f.c"
	cc -c -o "$e/object.o" "$work/f.c" 2>/dev/null || true
	cc -shared -fPIC -o "$e/shared.so" "$work/f.c" 2>/dev/null || true
	strip -o "$work/shared-stripped.so" "$e/shared.so" 2>/dev/null &&
		[ "$(wc -c <"$work/shared-stripped.so")" -le 65536 ] &&
		cp "$work/shared-stripped.so" "$e/shared-stripped.so" || true
	for f in "$e/shared.so"; do
		[ -e "$f" ] && [ "$(wc -c <"$f")" -gt 65536 ] && rm -f "$f"
	done
fi
python3 - "$e" <<'EOF'
import os, struct, sys
out = sys.argv[1]

def elf(cls64, big, phdrs, shdrs=(), shnum=None, phnum=None, extra=b""):
    """A minimal ELF file: header, program headers, section headers."""
    o = ">" if big else "<"
    ehsize, phsz, shsz = (64, 56, 64) if cls64 else (52, 32, 40)
    phoff = ehsize if phdrs else 0
    shoff = (phoff + len(phdrs) * phsz if phdrs else ehsize) if shdrs else 0
    ident = b"\x7fELF" + bytes([2 if cls64 else 1, 2 if big else 1, 1]) + b"\0" * 9
    w = "Q" if cls64 else "I"
    hdr = ident + struct.pack(o + "HHI" + w + w + w + "IHHHHHH", 2, 62, 1, 0, phoff, shoff, 0,
                              ehsize, phsz, len(phdrs) if phnum is None else phnum, shsz,
                              len(shdrs) if shnum is None else shnum, 0)
    body = b""
    for typ, off, filesz in phdrs:
        if cls64:
            body += struct.pack(o + "IIQQQQQQ", typ, 5, off, 0, 0, filesz, filesz, 4096)
        else:
            body += struct.pack(o + "IIIIIIII", typ, off, 0, 0, filesz, filesz, 5, 4096)
    for size, info in shdrs:
        if cls64:
            body += struct.pack(o + "IIQQQQIIQQ", 0, 0, 0, 0, 0, size, 0, info, 0, 0)
        else:
            body += struct.pack(o + "IIIIIIIIII", 0, 0, 0, 0, 0, size, 0, info, 0, 0)
    return hdr + body + extra

open(os.path.join(out, "min64le"), "wb").write(elf(True, False, [(1, 0, 200)], extra=b"\0" * 200))
open(os.path.join(out, "min32be"), "wb").write(
    elf(False, True, [(1, 0, 120), (6, 52, 64)], [(0, 0), (16, 0)], extra=b"\0" * 100))
open(os.path.join(out, "xnum64"), "wb").write(
    elf(True, False, [(1, 0, 64)], [(2, 1), (0, 0)], shnum=0, phnum=0xFFFF, extra=b"\0" * 64))
open(os.path.join(out, "noload32le"), "wb").write(elf(False, False, [(6, 52, 32)]))
EOF

# --- options: argument words, each ended by NUL --------------------------------------
o=$out/options
w() { name=$1; shift; printf '%s\0' "$@" >"$o/$name"; }
w static-cmd -s app.zip cmd arg
w static-long --static=tools:/data/tools.sqfs --run bin/tool -- -x
w dynamic --dynamic=/run/fuselage/app:app.zip --dynamic-empty=scratch -v sh -c 'echo hi'
w fixed-empty --dynamic-empty=/run/fuselage/work --map-root -- true
w extract --extract=allow --cache-static -s a.b64 -s b.sfs cmd
w help --help
w version -V
w combined -vs x.zip true
w bad-abbrev --dyn=x cmd
w bad-arg --verbose=yes cmd
w missing-arg --static
w dup-names -s a.zip -d a.zip cmd
w colon -s name: cmd
w run-twice --run a --run b
w run-alone --run bin/x
w empty-arg --static= cmd
w dash-dash -- -s x
w weird-names -s '..:x' -s '/run/fuselage/../x:y' -s 'a/b:c' -s "$(printf 'nl\nx:y')" cmd

n=0
for t in options detect b64 elf zip sqfs; do
	c=$(find "$out/$t" -type f | wc -l)
	n=$((n + c))
	echo "make-corpus: $t: $c seeds"
done
[ "$n" -gt 0 ]
