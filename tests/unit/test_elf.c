/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fusefs/elf.c: the ELF extent rule of SPEC §4 on headers
 * crafted here (32/64-bit, both byte orders, hostile values) and on a real
 * ELF (/bin/true) with a squashfs image appended.
 */
#include <config.h>

#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs/detect.h"
#include "fusefs/elf.h"
#include "tests/unit/helpers.h"

static char dir[4096];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", fl_test_tmpdir());
}

static void teardown(void)
{
	fl_test_rmtree(dir);
}

TestSuite(elf, .init = setup, .fini = teardown);

/* An ELF file being crafted: a zeroed buffer of @size bytes. */
struct img {
	bool is64, big;
	size_t size;
	unsigned char *b;
};

static struct img img_new(bool is64, bool big, size_t size)
{
	struct img m = { .is64 = is64, .big = big, .size = size };

	m.b = calloc(1, size);
	cr_assert(m.b);
	memcpy(m.b, ELFMAG, SELFMAG);
	m.b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	m.b[EI_DATA] = big ? ELFDATA2MSB : ELFDATA2LSB;
	m.b[EI_VERSION] = EV_CURRENT;
	return m;
}

static void put(struct img *m, size_t off, uint64_t v, unsigned n)
{
	cr_assert_leq(off + n, m->size);
	for (unsigned i = 0; i < n; i++)
		m->b[off + (m->big ? n - 1 - i : i)] = (unsigned char)(v >> (8 * i));
}

static unsigned phsz(const struct img *m)
{
	return m->is64 ? 56 : 32;
}

static unsigned shsz(const struct img *m)
{
	return m->is64 ? 64 : 40;
}

/* e_phoff/e_phentsize/e_phnum */
static void set_ph(struct img *m, uint64_t off, unsigned entsize, unsigned num)
{
	put(m, m->is64 ? 32 : 28, off, m->is64 ? 8 : 4);
	put(m, m->is64 ? 54 : 42, entsize, 2);
	put(m, m->is64 ? 56 : 44, num, 2);
}

/* e_shoff/e_shentsize/e_shnum */
static void set_sh(struct img *m, uint64_t off, unsigned entsize, unsigned num)
{
	put(m, m->is64 ? 40 : 32, off, m->is64 ? 8 : 4);
	put(m, m->is64 ? 58 : 46, entsize, 2);
	put(m, m->is64 ? 60 : 48, num, 2);
}

/* One program header at @at. */
static void phdr(struct img *m, size_t at, uint32_t type, uint64_t off, uint64_t filesz)
{
	put(m, at, type, 4);
	put(m, at + (m->is64 ? 8 : 4), off, m->is64 ? 8 : 4);
	put(m, at + (m->is64 ? 32 : 16), filesz, m->is64 ? 8 : 4);
}

/* Section header 0's sh_size and sh_info (extended numbering) at @at. */
static void shdr0(struct img *m, size_t at, uint64_t size, uint32_t info)
{
	put(m, at + (m->is64 ? 32 : 20), size, m->is64 ? 8 : 4);
	put(m, at + (m->is64 ? 44 : 28), info, 4);
}

static char *write_img(struct img *m, const char *name)
{
	static char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fl_test_write(p, m->b, m->size);
	free(m->b);
	m->b = NULL;
	return p;
}

/* fl_elf_extent() of @m (freed); *ret_end only on success. */
static int extent(struct img *m, uint64_t *ret_end, struct fl_error *e)
{
	size_t size = m->size;
	int fd = fl_test_open(write_img(m, "elf"));
	int r = fl_elf_extent(fd, size, ret_end, e);

	close(fd);
	return r;
}

#define FOR_EACH_KIND(is64, big)                \
	for (int kind_ = 0; kind_ < 4; kind_++) \
		for (bool is64 = kind_ & 1, big = kind_ & 2, once_ = true; once_; once_ = false)

