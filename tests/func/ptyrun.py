#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive fuselage from a real terminal (a pseudo-terminal), for SPEC §2.4.

  ptyrun.py ctrl-c FUSELAGE   run "FUSELAGE sh -c ..." as the terminal's foreground
                              job, type Ctrl-C; print "status=signal:N" / "status=exit:N"
  ptyrun.py jobctl FUSELAGE   in an interactive bash: start fuselage, type Ctrl-Z,
                              check it is stopped, "fg", wait for it; print what happened
Every wait is bounded; a timeout prints "timeout: <what>" and exits 3.
"""
import os
import pty
import select
import signal
import sys
import time

buf = b""


def read_until(fd, token, secs):
    global buf
    end = time.time() + secs
    while token not in buf:
        left = end - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return token in buf
            if not data:
                return token in buf
            buf += data
    return True


def fail(what, pid):
    print("timeout: %s" % what)
    print("terminal output: %r" % buf[-2000:])
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    sys.exit(3)


def ctrl_c(fl):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(fl, [fl, "sh", "-c", "echo READY; sleep 60; echo NOT-INTERRUPTED"])
    if not read_until(fd, b"READY", 20):
        fail("the command did not start", pid)
    time.sleep(0.3)
    os.write(fd, b"\x03")
    t0 = time.time()
    while True:
        w, st = os.waitpid(pid, os.WNOHANG)
        if w:
            break
        if time.time() - t0 > 20:
            fail("fuselage did not end after Ctrl-C", pid)
        read_until(fd, b"\x00never", 0.1)
    if os.WIFSIGNALED(st):
        print("status=signal:%d" % os.WTERMSIG(st))
    else:
        print("status=exit:%d" % os.WEXITSTATUS(st))
    print("interrupted=%s" % ("no" if b"NOT-INTERRUPTED" in buf else "yes"))


def jobctl(fl):
    global buf
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, PS1="PROMPT$ ", FL_BIN=fl)
        os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
    if not read_until(fd, b"PROMPT$ ", 20):
        fail("no prompt", pid)
    os.write(fd, b'"$FL_BIN" sh -c \'echo ST""ART; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; echo FINI""SHED\'\n')
    if not read_until(fd, b"START", 20):
        fail("fuselage did not start the command", pid)
    os.write(fd, b"\x1a")
    if not read_until(fd, b"Stopped", 10):
        fail("Ctrl-Z did not stop the job", pid)
    print("stopped=yes")
    # while stopped nothing runs: 4 s is longer than the command's 3 s
    buf = b""
    time.sleep(4)
    read_until(fd, b"\x00never", 0.2)
    print("ran-while-stopped=%s" % ("yes" if b"FINISHED" in buf else "no"))
    os.write(fd, b"fg\n")
    if not read_until(fd, b"FINISHED", 20):
        fail("fg did not resume the job", pid)
    print("resumed=yes")
    os.write(fd, b"echo R\"\"C=$?\n")
    if not read_until(fd, b"RC=", 10):
        fail("no status", pid)
    read_until(fd, b"\n", 2)
    rc = buf[buf.index(b"RC="):].split()[0].decode()
    print("fg-status=%s" % rc[3:])
    os.write(fd, b"exit\n")
    t0 = time.time()
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.time() - t0 > 10:
            fail("bash did not exit", pid)
        read_until(fd, b"\x00never", 0.1)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    {"ctrl-c": ctrl_c, "jobctl": jobctl}[sys.argv[1]](sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
