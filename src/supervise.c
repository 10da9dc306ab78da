/* SPDX-License-Identifier: MIT */
/*
 * Supervision (see supervise.h).  Process tree:
 *
 *   fuselage (setup) ── keeper ── command ── (whatever it starts)
 *
 * The keeper ignores terminal and termination signals (they are the
 * command's business), has no stdio once the command runs, and exits only
 * when it has no children left; the server watches the lifeline the keeper
 * holds.  The setup process returns as soon as the command's status arrives.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/supervise.h"
#include "src/util.h"

enum msg_type {
	MSG_PID = 1,     /* value: the command's pid */
	MSG_EXEC_ERROR,  /* err: why exec failed (the status follows) */
	MSG_STATUS,      /* value: wait status of the command; more: others still run */
};

struct msg {
	int type;
	int value;
	int more;
	struct fl_error err;
};

static const int forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* Signal state of the setup process; a handler can only reach globals. */
static volatile sig_atomic_t command_pid;
static volatile sig_atomic_t pending[NFORWARDED];
/* Signals the caller had ignored (nohup...): they stay ignored for the
 * command, as they would without fuselage. */
static sigset_t ignored_at_start;

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* Terminal-generated SIGINT/SIGQUIT already reached the command through
	 * its process group; forward only those sent with kill(). */
	if ((sig == SIGINT || sig == SIGQUIT) && si->si_code > 0)
		return;
	for (size_t i = 0; i < NFORWARDED; i++) {
		if (forwarded[i] != sig)
			continue;
		if (command_pid > 0)
			kill((pid_t)command_pid, sig);
		else
			pending[i] = 1;
	}
}

static void send_msg(int fd, int type, int value, const struct fl_error *err)
{
	struct msg m = { .type = type, .value = value };

	if (err)
		m.err = *err;
	fl_write_all(fd, &m, sizeof(m));
}

static void reset_signals(const sigset_t *mask)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };

	for (int s = 1; s < NSIG; s++)
		sigaction(s, sigismember(&ignored_at_start, s) == 1 ? &ign : &dfl, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
}

/*
 * The command's process runs on a stack of its own inside our memory
 * (spawn_command): AddressSanitizer does not know that stack and warns, on
 * the command's stderr, at every call that does not return.  Nothing in the
 * two functions that run there is worth its checks.
 */
#define NOT_FOR_ASAN __attribute__((no_sanitize("address")))

/* In the command's process: exec, or report why not and exit 126/127. */
static NOT_FOR_ASAN void exec_command(const struct fl_command *cmd, int msg_fd, const sigset_t *mask)
{
	struct fl_error err = { 0 };
	int e;

	reset_signals(mask);
	umask(cmd->umask);
	if (strchr(cmd->path, '/')) {
		execve(cmd->path, cmd->argv, cmd->env);
	} else {
		/* execvpe searches the PATH of the current environment. */
		environ = cmd->env;
		execvp(cmd->path, cmd->argv);
	}
	e = errno;
	if (e == ENOENT)
		fl_error_set(&err, e, "%s: command not found", cmd->path);
	else
		fl_error_set(&err, e, "%s: cannot execute: %s", cmd->path, strerror(e));
	send_msg(msg_fd, MSG_EXEC_ERROR, 0, &err);
	_exit(e == ENOENT ? 127 : 126);
}

struct spawn_args {
	const struct fl_command *cmd;
	int msg_fd;
	const sigset_t *mask;
};

static NOT_FOR_ASAN int spawned_main(void *arg)
{
	const struct spawn_args *a = arg;

	exec_command(a->cmd, a->msg_fd, a->mask);
	return 127; /* not reached: exec_command execs or exits */
}

/*
 * Start the command as posix_spawn() does: a child that shares our memory,
 * on a stack of its own, while we wait (CLONE_VFORK) until it has exec'd or
 * exited.  fork() would copy the page tables of a process with fuselage's
 * libraries mapped and then fault on every page either side writes, only
 * for the child to exec at once: about 0.4 ms of every run (doc/decisions.md,
 * "Start-up cost").  The child runs exec_command() unchanged (execvp's PATH
 * search and its /bin/sh fallback included); what it writes of ours is its
 * stack, errno and environ, none of which we use again.  All signals are
 * blocked in here (fl_supervise), so no handler of ours can run in it before
 * it has reset them.
 */
