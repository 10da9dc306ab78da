#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Crafted squashfs images, one per libsquashfuse 0.1.105 bug that DESIGN.md
names.  Each image is made by mksquashfs with uncompressed metadata (-noI
-noD -noF -noX), then one field is patched, found through the superblock and
a unique marker (an mtime, a name), so the rest of the image stays valid:

  longdirname      a directory entry whose name is 257 bytes (sqfs_dir_next
                   copies it into a 257-byte buffer)
  longdirname64k   the same with the largest size field (64 KiB)
  longindexname    a directory index entry whose name is 64 KiB
                   (sqfs_dir_lookup's index scan)
  uidindex         a uid index far beyond the id table (sqfs_table_get)
  gidindex         the same for the gid
  fragindex        a fragment index beyond the fragment table
  xattrindex       an xattr id index beyond the xattr id table
  longxattrname    an xattr name of 64 KiB (sqfs_xattr_find/lookup)
  xattrcount       an xattr id entry claiming 4 billion xattrs

usage: sqfscraft.py KIND OUT.sqfs WORKDIR [MKSQUASHFS]
Prints "ok KIND" or, exit 77, why the image cannot be made here.  The victim
is d/victim (or the big directory, or d itself); other/fine holds "fine\\n".
"""
import os
import struct
import subprocess
import sys

VICTIM_MTIME = 1111111111
BIGDIR_MTIME = 1222222222
KINDS = ("longdirname", "longdirname64k", "longindexname", "uidindex", "gidindex",
         "fragindex", "xattrindex", "longxattrname", "xattrcount")


def cannot(why):
    print("cannot make the image: " + why)
    sys.exit(77)


def build(kind, work, out, mksquashfs):
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "d"))
    os.makedirs(os.path.join(src, "other"))
    with open(os.path.join(src, "other", "fine"), "w") as f:
        f.write("fine\n")
    for n in ("alpha", "victim_name_0123456789", "zulu"):
        with open(os.path.join(src, "d", n), "w") as f:
            f.write(n[0])
    victim = os.path.join(src, "d", "victim")
    with open(victim, "w") as f:
        f.write("v")
    if kind in ("xattrindex", "longxattrname", "xattrcount"):
        try:
            os.setxattr(victim, "user.victimattr", b"value")
            os.setxattr(os.path.join(src, "other", "fine"), "user.fineattr", b"ok")
        except OSError as e:
            cannot("user.* xattrs cannot be set in %s: %s" % (work, e))
    os.utime(victim, (VICTIM_MTIME, VICTIM_MTIME))
    if kind == "longindexname":
        big = os.path.join(src, "big")
        os.makedirs(big)
        for i in range(400):  # > 8 KiB of entries: the inode gets an index
            open(os.path.join(big, "entry_%04d_%s" % (i, "p" * 40)), "w").close()
        os.utime(big, (BIGDIR_MTIME, BIGDIR_MTIME))
    subprocess.run([mksquashfs, src, out, "-noappend", "-no-progress", "-quiet", "-noI",
                    "-noD", "-noF", "-noX", "-all-root"], check=True,
                   stdout=subprocess.DEVNULL)


def once(data, pat, lo, hi):
    pos = data.find(pat, lo, hi)
    if pos < 0 or data.find(pat, pos + 1, hi) >= 0:
        cannot("marker %r not found exactly once" % pat)
    return pos


def patch(kind, data):
    (inodes_at, dirs_at) = struct.unpack_from("<QQ", data, 64)
    (xattr_ids_at,) = struct.unpack_from("<Q", data, 56)
    mt = struct.pack("<I", VICTIM_MTIME)
    if kind in ("longdirname", "longdirname64k"):
        # directory entry: offset(2) inode_number(2) type(2) size(2) name
        pos = once(data, b"victim_name_0123456789", dirs_at, len(data))
        size = 256 if kind == "longdirname" else 0xFFFF
        struct.pack_into("<H", data, pos - 2, size)
    elif kind == "longindexname":
        pos = once(data, struct.pack("<I", BIGDIR_MTIME), inodes_at, dirs_at)
        (itype,) = struct.unpack_from("<H", data, pos - 8)
        (icount,) = struct.unpack_from("<H", data, pos + 24)
        if itype != 8 or icount == 0:
            cannot("the big directory has no index (type %d, %d entries)" % (itype, icount))
        # extended dir inode: ... xattr(4) @+28, then index: index(4) start(4) size(4)
        struct.pack_into("<I", data, pos + 40, 0xFFFF)
    elif kind in ("uidindex", "gidindex"):
        pos = once(data, mt, inodes_at, dirs_at)
        struct.pack_into("<H", data, pos - (4 if kind == "uidindex" else 2), 0x7777)
    elif kind == "fragindex":
        pos = once(data, mt, inodes_at, dirs_at)
        (itype,) = struct.unpack_from("<H", data, pos - 8)
        if itype != 2:
            cannot("the victim is not a basic file inode (type %d)" % itype)
        struct.pack_into("<I", data, pos + 12, 0x7777)
    elif kind == "xattrindex":
        pos = once(data, mt, inodes_at, dirs_at)
        (itype,) = struct.unpack_from("<H", data, pos - 8)
        if itype != 9:
            cannot("the victim is not an extended file inode (type %d)" % itype)
        struct.pack_into("<I", data, pos + 44, 0x7777)
    elif kind == "longxattrname":
        if xattr_ids_at == 0xFFFFFFFFFFFFFFFF:
            cannot("mksquashfs stored no xattrs")
        (table_at,) = struct.unpack_from("<Q", data, xattr_ids_at)
        # entry: type(2) size(2) name (without the "user." prefix)
        pos = once(data, b"victimattr", table_at, xattr_ids_at)
        struct.pack_into("<H", data, pos - 2, 0xFFFF)
    elif kind == "xattrcount":
        if xattr_ids_at == 0xFFFFFFFFFFFFFFFF:
            cannot("mksquashfs stored no xattrs")
        (table_at, nids) = struct.unpack_from("<QI", data, xattr_ids_at)
        (block_at,) = struct.unpack_from("<Q", data, xattr_ids_at + 16)
        # the id block: a 2-byte metadata header, then {ref(8) count(4) size(4)}
        for i in range(nids):
            struct.pack_into("<I", data, block_at + 2 + 16 * i + 8, 0xFFFFFFFF)
    return data


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in KINDS:
        sys.exit(__doc__)
    kind, out, work = sys.argv[1:4]
    mksquashfs = sys.argv[4] if len(sys.argv) > 4 else "mksquashfs"
    build(kind, work, out, mksquashfs)
    with open(out, "rb") as f:
        data = bytearray(f.read())
    data = patch(kind, data)
    with open(out, "wb") as f:
        f.write(data)
    print("ok " + kind)


if __name__ == "__main__":
    main()
