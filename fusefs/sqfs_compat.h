/* SPDX-License-Identifier: MIT */
/*
 * The one way into libsquashfuse's headers.  Its installed config.h clashes
 * with ours and its pkg-config --cflags put generic names (config.h, fs.h) on
 * the include path (squashfuse issue #65), so we define the guards it expects
 * and include the headers by their directory.  Only fusefs/sqfs_tree.c may
 * include this file.
 */
#ifndef FL_SQFS_COMPAT_H
#define FL_SQFS_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SQFS_CONFIG_H
#ifndef HAVE_LINUX_TYPES_LE16
#define HAVE_LINUX_TYPES_LE16 1
#endif

#include <squashfuse/squashfuse.h>

#endif
