/* SPDX-License-Identifier: MIT */
/*
 * Supervision (SPEC §2.4, §2.5): the keeper process that starts the command,
 * reports its status at once and then stays, as child subreaper, until every
 * process the command left behind is gone; and the setup process's side,
 * which forwards signals to the command and turns its status into ours.
 */
#ifndef FL_SUPERVISE_H
#define FL_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

#include "fusefs/error.h"

struct fl_command {
	const char *path;   /* what to exec (searched in PATH when it has no '/') */
	char **argv;        /* NULL-terminated; argv[0] as the command sees it */
	char **env;         /* the command's environment */
	mode_t umask;       /* the caller's umask */
	/* Called once in the setup process when the command's status is known,
	 * before fl_supervise() returns or re-raises its signal; @leftovers
	 * says whether processes the command started still run (the keeper
	 * then stays for them).  May be NULL. */
	void (*at_status)(void *ctx, bool leftovers);
	void *at_status_ctx;
};

/*
 * fl_supervise() - fork the keeper (which holds @lifeline_wr, so the server
 * lives as long as it does), run @cmd under it, forward SIGTERM, SIGHUP,
 * SIGUSR1, SIGUSR2 (and SIGINT/SIGQUIT when sent with kill, not from the
 * terminal) to the command, and return when the command exits.  Returns the
 * exit status for fuselage, having re-raised a fatal signal if the command
 * died of one (then it does not return).
 */
int fl_supervise(const struct fl_command *cmd, int lifeline_wr);

#endif
