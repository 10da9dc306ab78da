/* SPDX-License-Identifier: MIT */
/*
 * The ELF extent rule (see elf.h).  Field offsets are those of the System V
 * gABI (https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html);
 * values are decoded byte by byte in the file's own byte order, so a
 * big-endian ELF on a little-endian host needs no special path.  Nothing is
 * read outside [0, size) and nothing is allocated.
 */
#include <config.h>

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "fusefs/elf.h"

/* Sizes of the structures we read (Elf32_/Elf64_ Ehdr, Phdr, Shdr). */
#define EHDR32 52
#define EHDR64 64
#define PHDR32 32
#define PHDR64 56
#define SHDR32 40
#define SHDR64 64

struct elf {
	int fd;
	uint64_t size;
	bool is64, big;
	uint64_t phoff, shoff;
	uint64_t phnum, shnum;
	uint64_t phentsize, shentsize;
};

bool fl_elf_is_elf(const void *head, size_t len)
{
	return len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
}

static uint64_t get(const struct elf *e, const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[e->big ? i : n - 1 - i] << (8 * (n - 1 - i));
	return v;
}

/* A field that is 4 bytes in 32-bit files and 8 in 64-bit ones. */
static uint64_t word(const struct elf *e, const unsigned char *p, size_t off32, size_t off64)
{
	return e->is64 ? get(e, p + off64, 8) : get(e, p + off32, 4);
}

/* Read exactly @len bytes at @off; the caller has checked [off, off+len)
 * against the size, so a short read means the file shrank under us. */
static int read_exact(const struct elf *e, void *buf, size_t len, uint64_t off,
		      struct fl_error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(e->fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fl_error_set(err, errno, "cannot read the ELF headers: %s",
					    strerror(errno));
		if (n == 0)
			return fl_error_set(err, EIO, "the ELF file shrank while being read");
		got += (size_t)n;
	}
	return 0;
}

/*
 * End of a table of @num entries of @entsize bytes at @off, checked: no
 * overflow, entries at least @minsize bytes, inside the file.
 */
static int table_end(const struct elf *e, const char *what, uint64_t off, uint64_t num,
		     uint64_t entsize, uint64_t minsize, uint64_t *ret_end, struct fl_error *err)
{
	uint64_t len, end;

	if (num == 0) {
		*ret_end = 0;
		return 0;
	}
	if (entsize < minsize)
		return fl_error_set(err, EINVAL,
				    "ELF %s entry size %" PRIu64 " is smaller than the %" PRIu64
				    "-byte structure",
				    what, entsize, minsize);
	if (__builtin_mul_overflow(num, entsize, &len) || __builtin_add_overflow(off, len, &end) ||
	    end > e->size)
		return fl_error_set(err, EINVAL,
				    "ELF %s (%" PRIu64 " entries at offset %" PRIu64
				    ") extends past the end of the file (%" PRIu64 " bytes)",
				    what, num, off, e->size);
	*ret_end = end;
	return 0;
}

static int parse_header(struct elf *e, struct fl_error *err)
{
	unsigned char h[EHDR64];
	size_t hsize;
	int r;

	if (e->size < EI_NIDENT)
		return fl_error_set(err, EINVAL, "truncated ELF header");
	r = read_exact(e, h, EI_NIDENT, 0, err);
	if (r < 0)
		return r;
	if (h[EI_CLASS] != ELFCLASS32 && h[EI_CLASS] != ELFCLASS64)
		return fl_error_set(err, EINVAL, "ELF file of unknown class %u", h[EI_CLASS]);
	if (h[EI_DATA] != ELFDATA2LSB && h[EI_DATA] != ELFDATA2MSB)
		return fl_error_set(err, EINVAL, "ELF file of unknown byte order %u", h[EI_DATA]);
	e->is64 = h[EI_CLASS] == ELFCLASS64;
	e->big = h[EI_DATA] == ELFDATA2MSB;
	hsize = e->is64 ? EHDR64 : EHDR32;
	if (e->size < hsize)
		return fl_error_set(err, EINVAL, "truncated ELF header");
	r = read_exact(e, h, hsize, 0, err);
	if (r < 0)
		return r;
	e->phoff = word(e, h, 28, 32);
	e->shoff = word(e, h, 32, 40);
	e->phentsize = get(e, h + (e->is64 ? 54 : 42), 2);
	e->phnum = get(e, h + (e->is64 ? 56 : 44), 2);
	e->shentsize = get(e, h + (e->is64 ? 58 : 46), 2);
	e->shnum = get(e, h + (e->is64 ? 60 : 48), 2);
	return 0;
}

