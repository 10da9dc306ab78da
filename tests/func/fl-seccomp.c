/* SPDX-License-Identifier: MIT */
/*
 * Test helper for SPEC §8: run a program under a seccomp filter that takes a
 * capability away for real, the way container runtimes and security
 * policies do.  Raw BPF through prctl(), no library.
 *
 *   fl-seccomp unshare PROGRAM [ARG...]  unshare()/clone() with any namespace
 *                                        flag fail with EPERM (clone3: ENOSYS,
 *                                        so that callers fall back to clone)
 *   fl-seccomp mount PROGRAM [ARG...]    namespaces allowed, every mount call
 *                                        fails with EPERM (what Ubuntu's
 *                                        AppArmor userns policy amounts to)
 *
 * Sets no_new_privs (needed without CAP_SYS_ADMIN), so a setuid binary run
 * under it does not gain root.  Exit 77 on an architecture it does not know.
 * Test code only: never installed.
 */
#include <config.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

#define NS_FLAGS                                                                            \
	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |          \
	 CLONE_NEWIPC | CLONE_NEWCGROUP)
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ERRNO(e) RET(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
/* Low 32 bits of argument 0 (little-endian); every CLONE_NEW* flag is there. */
#define LOAD_ARG0 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))

static int usage(void)
{
	fprintf(stderr, "usage: fl-seccomp unshare|mount PROGRAM [ARG...]\n");
	return 2;
}

#ifdef ARCH
static int install(const struct sock_filter *f, size_t n)
{
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = (struct sock_filter *)f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "fl-seccomp: cannot install the filter: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int no_namespaces(void)
{
	static const struct sock_filter f[] = {
		LOAD(arch),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LOAD(nr),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
		ERRNO(ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
		LOAD_ARG0,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1),
		ERRNO(EPERM),
		RET(SECCOMP_RET_ALLOW),
	};

	return install(f, sizeof(f) / sizeof(f[0]));
}

static int no_mounts(void)
{
	static const struct sock_filter f[] = {
		LOAD(arch),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LOAD(nr),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mount, 8, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_umount2, 7, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fsopen, 6, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fsmount, 5, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fsconfig, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_move_mount, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open_tree, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mount_setattr, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		ERRNO(EPERM),
	};

	return install(f, sizeof(f) / sizeof(f[0]));
}
#endif

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
#ifndef ARCH
	fprintf(stderr, "fl-seccomp: unknown architecture\n");
	return 77;
#else
	if (strcmp(argv[1], "unshare") == 0) {
		if (no_namespaces() < 0)
			return 99;
	} else if (strcmp(argv[1], "mount") == 0) {
		if (no_mounts() < 0)
			return 99;
	} else {
		return usage();
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "fl-seccomp: %s: %s\n", argv[2], strerror(errno));
	return 127;
#endif
}
