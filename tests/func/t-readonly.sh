#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §5 --static: every write fails with EROFS (zip and squashfs), with
# the shell tools (touch, mkdir, rm, chmod, truncate, mv, ln, >>) and with
# the system calls themselves; the archive file is never modified.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3

fx_small ro.zip
fx_small ro.sqfs
sum_before=$(cat ro.zip ro.sqfs | sha256sum)
for a in ro.zip ro.sqfs; do
	n=${a%.*}
	fl_run -s "$n:$a" sh -c 'cd "$FUSELAGE_STATIC/'"$n"'" || exit 1
try() { what=$1; shift; if "$@" 2>"$FUSELAGE_TMPDIR/err"; then echo "$what: SUCCEEDED"; else echo "$what: $(sed "s/.*: //" "$FUSELAGE_TMPDIR/err" | head -n 1)"; fi; }
try touch-new touch newfile
try touch-old touch hello.txt
try append sh -c "echo x >> hello.txt"
try overwrite sh -c "echo x > hello.txt"
try mkdir mkdir newdir
try rm rm -f hello.txt
try rmdir rmdir bin
try chmod chmod 0777 hello.txt
try truncate truncate -s 0 hello.txt
try mv mv hello.txt moved.txt
try mv-dir mv bin bin2
try symlink ln -s hello.txt sl
try hardlink ln hello.txt hl
try mkfifo mkfifo ff'
	assert_ok "$n: the write attempts ran"
	for op in touch-new touch-old append overwrite mkdir rm rmdir chmod truncate mv mv-dir symlink hardlink mkfifo; do
		assert_eq "$n: $op fails with EROFS" "Read-only file system" "$(sed -n "s/^$op: //p" <<<"$FL_OUT")"
	done
	fl_run -s "$n:$a" python3 -c '
import errno, os
d = os.environ["FUSELAGE_STATIC"] + "/'"$n"'"
f = d + "/hello.txt"
def t(name, fn):
    try:
        fn(); print(name, "SUCCEEDED")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
t("open-w", lambda: os.open(f, os.O_WRONLY))
t("open-rw", lambda: os.open(f, os.O_RDWR))
t("open-creat", lambda: os.open(d + "/new", os.O_WRONLY | os.O_CREAT, 0o644))
t("open-trunc", lambda: os.open(f, os.O_RDONLY | os.O_TRUNC))
t("utime", lambda: os.utime(f, (0, 0)))
t("chmod", lambda: os.chmod(f, 0o777))
t("chown", lambda: os.chown(f, os.getuid(), os.getgid()))
t("rename", lambda: os.rename(f, d + "/x"))
t("unlink", lambda: os.unlink(f))
t("mkdir", lambda: os.mkdir(d + "/nd"))
t("rmdir", lambda: os.rmdir(d + "/bin"))
t("truncate", lambda: os.truncate(f, 0))
t("setxattr", lambda: os.setxattr(f, "user.x", b"1"))
t("mknod", lambda: os.mknod(d + "/fifo", 0o10644))
t("link", lambda: os.link(f, d + "/hl"))
t("symlink", lambda: os.symlink("x", d + "/sl"))'
	for op in open-w open-rw open-creat open-trunc utime chmod chown rename unlink mkdir rmdir truncate setxattr mknod link symlink; do
		assert_eq "$n: $op(2) gives EROFS" "$op EROFS" "$(grep "^$op " <<<"$FL_OUT")"
	done
	fl_run -s "$n:$a" sh -c 'cat "$FUSELAGE_STATIC/'"$n"'/hello.txt"'
	assert_eq "$n: the content is unchanged afterwards" "hello" "$FL_OUT"
done
assert_eq "the archive files were never modified" "$sum_before" "$(cat ro.zip ro.sqfs | sha256sum)"

# The FUSE superblock is read-only too, not only the mount: the kernel then
# keeps the attributes it has after a read or readdir instead of marking
# atime stale and asking the server again at the next stat (src/ns.c).
fl_run -s ro.sqfs sh -c 'd=$FUSELAGE_STATIC/ro; awk -v d="$d" '"'"'$5 == d { print $6, $(NF) }'"'"' /proc/self/mountinfo'
assert_ok "mountinfo of the --static mount"
assert_match "mount and superblock are both read-only" "^ro,[^ ]* ro," "$FL_OUT"
