#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""POSIX behaviour of a --dynamic archive (SPEC §5), shared by every backend.

  dynposix.py fixture DIR          write the archive's source tree into DIR
  dynposix.py check ROOT [--lower-dir-rename=must|may]
                         [--lower-link-ino=same|may-differ]
                                   run inside fuselage on ROOT, the served
                                   fixture; prints "ok   - ..." or
                                   "FAIL - ..." lines, one per check

--lower-dir-rename=may accepts EXDEV for renaming an archive directory (SPEC
§5 allows it where overlayfs cannot redirect: in a user namespace);
--lower-link-ino=may-differ accepts that a new hard link to an archive file
shows another inode number than the file itself (overlayfs in a user
namespace cannot keep an inode index: it needs CAP_DAC_READ_SEARCH to decode
file handles).  Content and link counts are checked either way.

The checks compare with values computed here, from the same description as
the fixture, never with what the filesystem said earlier.
"""
import errno
import mmap
import os
import stat
import sys

BIG_SIZE = 1 << 20


def big_data():
    # 1 MiB, every 4 KiB page different, deterministic
    return b"".join(("page %06d " % i).encode().ljust(4096, b".") for i in range(BIG_SIZE // 4096))


FILES = {
    "a.txt": (b"alpha\n", 0o644),
    "b.txt": (b"bravo\n", 0o644),
    "c.txt": (b"charlie\n", 0o644),
    "h.txt": (b"hotel\n", 0o644),
    "t.txt": (b"0123456789\n", 0o644),
    "ro.txt": (b"read only\n", 0o444),
    "run.sh": (b"#!/bin/sh\necho run\n", 0o755),
    "dir/x.txt": (b"xray\n", 0o644),
    "dir/sub/y.txt": (b"yankee\n", 0o644),
    "gone/1": (b"1\n", 0o644),
    "gone/2": (b"2\n", 0o644),
    "gone/deep/3": (b"3\n", 0o644),
    "list/k1": (b"k1\n", 0o644),
    "list/k2": (b"k2\n", 0o644),
    "list/k3": (b"k3\n", 0o644),
    "list/k4": (b"k4\n", 0o644),
    "big.bin": (None, 0o644),
}
LINKS = {"link": "a.txt"}
DIRS = ["empty"]


def fixture(d):
    for name, (data, mode) in FILES.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(big_data() if data is None else data)
        os.chmod(p, mode)
    for name, target in LINKS.items():
        os.symlink(target, os.path.join(d, name))
    for name in DIRS:
        os.makedirs(os.path.join(d, name), exist_ok=True)


class Checker:
    def __init__(self):
        self.fails = 0

    def ok(self, what):
        print("ok   - " + what, flush=True)

    def fail(self, what, *detail):
        self.fails += 1
        print("FAIL - " + what, flush=True)
        for line in detail:
            print("       " + str(line), flush=True)

    def eq(self, what, expected, actual):
        if expected == actual:
            self.ok(what)
        else:
            self.fail(what, "expected: %r" % (expected,), "actual:   %r" % (actual,))

    def run(self, what, fn):
        """Run fn(); an exception is a failure of that check."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any error is the finding
            self.fail(what, "raised %s: %s" % (type(e).__name__, e))


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(p, flags, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def errno_of(fn):
    try:
        fn()
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    return "no error"


def check(root, lower_dir_rename):
    c = Checker()
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    uid = os.getuid()

    # the archive as served, before anything changes
    c.eq("archive file content", b"alpha\n", read(j("a.txt")))
    c.eq("archive file owned by the caller", uid, os.stat(j("a.txt")).st_uid)
    c.eq("archive file mode", 0o444, stat.S_IMODE(os.stat(j("ro.txt")).st_mode))

    def create():
        fd = os.open(j("new.txt"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(fd, b"new file\n")
        os.close(fd)
        st = os.stat(j("new.txt"))
        c.eq("create: content", b"new file\n", read(j("new.txt")))
        c.eq("create: size, mode, owner", (9, 0o640 & ~UMASK, uid),
             (st.st_size, stat.S_IMODE(st.st_mode), st.st_uid))
        c.eq("create: O_EXCL on an existing name", "EEXIST",
             errno_of(lambda: os.open(j("a.txt"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)))
    c.run("create", create)

    def write_in_place():
        fd = os.open(j("b.txt"), os.O_RDWR)
        os.pwrite(fd, b"XY", 2)
        os.close(fd)
        c.eq("write into an archive file at an offset", b"brXYo\n", read(j("b.txt")))
    c.run("write into an archive file", write_in_place)

    def trunc_open():
        write(j("a.txt"), b"new")
        c.eq("O_TRUNC of an archive file", b"new", read(j("a.txt")))
        c.eq("O_TRUNC: the symlink to it follows", b"new", read(j("link")))
    c.run("O_TRUNC", trunc_open)

    def append():
        write(j("c.txt"), b"more\n", os.O_WRONLY | os.O_APPEND)
        write(j("c.txt"), b"again\n", os.O_WRONLY | os.O_APPEND)
        c.eq("O_APPEND to an archive file", b"charlie\nmore\nagain\n", read(j("c.txt")))
    c.run("O_APPEND", append)

    def mmap_write():
        expected = bytearray(big_data())
        fd = os.open(j("big.bin"), os.O_RDWR)
        m = mmap.mmap(fd, BIG_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m[4096:4101] = b"MMAP!"
        m[BIG_SIZE - 3:] = b"END"
        m.flush()  # msync(MS_SYNC)
        m.close()
        os.close(fd)
        expected[4096:4101] = b"MMAP!"
        expected[BIG_SIZE - 3:] = b"END"
        c.eq("MAP_SHARED write + msync, read back with read(2)", True, read(j("big.bin")) == bytes(expected))
        fd = os.open(j("big.bin"), os.O_RDONLY)
        m = mmap.mmap(fd, BIG_SIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        c.eq("MAP_SHARED write, seen by a new mapping", b"MMAP!", m[4096:4101])
        m.close()
        os.close(fd)
    c.run("mmap", mmap_write)

    def coherence():
        # a write-only descriptor's writes reach what other descriptors and
        # mappings of the file already hold (the FUSE fallback sends them
        # past the page cache)
        write(j("coh.bin"), b"A" * 8192)
        r = os.open(j("coh.bin"), os.O_RDONLY)
        rw = os.open(j("coh.bin"), os.O_RDWR)
        w = os.open(j("coh.bin"), os.O_WRONLY)
        try:
            os.pread(r, 8192, 0)
            m = mmap.mmap(rw, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            first = m[:4]
            os.pwrite(w, b"BBBB", 0)
            c.eq("a write-only write, seen by a reader's read(2) and a mapping", (b"AAAA", b"BBBB", b"BBBB"),
                 (first, os.pread(r, 4, 0), m[:4]))
            m[4096:4100] = b"CCCC"
            os.pwrite(w, b"DD", 4098)
            c.eq("a write-only write over dirty mapped pages", (b"CCDD", b"CCDD"),
                 (m[4096:4100], os.pread(r, 4, 4096)))
            m.close()
            write(j("coh.bin"), b"EE", os.O_WRONLY | os.O_APPEND)
            c.eq("O_APPEND write-only: size and tail seen by the reader", (8194, b"AAEE"),
                 (os.fstat(r).st_size, os.pread(r, 4, 8190)))
        finally:
            for fd in (r, rw, w):
                os.close(fd)
        os.unlink(j("coh.bin"))
    c.run("coherence of write-only writes", coherence)

    def truncate():
        os.truncate(j("t.txt"), 4)
        c.eq("truncate an archive file shorter", b"0123", read(j("t.txt")))
        os.truncate(j("t.txt"), 8)
        c.eq("truncate longer: zeros", b"0123\0\0\0\0", read(j("t.txt")))
        fd = os.open(j("t.txt"), os.O_RDWR)
        os.ftruncate(fd, 2)
        os.close(fd)
        c.eq("ftruncate", b"01", read(j("t.txt")))
    c.run("truncate", truncate)

    def rename_over():
        os.rename(j("new.txt"), j("b.txt"))
        c.eq("rename a new file over an archive file: content", b"new file\n", read(j("b.txt")))
        c.eq("rename: the old name is gone", False, os.path.lexists(j("new.txt")))
        os.rename(j("h.txt"), j("c.txt"))
        c.eq("rename an archive file over another", b"hotel\n", read(j("c.txt")))
        c.eq("rename: the archive file's old name is gone", "ENOENT", errno_of(lambda: os.stat(j("h.txt"))))
    c.run("rename over", rename_over)

    def rename_dirs():
        os.mkdir(j("newdir"))
        write(j("newdir", "f"), b"f\n")
        os.rename(j("newdir"), j("newdir2"))
        c.eq("rename a new directory", b"f\n", read(j("newdir2", "f")))
        try:
            os.rename(j("dir"), j("dir_moved"))
        except OSError as e:
            if e.errno == errno.EXDEV and lower_dir_rename == "may":
                c.ok("rename of an archive directory: EXDEV (allowed here, SPEC §5)")
                return
            c.fail("rename of an archive directory", "raised %s" % e)
            return
        c.eq("rename of an archive directory: content follows", (b"xray\n", b"yankee\n"),
             (read(j("dir_moved", "x.txt")), read(j("dir_moved", "sub", "y.txt"))))
        c.eq("rename of an archive directory: old name gone", False, os.path.lexists(j("dir")))
        os.rename(j("dir_moved"), j("dir"))
        c.eq("rename it back", b"yankee\n", read(j("dir", "sub", "y.txt")))
    c.run("rename of directories", rename_dirs)

    def unlink_recreate():
        os.unlink(j("run.sh"))
        c.eq("unlink an archive file: gone", "ENOENT", errno_of(lambda: os.stat(j("run.sh"))))
        write(j("run.sh"), b"recreated\n", mode=0o600)
        c.eq("re-create it: new content", b"recreated\n", read(j("run.sh")))
        c.eq("re-create it: new mode", 0o600 & ~UMASK, stat.S_IMODE(os.stat(j("run.sh")).st_mode))
    c.run("unlink and re-create", unlink_recreate)

    def rmdir_archive():
        c.eq("rmdir of a non-empty archive directory", "ENOTEMPTY",
             errno_of(lambda: os.rmdir(j("gone"))))
        for p in ("gone/1", "gone/2", "gone/deep/3"):
            os.unlink(j(p))
        os.rmdir(j("gone", "deep"))
        os.rmdir(j("gone"))
        os.rmdir(j("empty"))
        c.eq("rmdir of emptied archive directories", (False, False),
             (os.path.lexists(j("gone")), os.path.lexists(j("empty"))))
        os.mkdir(j("gone"))
        c.eq("mkdir again where an archive directory was: empty", [], os.listdir(j("gone")))
    c.run("rmdir of archive directories", rmdir_archive)

    def readdir():
        os.unlink(j("list", "k2"))
        os.rename(j("list", "k3"), j("list", "k9"))
        write(j("list", "k5"), b"k5\n")
        expected = ["k1", "k4", "k5", "k9"]
        c.eq("readdir after delete, rename, create", expected, sorted(os.listdir(j("list"))))
        with os.scandir(j("list")) as it:
            seen = sorted((e.name, e.is_file()) for e in it)
        c.eq("readdir entries all stat as files", [(n, True) for n in expected], seen)
        c.eq("readdir: no . or .., no duplicates, twice the same", expected, sorted(set(os.listdir(j("list")))))
        top = sorted(os.listdir(root))
        c.eq("readdir of the root", sorted(["a.txt", "b.txt", "big.bin", "c.txt", "dir", "gone", "link", "list",
                                           "newdir2", "ro.txt", "run.sh", "t.txt"]), [n for n in top if n not in EXTRA])
    c.run("readdir", readdir)

    def symlinks():
        c.eq("an archive symlink", "a.txt", os.readlink(j("link")))
        os.symlink("dir/x.txt", j("sym"))
        c.eq("symlink: target", "dir/x.txt", os.readlink(j("sym")))
        c.eq("symlink: followed", b"xray\n", read(j("sym")))
        os.unlink(j("link"))
        os.symlink("c.txt", j("link"))
        c.eq("replace an archive symlink", "c.txt", os.readlink(j("link")))
        EXTRA.append("sym")
    c.run("symlink", symlinks)

    def hardlinks():
        write(j("hl1"), b"hard\n")
        os.link(j("hl1"), j("hl2"))
        a, b = os.stat(j("hl1")), os.stat(j("hl2"))
        c.eq("hard link of a new file: same inode, 2 links", (a.st_ino, 2), (b.st_ino, b.st_nlink))
        os.link(j("dir", "x.txt"), j("xl"))
        write(j("xl"), b"via link\n", os.O_WRONLY | os.O_APPEND)
        a, b = os.stat(j("dir", "x.txt")), os.stat(j("xl"))
        c.eq("hard link to an archive file: both names show the write", (b"xray\nvia link\n",) * 2,
             (read(j("dir", "x.txt")), read(j("xl"))))
        if LOWER_LINK_INO == "may-differ":
            c.eq("hard link to an archive file: 2 links (inode numbers may differ here)", (2, 2),
                 (a.st_nlink, b.st_nlink))
        else:
            c.eq("hard link to an archive file: same inode, 2 links", (a.st_ino, 2, 2),
                 (b.st_ino, a.st_nlink, b.st_nlink))
        EXTRA.extend(["hl1", "hl2", "xl"])
    c.run("hard link", hardlinks)

    def chmod():
        os.chmod(j("ro.txt"), 0o600)
        c.eq("chmod an archive file", 0o600, stat.S_IMODE(os.stat(j("ro.txt")).st_mode))
        c.eq("chmod: content kept", b"read only\n", read(j("ro.txt")))
        os.chmod(j("dir"), 0o750)
        c.eq("chmod an archive directory", 0o750, stat.S_IMODE(os.stat(j("dir")).st_mode))
        c.eq("chmod: the directory's content kept", b"yankee\n", read(j("dir", "sub", "y.txt")))
    c.run("chmod", chmod)

    def utimens():
        os.utime(j("t.txt"), ns=(1000000000123456789, 1323785716987654321))
        st = os.stat(j("t.txt"))
        c.eq("utimens on an archive file (ns)", (1000000000123456789, 1323785716987654321),
             (st.st_atime_ns, st.st_mtime_ns))
        os.utime(j("dir", "sub"), ns=(5, 1700000000000000000))
        c.eq("utimens on an archive directory", 1700000000000000000, os.stat(j("dir", "sub")).st_mtime_ns)
    c.run("utimens", utimens)

    def fifo():
        os.mkfifo(j("fifo"), 0o600)
        c.eq("mkfifo: a fifo", True, stat.S_ISFIFO(os.stat(j("fifo")).st_mode))
        fd = os.open(j("fifo"), os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"through the fifo")
        c.eq("mkfifo: data passes", b"through the fifo", os.read(fd, 100))
        os.close(fd)
        EXTRA.append("fifo")
    c.run("mkfifo", fifo)

    def statfs():
        s = os.statvfs(root)
        c.eq("statfs: sizes and name length", (True, True, True),
             (s.f_bsize > 0, s.f_blocks > 0, s.f_namemax >= 255))
        before = os.statvfs(root).f_bfree
        write(j("fill"), b"z" * (4 << 20))
        os.fsync(os.open(j("fill"), os.O_RDONLY))
        after = os.statvfs(root).f_bfree
        c.eq("statfs: free space goes down by what was written", True,
             (before - after) * s.f_frsize >= (4 << 20))
        os.unlink(j("fill"))
    c.run("statfs", statfs)

    def fsync():
        fd = os.open(j("c.txt"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"synced\n")
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        c.eq("fsync, fdatasync, directory fsync", b"hotel\nsynced\n", read(j("c.txt")))
    c.run("fsync", fsync)

    if uid != 0:
        def perms():
            os.chmod(j("dir", "x.txt"), 0o444)
            c.eq("a 0444 file is not writable by its owner", "EACCES",
                 errno_of(lambda: os.open(j("dir", "x.txt"), os.O_WRONLY)))
        c.run("permissions", perms)
    return c.fails


EXTRA = []
LOWER_LINK_INO = "same"
UMASK = os.umask(0)
os.umask(UMASK)

if __name__ == "__main__":
    if sys.argv[1] == "fixture":
        fixture(sys.argv[2])
    elif sys.argv[1] == "check":
        mode = "must"
        for a in sys.argv[3:]:
            if a.startswith("--lower-dir-rename="):
                mode = a.split("=", 1)[1]
            elif a.startswith("--lower-link-ino="):
                LOWER_LINK_INO = a.split("=", 1)[1]
            else:
                sys.exit("dynposix.py: unknown option " + a)
        sys.exit(1 if check(sys.argv[2], mode) else 0)
