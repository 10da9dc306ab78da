#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Zip and damage helpers for the functional scenarios (python3 zipfile only).

  zipfix.py fromdir DIR OUT [stored|deflated]  zip a tree with Unix modes, symlinks
  zipfix.py special OUT                        the edge cases of SPEC section 4 (see below)
  zipfix.py method OUT NAME METHOD             set an entry's method id (local + central)
  zipfix.py many OUT N [DIRS]                  N small stored entries (DIRS directories)
  zipfix.py flip IN OUT SEED N [FROM_FRACTION] flip N random bytes after FROM_FRACTION
  zipfix.py truncate IN OUT FRACTION           keep the first FRACTION of IN
  zipfix.py damage ZIP NAME                    spoil the middle of NAME's data, in place
"""
import os
import random
import stat
import struct
import sys
import time
import zipfile


def add_path(z, path, arc, compress):
    st = os.lstat(path)
    mt = time.localtime(max(st.st_mtime, 315532800))[:6]
    if stat.S_ISDIR(st.st_mode):
        zi = zipfile.ZipInfo(arc + "/", mt)
        zi.create_system = 3
        zi.external_attr = ((stat.S_IFDIR | stat.S_IMODE(st.st_mode)) << 16) | 0x10
        z.writestr(zi, b"")
    elif stat.S_ISLNK(st.st_mode):
        zi = zipfile.ZipInfo(arc, mt)
        zi.create_system = 3
        zi.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(zi, os.readlink(path))
    elif stat.S_ISREG(st.st_mode):
        zi = zipfile.ZipInfo(arc, mt)
        zi.create_system = 3
        zi.external_attr = (stat.S_IFREG | stat.S_IMODE(st.st_mode)) << 16
        zi.compress_type = compress
        with open(path, "rb") as f:
            z.writestr(zi, f.read())


def fromdir(src, out, kind="deflated"):
    compress = zipfile.ZIP_STORED if kind == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", compress) as z:
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                p = os.path.join(dirpath, name)
                add_path(z, p, os.path.relpath(p, src), compress)


def entry(name, data, mode=None, system=3, dt=(2020, 1, 2, 3, 4, 6), compress=zipfile.ZIP_DEFLATED):
    zi = zipfile.ZipInfo(name, dt)
    zi.create_system = system
    zi.compress_type = compress
    if mode is not None:
        zi.external_attr = mode << 16
    return zi, data


def special(out):
    """Edge cases:
    implied/a/b/c.txt        only entry under implied/ (dirs implied)
    modes/x751 modes/x600 modes/x4755 modes/dir700/   Unix modes (4755: setuid must be masked)
    dos/file dos/dir/        made on MS-DOS, no Unix mode: 0644 / 0755
    links/rel -> ../modes/x751, links/abs -> /etc/passwd   Unix symlinks
    dup.txt twice: "first" then "second" (last wins)
    ../evil1.txt /evil2.txt slip/../../evil3.txt   never outside the root
    dostime.txt  DOS time 2001-02-03 04:05:06 local, no extended timestamp
    stored.bin / deflated.bin  64 KiB patterned data, stored and deflated
    """
    import warnings
    warnings.simplefilter("ignore")
    pattern = bytes((i * 7 + i // 256) % 251 for i in range(65536))
    items = [
        entry("implied/a/b/c.txt", b"implied\n", stat.S_IFREG | 0o644),
        entry("modes/x751", b"#!/bin/sh\necho x751\n", stat.S_IFREG | 0o751),
        entry("modes/x600", b"x600\n", stat.S_IFREG | 0o600),
        entry("modes/x4755", b"x4755\n", stat.S_IFREG | 0o4755),
        entry("modes/x2755", b"x2755\n", stat.S_IFREG | 0o2755),
        entry("modes/dir700/", b"", stat.S_IFDIR | 0o700),
        entry("dos/file", b"dos\n", None, system=0),
        entry("dos/dir/", b"", None, system=0),
        entry("links/rel", b"../modes/x751", stat.S_IFLNK | 0o777),
        entry("links/abs", b"/etc/passwd", stat.S_IFLNK | 0o777),
        entry("dup.txt", b"first\n", stat.S_IFREG | 0o644),
        entry("dup.txt", b"second\n", stat.S_IFREG | 0o644),
        entry("../evil1.txt", b"evil1\n", stat.S_IFREG | 0o644),
        entry("/evil2.txt", b"evil2\n", stat.S_IFREG | 0o644),
        entry("slip/../../evil3.txt", b"evil3\n", stat.S_IFREG | 0o644),
        entry("dostime.txt", b"dostime\n", stat.S_IFREG | 0o644, dt=(2001, 2, 3, 4, 5, 6)),
        entry("stored.bin", pattern, stat.S_IFREG | 0o644, compress=zipfile.ZIP_STORED),
        entry("deflated.bin", pattern, stat.S_IFREG | 0o644),
        entry("good.txt", b"good\n", stat.S_IFREG | 0o644),
    ]
    with zipfile.ZipFile(out, "w") as z:
        for zi, data in items:
            unix = zi.external_attr
            z.writestr(zi, data)
            if unix == 0:  # no Unix mode: only the MS-DOS directory bit
                zi.external_attr = 0x10 if zi.filename.endswith("/") else 0
    # ZipInfo() strips a leading '/': put the raw hostile name back
    raw_names(out, {"evil2.txt": "/evil2.txt"})


def raw_names(path, renames):
    """Rename entries in place (same length +/-: rewrite whole file)."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        blobs = [(zi, z.read(zi)) for zi in infos]
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w") as z:
        for zi, data in blobs:
            attr = zi.external_attr
            if zi.filename in renames:
                zi.filename = renames[zi.filename]
            z.writestr(zi, data)
            zi.external_attr = attr
    os.replace(tmp, path)