static const char *kind_name(bool is64, bool big)
{
	return is64 ? (big ? "ELF64 MSB" : "ELF64 LSB") : (big ? "ELF32 MSB" : "ELF32 LSB");
}

Test(elf, is_elf)
{
	cr_assert(fl_elf_is_elf("\177ELF\2\1", 6));
	cr_assert_not(fl_elf_is_elf("\177EL", 3));
	cr_assert_not(fl_elf_is_elf("hsqs", 4));
}

/* The typical layout: segments, then the section header table last. */
Test(elf, section_header_table_last)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 10000);
		struct fl_error e = { 0 };
		uint64_t end = 0, want = 7200 + 3 * shsz(&m);
		size_t ph = m.is64 ? 64 : 52;

		set_ph(&m, ph, phsz(&m), 3);
		phdr(&m, ph, PT_LOAD, 0, 1000);
		phdr(&m, ph + phsz(&m), PT_LOAD, 4096, 3000);
		phdr(&m, ph + 2 * phsz(&m), PT_NOTE, 9000, 900); /* not PT_LOAD: ignored */
		set_sh(&m, 7200, shsz(&m), 3);
		cr_assert_eq(extent(&m, &end, &e), 0, "%s: %s", kind_name(is64, big), e.msg);
		cr_assert_eq(end, want, "%s: %lu", kind_name(is64, big), (unsigned long)end);
	}
}

Test(elf, load_segment_last)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 20000);
		struct fl_error e = { 0 };
		uint64_t end = 0;
		size_t ph = 1000;

		set_ph(&m, ph, phsz(&m), 2);
		phdr(&m, ph, PT_LOAD, 0, 1000);
		phdr(&m, ph + phsz(&m), PT_LOAD, 12288, 5000); /* ends at 17288 */
		set_sh(&m, 7200, shsz(&m), 3);
		cr_assert_eq(extent(&m, &end, &e), 0, "%s: %s", kind_name(is64, big), e.msg);
		cr_assert_eq(end, 17288, "%s", kind_name(is64, big));
	}
}

Test(elf, program_header_table_last_and_no_pt_load)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 9000);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		set_sh(&m, 100, shsz(&m), 2);
		set_ph(&m, 8000, phsz(&m), 2); /* no PT_LOAD at all */
		phdr(&m, 8000, PT_NOTE, 0, 10);
		phdr(&m, 8000 + phsz(&m), PT_INTERP, 10, 20);
		cr_assert_eq(extent(&m, &end, &e), 0, "%s: %s", kind_name(is64, big), e.msg);
		cr_assert_eq(end, 8000 + 2 * phsz(&m), "%s", kind_name(is64, big));
	}
}

Test(elf, no_tables_is_the_header_alone)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 100);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		/* an offset with no entries does not count (e_shoff set with
		 * e_shnum 0 is extended numbering, tested below) */
		set_ph(&m, 90, 0, 0);
		cr_assert_eq(extent(&m, &end, &e), 0, "%s: %s", kind_name(is64, big), e.msg);
		cr_assert_eq(end, is64 ? 64 : 52);
	}
}

Test(elf, image_offset_rounds_up)
{
	struct img m = img_new(true, false, 9000);
	struct fl_error e = { 0 };
	uint64_t off = 0;
	int fd;

	set_sh(&m, 4096 - 64, 64, 1); /* ends exactly at 4096 */
	fd = fl_test_open(write_img(&m, "a"));
	cr_assert_eq(fl_elf_image_offset(fd, 9000, &off, &e), 0, "%s", e.msg);
	cr_assert_eq(off, 4096);
	close(fd);
	m = img_new(true, false, 9000);
	set_sh(&m, 4096 - 63, 64, 1); /* one byte more */
	fd = fl_test_open(write_img(&m, "b"));
	cr_assert_eq(fl_elf_image_offset(fd, 9000, &off, &e), 0, "%s", e.msg);
	cr_assert_eq(off, 8192);
	close(fd);
}

