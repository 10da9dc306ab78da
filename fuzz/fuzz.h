/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets (fuzz/fuzz_*.c): the libFuzzer entry point they
 * each define, the input as a memory file, and a bounded walk of an archive
 * tree that checks the tree.h contract as it goes.  A broken contract is a
 * finding: FL_FUZZ_CHECK prints where and aborts, which libFuzzer (or the
 * replay driver, fuzz/replay.c) reports as a crash.
 */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "fusefs/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort, naming the file and line, when @cond is false. */
#define FL_FUZZ_CHECK(cond) ((cond) ? (void)0 : fl_fuzz_fail(__FILE__, __LINE__, #cond))

void fl_fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* A sealed memory file holding @data; -1 if one cannot be made (then the
 * input is skipped, never reported). */
int fl_fuzz_memfd(const uint8_t *data, size_t size);

/* Bounds of one walk, small enough that a valid but huge archive (a zip
 * bomb, a directory loop) costs milliseconds, not a timeout. */
#define FL_FUZZ_MAX_NODES 512
#define FL_FUZZ_MAX_DEPTH 24
#define FL_FUZZ_MAX_READ  ((uint64_t)1 << 20)	/* bytes read over the whole walk */
#define FL_FUZZ_FILE_READ ((uint64_t)256 << 10) /* per file, from its start */
#define FL_FUZZ_FAR_FILES 2			/* files read again near their end and middle */

/*
 * fl_fuzz_walk() - visit @t from the root: readdir every directory in small
 * batches (resuming by cookie), look every name up again, getattr, readlink,
 * list and get every xattr, open and read every regular file in odd-sized
 * chunks plus reads at and past its end, statfs.  Every result is checked
 * against tree.h's contract.
 */
void fl_fuzz_walk(struct fl_tree *t);

#endif