def set_method(path, name, method):
    data = bytearray(open(path, "rb").read())
    nb = name.encode()
    count = 0
    # local headers
    pos = 0
    while True:
        pos = data.find(b"PK\x03\x04", pos)
        if pos < 0:
            break
        nlen = struct.unpack_from("<H", data, pos + 26)[0]
        if data[pos + 30:pos + 30 + nlen] == nb:
            struct.pack_into("<H", data, pos + 8, method)
            count += 1
        pos += 4
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        nlen = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + nlen] == nb:
            struct.pack_into("<H", data, pos + 10, method)
            count += 1
        pos += 4
    if count != 2:
        sys.exit("method: entry %s found %d times" % (name, count))
    open(path, "wb").write(data)


def many(out, n, dirs=0):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            name = "d%03d/f%06d" % (i % dirs, i) if dirs else "f%06d" % i
            zi = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            zi.create_system = 3
            zi.external_attr = (stat.S_IFREG | 0o644) << 16
            z.writestr(zi, b"%d\n" % i)


def flip(src, out, seed, n, start=0.0):
    data = bytearray(open(src, "rb").read())
    r = random.Random(seed)
    lo = int(len(data) * start)
    for _ in range(n):
        i = r.randrange(lo, len(data))
        data[i] ^= 1 << r.randrange(8)
    open(out, "wb").write(data)


def truncate(src, out, frac):
    data = open(src, "rb").read()
    open(out, "wb").write(data[: int(len(data) * frac)])


def damage(path, name):
    """XOR 60 bytes in the middle of NAME's compressed data, in place: that
    entry no longer inflates, every other one is intact."""
    zi = zipfile.ZipFile(path).getinfo(name)
    d = bytearray(open(path, "rb").read())
    o = zi.header_offset
    n, e = struct.unpack_from("<HH", d, o + 26)
    start = o + 30 + n + e
    for k in range(200, 260):
        d[start + zi.compress_size // 2 + k] ^= 0x55
    open(path, "wb").write(d)


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = a[0]
    if cmd == "fromdir":
        fromdir(a[1], a[2], a[3] if len(a) > 3 else "deflated")
    elif cmd == "special":
        special(a[1])
    elif cmd == "method":
        set_method(a[1], a[2], int(a[3]))
    elif cmd == "many":
        many(a[1], int(a[2]), int(a[3]) if len(a) > 3 else 0)
    elif cmd == "flip":
        flip(a[1], a[2], int(a[3]), int(a[4]), float(a[5]) if len(a) > 5 else 0.0)
    elif cmd == "truncate":
        truncate(a[1], a[2], float(a[3]))
    elif cmd == "damage":
        damage(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