/*
 * Extended numbering (gABI "Sections"): with more than 0xfeff sections
 * e_shnum is 0 and the count is section header 0's sh_size; with 0xffff or
 * more program headers e_phnum is PN_XNUM and the count is its sh_info.
 */
static int extended_counts(struct elf *e, struct fl_error *err)
{
	unsigned char s[SHDR64];
	uint64_t minsize = e->is64 ? SHDR64 : SHDR32, end;
	bool xsh = e->shnum == 0 && e->shoff != 0, xph = e->phnum == PN_XNUM;
	int r;

	if (!xsh && !xph)
		return 0;
	if (e->shoff == 0)
		return fl_error_set(err, EINVAL,
				    "ELF file with extended program header numbering but no "
				    "section header table");
	r = table_end(e, "section header table", e->shoff, 1, e->shentsize, minsize, &end, err);
	if (r < 0)
		return r;
	r = read_exact(e, s, (size_t)minsize, e->shoff, err);
	if (r < 0)
		return r;
	if (xsh)
		e->shnum = word(e, s, 20, 32);
	if (xph)
		e->phnum = get(e, s + (e->is64 ? 44 : 28), 4);
	return 0;
}

/*
 * The largest end of a PT_LOAD segment.  The table has been bounds-checked;
 * it is read in chunks of a fixed buffer, whatever e_phnum says.
 */
static int load_end(const struct elf *e, uint64_t *ret_end, struct fl_error *err)
{
	unsigned char buf[4096];
	size_t esz = e->is64 ? PHDR64 : PHDR32;
	uint64_t per, best = 0;

	if (e->phnum == 0) {
		*ret_end = 0; /* and e_phentsize is unchecked, maybe 0 */
		return 0;
	}
	per = e->phentsize <= sizeof(buf) ? sizeof(buf) / e->phentsize : 1;

	for (uint64_t i = 0; i < e->phnum;) {
		uint64_t n = e->phnum - i < per ? e->phnum - i : per;
		size_t len = (size_t)((n - 1) * e->phentsize) + esz;
		int r = read_exact(e, buf, len, e->phoff + i * e->phentsize, err);

		if (r < 0)
			return r;
		for (uint64_t k = 0; k < n; k++, i++) {
			const unsigned char *p = buf + k * e->phentsize;
			uint64_t off, filesz, end;

			if (get(e, p, 4) != PT_LOAD)
				continue;
			off = word(e, p, 4, 8);
			filesz = word(e, p, 16, 32);
			if (__builtin_add_overflow(off, filesz, &end) || end > e->size)
				return fl_error_set(
				    err, EINVAL,
				    "ELF segment %" PRIu64 " (%" PRIu64 " bytes at offset %" PRIu64
				    ") extends past the end of the file (%" PRIu64 " bytes)",
				    i, filesz, off, e->size);
			if (end > best)
				best = end;
		}
	}
	*ret_end = best;
	return 0;
}

int fl_elf_extent(int fd, uint64_t size, uint64_t *ret_end, struct fl_error *err)
{
	struct elf e = { .fd = fd, .size = size };
	uint64_t end, sh_end, ph_end, ld_end;
	int r;

	r = parse_header(&e, err);
	if (r < 0)
		return r;
	r = extended_counts(&e, err);
	if (r < 0)
		return r;
	r = table_end(&e, "section header table", e.shoff, e.shnum, e.shentsize,
		      e.is64 ? SHDR64 : SHDR32, &sh_end, err);
	if (r < 0)
		return r;
	r = table_end(&e, "program header table", e.phoff, e.phnum, e.phentsize,
		      e.is64 ? PHDR64 : PHDR32, &ph_end, err);
	if (r < 0)
		return r;
	r = load_end(&e, &ld_end, err);
	if (r < 0)
		return r;
	end = e.is64 ? EHDR64 : EHDR32;
	if (sh_end > end)
		end = sh_end;
	if (ph_end > end)
		end = ph_end;
	if (ld_end > end)
		end = ld_end;
	*ret_end = end;
	return 0;
}

int fl_elf_image_offset(int fd, uint64_t size, uint64_t *ret_offset, struct fl_error *err)
{
	uint64_t end;
	int r;

	r = fl_elf_extent(fd, size, &end, err);
	if (r < 0)
		return r;
	/* end <= size <= INT64_MAX (an off_t), so this cannot overflow. */
	*ret_offset = (end + FL_ELF_ALIGN - 1) / FL_ELF_ALIGN * FL_ELF_ALIGN;
	return 0;
}
