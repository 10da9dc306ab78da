#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print one line per entry of a tree, for comparing a source tree with what a
fuselage mount shows: path, type, permission bits, size, mtime, link target and
the SHA-256 of regular files.

usage: manifest.py DIR [--no-mtime] [--no-perms] [--dir-mtime] [--no-special]
"""
import hashlib
import os
import stat
import sys


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.fsencode(args[0])
    opts = set(args[1:])
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root).decode("utf-8", "surrogateescape")
            st = os.lstat(p)
            perms = "----" if "--no-perms" in opts else "%04o" % stat.S_IMODE(st.st_mode)
            mtime = "-" if "--no-mtime" in opts else str(int(st.st_mtime))
            if stat.S_ISDIR(st.st_mode):
                dm = str(int(st.st_mtime)) if "--dir-mtime" in opts else "-"
                out.append((rel, "d %s %s %s" % (perms, dm, rel)))
            elif stat.S_ISLNK(st.st_mode):
                out.append((rel, "l %s -> %s" % (rel, os.readlink(p).decode("utf-8", "surrogateescape"))))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out.append((rel, "f %s %d %s %s %s" % (perms, st.st_size, mtime, h.hexdigest()[:16], rel)))
            elif "--no-special" not in opts:
                kind = "p" if stat.S_ISFIFO(st.st_mode) else "c" if stat.S_ISCHR(st.st_mode) else \
                    "b" if stat.S_ISBLK(st.st_mode) else "s" if stat.S_ISSOCK(st.st_mode) else "?"
                out.append((rel, "%s %s %s" % (kind, perms, rel)))
    for _, line in sorted(out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
