/* SPDX-License-Identifier: MIT */
/*
 * The ELF extent rule of SPEC §4: where an image appended to an ELF file
 * (AppImage type 2, fuselage-bundle output) starts.  Every header value is
 * untrusted: bounds are checked against the file size before any read, sums
 * and products are overflow-checked, and memory use is a fixed few KiB
 * whatever the header counts say.
 */
#ifndef FL_ELF_H
#define FL_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fusefs/error.h"

/* Appended images start on this boundary. */
#define FL_ELF_ALIGN 4096

/* fl_elf_is_elf() - @head (@len bytes from offset 0) starts with "\177ELF". */
bool fl_elf_is_elf(const void *head, size_t len);

/*
 * fl_elf_extent() - the end of the on-disk extent of the ELF file in @fd,
 * which is @size bytes long: the largest of the end of the ELF header, of
 * the section header table (e_shoff + e_shnum * e_shentsize), of the program
 * header table (e_phoff + e_phnum * e_phentsize) and of every PT_LOAD segment
 * (p_offset + p_filesz).  32- and 64-bit, either byte order; extended
 * numbering (e_shnum 0, e_phnum PN_XNUM: the counts in section header 0) is
 * followed.  A table with no entries contributes nothing.
 *
 * Returns 0 and sets *@ret_end (never more than @size), -EINVAL with a
 * one-line reason in @err for a malformed or truncated file (bad class or
 * byte order, entry size smaller than the structure, a table or segment
 * past the end of the file, overflowing offsets), or -errno for read errors.
 */
int fl_elf_extent(int fd, uint64_t size, uint64_t *ret_end, struct fl_error *err);

/*
 * fl_elf_image_offset() - fl_elf_extent() rounded up to FL_ELF_ALIGN: where
 * an appended image must start.  Same returns; the offset may equal or
 * exceed @size (then there is no image), the caller checks the magic there.
 */
int fl_elf_image_offset(int fd, uint64_t size, uint64_t *ret_offset, struct fl_error *err);

#endif