Test(elf, tables_past_the_end)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 4000);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		set_sh(&m, 4000 - shsz(&m) + 1, shsz(&m), 1);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert_str_eq(
		    e.msg, is64 ? "ELF section header table (1 entries at offset 3937) extends "
				  "past the end of the file (4000 bytes)"
				: "ELF section header table (1 entries at offset 3961) extends "
				  "past the end of the file (4000 bytes)");

		m = img_new(is64, big, 4000);
		set_ph(&m, 3990, phsz(&m), 1);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg,
				 "ELF program header table (1 entries at offset 3990) extends "
				 "past the end"),
			  "%s", e.msg);

		m = img_new(is64, big, 4000);
		set_ph(&m, 100, phsz(&m), 2);
		phdr(&m, 100, PT_LOAD, 0, 100);
		phdr(&m, 100 + phsz(&m), PT_LOAD, 3000, 1001);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert_str_eq(e.msg,
				 "ELF segment 1 (1001 bytes at offset 3000) extends past the "
				 "end of the file (4000 bytes)");
	}
}

Test(elf, huge_counts)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 8192);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		set_ph(&m, 64, 0xffff, 0xfffe);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg, "program header table (65534 entries"), "%s", e.msg);

		/* PN_XNUM: the real count (4 billion) is section header 0's
		 * sh_info; refused by the size check, nothing allocated. */
		m = img_new(is64, big, 8192);
		set_ph(&m, 64, phsz(&m), PN_XNUM);
		set_sh(&m, 4096, shsz(&m), 1);
		shdr0(&m, 4096, 0, 0xffffffff);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg, "program header table (4294967295 entries"), "%s", e.msg);

		m = img_new(is64, big, 8192);
		set_ph(&m, 64, phsz(&m), PN_XNUM);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg, "extended program header numbering but no section"), "%s",
			  e.msg);

		/* e_shnum 0 with e_shoff set: the count is sh_size */
		m = img_new(is64, big, 8192);
		set_sh(&m, 4096, shsz(&m), 0);
		shdr0(&m, 4096, 5, 0);
		cr_assert_eq(extent(&m, &end, &e), 0, "%s", e.msg);
		cr_assert_eq(end, 4096 + 5 * shsz(&m));
		m = img_new(is64, big, 8192);
		set_sh(&m, 4096, shsz(&m), 0);
		shdr0(&m, 4096, 1000000, 0);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	}
}

Test(elf, overflowing_offsets)
{
	struct img m = img_new(true, false, 8192);
	struct fl_error e = { 0 };
	uint64_t end = 0;

	set_ph(&m, UINT64_MAX - 10, 56, 1);
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert(strstr(e.msg, "past the end"), "%s", e.msg);

	m = img_new(true, true, 8192);
	set_sh(&m, UINT64_MAX - 0xffff * 64 + 1, 0xffff, 0xffff);
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert(strstr(e.msg, "past the end"), "%s", e.msg);

	m = img_new(true, false, 8192);
	set_ph(&m, 64, 56, 1);
	phdr(&m, 64, PT_LOAD, UINT64_MAX - 5, 100);
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert(strstr(e.msg, "ELF segment 0"), "%s", e.msg);

	m = img_new(false, true, 8192);
	set_ph(&m, 52, 32, 1);
	phdr(&m, 52, PT_LOAD, 0xffffffff, 0xffffffff);
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert(strstr(e.msg, "ELF segment 0"), "%s", e.msg);
}

Test(elf, entry_sizes)
{
	FOR_EACH_KIND(is64, big)
	{
		struct img m = img_new(is64, big, 8192);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		set_ph(&m, 64, phsz(&m) - 1, 1);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg, "ELF program header table entry size"), "%s", e.msg);
		m = img_new(is64, big, 8192);
		set_sh(&m, 64, 0, 1);
		cr_assert_eq(extent(&m, &end, &e), -EINVAL);
		cr_assert(strstr(e.msg, "ELF section header table entry size 0 is smaller"), "%s",
			  e.msg);
	}
}