static pid_t spawn_command(const struct fl_command *cmd, int msg_fd, const sigset_t *mask)
{
	/* execvp's PATH search keeps a path-sized buffer on the stack. */
	const size_t size = (size_t)4 << 20;
	struct spawn_args a = { .cmd = cmd, .msg_fd = msg_fd, .mask = mask };
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	pid_t pid;
	int e;

	if (stack == MAP_FAILED)
		return -errno;
	pid = clone(spawned_main, (char *)stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
	e = errno;
	munmap(stack, size);
	return pid < 0 ? -e : pid;
}

static void keeper_main(const struct fl_command *cmd, int msg_fd, const sigset_t *mask)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	static const int ignored[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU,
				       SIGHUP, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE };
	pid_t pid, w;
	int st;

	/* Orphans of the command are re-parented to us, so we see when the
	 * last process that might use the archives is gone. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid = spawn_command(cmd, msg_fd, mask);
	if (pid < 0) {
		struct fl_error err;

		fl_error_set(&err, (int)-pid, "cannot start a process: %s", strerror((int)-pid));
		send_msg(msg_fd, MSG_EXEC_ERROR, 0, &err);
		send_msg(msg_fd, MSG_STATUS, 125 << 8, NULL);
		_exit(0);
	}
	send_msg(msg_fd, MSG_PID, pid, NULL);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &ign, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	fl_detach_stdio();
	for (;;) {
		w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w == pid) {
			/* Orphans of the command were re-parented to us before its
			 * death was reported, so this sees every one of them. */
			siginfo_t si;
			struct msg m = { .type = MSG_STATUS, .value = st };

			m.more = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
			fl_write_all(msg_fd, &m, sizeof(m));
			close(msg_fd);
		}
	}
	_exit(0);
}

/* Die the way the command died, without a core file of our own. */
static int die_like(int sig)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	struct rlimit no_core = { 0, 0 };
	sigset_t s;

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0);
	sigaction(sig, &sa, NULL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	return 128 + sig;
}

static void install_forwarding(void)
{
	struct sigaction sa = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART };

	struct sigaction cur;

	sigemptyset(&ignored_at_start);
	for (int s = 1; s < NSIG; s++)
		if (sigaction(s, NULL, &cur) == 0 && cur.sa_handler == SIG_IGN)
			sigaddset(&ignored_at_start, s);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFORWARDED; i++)
		if (sigismember(&ignored_at_start, forwarded[i]) != 1)
			sigaction(forwarded[i], &sa, NULL);
}

static void flush_pending(void)
{
	for (size_t i = 0; i < NFORWARDED; i++) {
		if (pending[i] && command_pid > 0) {
			pending[i] = 0;
			kill((pid_t)command_pid, forwarded[i]);
		}
	}
}

int fl_supervise(const struct fl_command *cmd, int lifeline_wr)
{
	sigset_t all, old;
	struct msg m;
	int pfd[2];
	pid_t keeper;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "fuselage: pipe: %s\n", strerror(errno));
		return 125;
	}
	install_forwarding();
	/* Block everything across fork so the keeper and the command start
	 * with our handlers out of reach; each child resets them first. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	keeper = fork();
	if (keeper == 0) {
		close(pfd[0]);
		keeper_main(cmd, pfd[1], &old);
	}
	close(pfd[1]);
	close(lifeline_wr);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (keeper < 0) {
		fprintf(stderr, "fuselage: fork: %s\n", strerror(errno));
		return 125;
	}
	for (;;) {
		int r = fl_read_all(pfd[0], &m, sizeof(m));

		if (r == -EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "fuselage: lost the command's supervisor\n");
			return 125;
		}
		if (m.type == MSG_PID) {
			command_pid = m.value;
			flush_pending();
		} else if (m.type == MSG_EXEC_ERROR) {
			fprintf(stderr, "fuselage: %s\n", m.err.msg);
		} else if (m.type == MSG_STATUS) {
			break;
		}
	}
	if (cmd->at_status)
		cmd->at_status(cmd->at_status_ctx, m.more != 0);
	if (WIFEXITED(m.value))
		return WEXITSTATUS(m.value);
	if (WIFSIGNALED(m.value))
		return die_like(WTERMSIG(m.value));
	return 125;
}