/* Entries larger than the structure, and more of them than one read buffer
 * holds: the chunked reader must find a PT_LOAD in the last entry. */
Test(elf, many_and_wide_program_headers)
{
	static const unsigned sizes[] = { 56, 100, 5000 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned n = sizes[k] > 4096 ? 3 : 1000, es = sizes[k];
		size_t tab = 64, size = tab + (size_t)n * es + 300000;
		struct img m = img_new(true, k & 1, size);
		struct fl_error e = { 0 };
		uint64_t end = 0;

		set_ph(&m, tab, es, n);
		for (unsigned i = 0; i < n; i++)
			phdr(&m, tab + (size_t)i * es, i == n - 1 ? PT_LOAD : PT_NOTE, 0, size);
		phdr(&m, tab + (size_t)(n - 1) * es, PT_LOAD, 250000, 1234);
		cr_assert_eq(extent(&m, &end, &e), 0, "entsize %u: %s", es, e.msg);
		cr_assert_eq(end, 251234, "entsize %u", es);
	}
}

Test(elf, bad_ident_and_truncated)
{
	struct img m = img_new(true, false, 100);
	struct fl_error e = { 0 };
	uint64_t end = 0;

	m.b[EI_CLASS] = 3;
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "ELF file of unknown class 3");
	m = img_new(true, false, 100);
	m.b[EI_DATA] = 0;
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "ELF file of unknown byte order 0");
	m = img_new(true, false, 60); /* shorter than an Elf64_Ehdr */
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "truncated ELF header");
	m = img_new(false, true, 52); /* exactly an Elf32_Ehdr */
	cr_assert_eq(extent(&m, &end, &e), 0, "%s", e.msg);
	cr_assert_eq(end, 52);
	m = img_new(false, false, 10);
	cr_assert_eq(extent(&m, &end, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "truncated ELF header");
}

/* A real ELF: /bin/true, zero padding to 4096, then a squashfs image. */
Test(elf, real_elf_with_appended_squashfs)
{
	struct fl_detected d = { 0 };
	struct fl_error e = { 0 };
	char p[4200];
	struct stat st, tst;
	uint64_t off = 0, padded;
	int fd;

	if (!fl_test_have("mksquashfs"))
		cr_skip_test("mksquashfs not installed");
	cr_assert_eq(stat("/bin/true", &tst), 0);
	padded = ((uint64_t)tst.st_size + 4095) / 4096 * 4096;
	cr_assert_eq(fl_test_sh("cd %s && mkdir t && echo hi > t/f && "
				"mksquashfs t img.sqfs -noappend -quiet -no-progress >/dev/null && "
				"cp /bin/true app && truncate -s %llu app && cat img.sqfs >> app",
				dir, (unsigned long long)padded),
		     0);
	snprintf(p, sizeof(p), "%s/app", dir);
	fd = fl_test_open(p);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(fl_elf_image_offset(fd, (uint64_t)st.st_size, &off, &e), 0, "%s", e.msg);
	cr_assert_eq(off, padded, "offset %lu, padded size %lu", (unsigned long)off,
		     (unsigned long)padded);
	cr_assert_eq(fl_detect(fd, &d, &e), 0, "%s", e.msg);
	cr_assert_eq(d.format, FL_FORMAT_SQFS);
	cr_assert_eq(d.offset, padded);
	cr_assert(d.elf);
	close(fd);

	/* /bin/true alone: the message names the offset */
	fd = fl_test_open("/bin/true");
	cr_assert_eq(fl_detect(fd, &d, &e), -EINVAL);
	snprintf(p, sizeof(p), "ELF file with no squashfs image at offset %llu",
		 (unsigned long long)padded);
	cr_assert_str_eq(e.msg, p);
	close(fd);
}
