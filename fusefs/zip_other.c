/* SPDX-License-Identifier: MIT */
/*
 * Entries compressed with methods other than stored and deflate, decoded by
 * libzip (see zip_other.h).  libzip is used for exactly this because its
 * decoders (bzip2, ...) are the part of it worth having; listing and the
 * common methods stay in zip_cd.c and inflate.c, which need no lock.  It is
 * loaded when the first such entry is looked at (dl.h), so that runs without
 * one do not pay for linking it at exec; without it those entries read as
 * EIO, like any method this libzip cannot decode.  Never
 * passes libzip an entry whose directory record disagrees with ours, never
 * returns more than usize bytes, never lets a descriptor leak across exec.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "fusefs/dl.h"
#include "fusefs/zip_other.h"

#define SKIP_CHUNK 32768u
#define READ_CHUNK ((size_t)1 << 30) /* keeps each crc32() length in a uInt */

struct fl_zip_other {
	pthread_mutex_t lock;  /* guards za, failed and every cursor's state */
	int fd;                /* the tree's; never closed here */
	const struct fl_zipcd *cd;
	zip_t *za;             /* NULL until first use */
	bool failed;           /* libzip refused the archive: do not retry */
};

struct fl_zip_other_cursor {
	struct fl_zip_other *zo;
	uint32_t index;
	zip_file_t *zf;        /* NULL when not streaming */
	uint64_t pos;          /* output offset of zf's next byte */
	uint32_t crc;          /* of the bytes before pos */
};

/* The libzip functions used here, resolved by zl_ready(). */
static struct {
	__typeof__(zip_compression_method_supported) *zip_compression_method_supported;
	__typeof__(zip_discard) *zip_discard;
	__typeof__(zip_error_init) *zip_error_init;
	__typeof__(zip_error_fini) *zip_error_fini;
	__typeof__(zip_source_filep_create) *zip_source_filep_create;
	__typeof__(zip_source_free) *zip_source_free;
	__typeof__(zip_open_from_source) *zip_open_from_source;
	__typeof__(zip_stat_init) *zip_stat_init;
	__typeof__(zip_stat_index) *zip_stat_index;
	__typeof__(zip_fopen_index) *zip_fopen_index;
	__typeof__(zip_fread) *zip_fread;
	__typeof__(zip_fclose) *zip_fclose;
} zl;
static pthread_once_t zl_once = PTHREAD_ONCE_INIT;
static bool zl_loaded;

static void zl_load(void)
{
	const struct fl_dl_sym syms[] = {
		FL_DL_SYM(zl, zip_compression_method_supported),
		FL_DL_SYM(zl, zip_discard),
		FL_DL_SYM(zl, zip_error_init),
		FL_DL_SYM(zl, zip_error_fini),
		FL_DL_SYM(zl, zip_source_filep_create),
		FL_DL_SYM(zl, zip_source_free),
		FL_DL_SYM(zl, zip_open_from_source),
		FL_DL_SYM(zl, zip_stat_init),
		FL_DL_SYM(zl, zip_stat_index),
		FL_DL_SYM(zl, zip_fopen_index),
		FL_DL_SYM(zl, zip_fread),
		FL_DL_SYM(zl, zip_fclose),
	};

	zl_loaded = fl_dl_load(FL_LIBZIP_SONAME, syms, sizeof(syms) / sizeof(syms[0]), NULL) == 0;
}

/* libzip loaded, once per process; false for good if it cannot be. */
static bool zl_ready(void)
{
	pthread_once(&zl_once, zl_load);
	return zl_loaded;
}

bool fl_zip_other_supported(uint16_t method)
{
	if (method == FL_ZIPCD_METHOD_STORE || method == FL_ZIPCD_METHOD_DEFLATE || !zl_ready())
		return false;
	return zl.zip_compression_method_supported(method, 0) != 0;
}

int fl_zip_other_new(int fd, const struct fl_zipcd *cd, struct fl_zip_other **ret_zo)
{
	struct fl_zip_other *zo = calloc(1, sizeof(*zo));

	if (!zo)
		return -ENOMEM;
	pthread_mutex_init(&zo->lock, NULL);
	zo->fd = fd;
	zo->cd = cd;
	*ret_zo = zo;
	return 0;
}

void fl_zip_other_free(struct fl_zip_other *zo)
{
	if (!zo)
		return;
	if (zo->za)
		zl.zip_discard(zo->za); /* read-only: nothing to write back */
	pthread_mutex_destroy(&zo->lock);
	free(zo);
}

/*
 * Open the archive with libzip; caller locks.  zip_fdopen() would dup()
 * without O_CLOEXEC, so the duplicate is ours (F_DUPFD_CLOEXEC), wrapped in
 * a FILE that the source owns from then on.  The duplicate shares the file
 * offset with the tree's descriptor; that is harmless because everything
 * else reads it with pread().  The window starts at the prefix, so libzip
 * sees a plain zip even when data stands in front with unadjusted offsets.
 */
static int archive_open(struct fl_zip_other *zo)
{
	uint64_t start = zo->cd->prefix, len = zo->cd->file_size - zo->cd->prefix;
	zip_source_t *src;
	zip_error_t ze;
	FILE *fp;
	int fd;

	if (zo->failed || !zl_ready())
		return -EIO;
	fd = fcntl(zo->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	fp = fdopen(fd, "rb");
	if (!fp) {
		int e = errno;

		close(fd);
		return -e;
	}
	zl.zip_error_init(&ze);
	src = zl.zip_source_filep_create(fp, start, (zip_int64_t)len, &ze);
	if (!src) {
		fclose(fp); /* not taken on failure */
		zl.zip_error_fini(&ze);
		return -ENOMEM;
	}
	zo->za = zl.zip_open_from_source(src, ZIP_RDONLY, &ze);
	zl.zip_error_fini(&ze);
	if (!zo->za) {
		zl.zip_source_free(src); /* closes fp */
		zo->failed = true;
		return -EIO;
	}
	return 0;
}

/* Does libzip's entry @index describe our entry @e?  Caller locks. */
static bool same_entry(zip_t *za, uint32_t index, const struct fl_zipcd_entry *e)
{
	const zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_INDEX | ZIP_STAT_SIZE |
				  ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC;
	zip_stat_t st;

	zl.zip_stat_init(&st);
	if (zl.zip_stat_index(za, index, ZIP_FL_ENC_RAW, &st) < 0 || (st.valid & need) != need)
		return false;
	return st.index == index && strlen(st.name) == e->name_len &&
	       memcmp(st.name, e->name, e->name_len) == 0 && st.size == e->usize &&
	       st.comp_size == e->csize && st.comp_method == e->method && st.crc == e->crc;
}

/* Start streaming @cur's entry from its first byte; caller locks. */
static int cursor_start(struct fl_zip_other_cursor *cur)
{
	struct fl_zip_other *zo = cur->zo;
	int r;

	if (!zo->za && (r = archive_open(zo)) < 0)
		return r;
	if (!same_entry(zo->za, cur->index, &zo->cd->entries[cur->index]))
		return -EIO;
	cur->zf = zl.zip_fopen_index(zo->za, cur->index, 0);
	if (!cur->zf)
		return -EIO;
	cur->pos = 0;
	cur->crc = (uint32_t)crc32(0, NULL, 0);
	return 0;
}

static void cursor_stop(struct fl_zip_other_cursor *cur)
{
	if (cur->zf)
		zl.zip_fclose(cur->zf);
	cur->zf = NULL;
	cur->pos = 0;
}

/* Read exactly @len bytes (pos + len <= usize) from the stream; caller locks. */
static int stream(struct fl_zip_other_cursor *cur, unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t want = len - done < READ_CHUNK ? len - done : READ_CHUNK;
		zip_int64_t n = zl.zip_fread(cur->zf, buf + done, want);

		if (n <= 0)
			return -EIO; /* damaged, or shorter than usize */
		cur->crc = (uint32_t)crc32(cur->crc, buf + done, (uInt)n);
		done += (size_t)n;
		cur->pos += (uint64_t)n;
	}
	return 0;
}

/* At usize: the data must end here with our CRC.  Caller locks. */
static int stream_end(struct fl_zip_other_cursor *cur, const struct fl_zipcd_entry *e)
{
	unsigned char extra;
	zip_int64_t n = zl.zip_fread(cur->zf, &extra, 1);

	cursor_stop(cur); /* the decoder may hold megabytes */
	return n == 0 && cur->crc == e->crc ? 0 : -EIO;
}

static ssize_t cursor_read_locked(struct fl_zip_other_cursor *cur, unsigned char *buf, size_t size,
				  uint64_t off)
{
	const struct fl_zipcd_entry *e = &cur->zo->cd->entries[cur->index];
	unsigned char skip[SKIP_CHUNK];
	int r = 0;

	if (off >= e->usize || size == 0)
		return 0;
	if (size > e->usize - off)
		size = (size_t)(e->usize - off);
	if (cur->zf && off < cur->pos)
		cursor_stop(cur);
	if (!cur->zf)
		r = cursor_start(cur);
	while (r == 0 && cur->pos < off) {
		uint64_t left = off - cur->pos;

		r = stream(cur, skip, left < SKIP_CHUNK ? (size_t)left : SKIP_CHUNK);
	}
	if (r == 0)
		r = stream(cur, buf, size);
	if (r == 0 && cur->pos == e->usize)
		r = stream_end(cur, e);
	if (r < 0) {
		cursor_stop(cur);
		return r;
	}
	return (ssize_t)size;
}

int fl_zip_other_cursor_new(struct fl_zip_other *zo, uint32_t index,
			    struct fl_zip_other_cursor **ret_cur)
{
	struct fl_zip_other_cursor *cur = calloc(1, sizeof(*cur));

	if (!cur)
		return -ENOMEM;
	cur->zo = zo;
	cur->index = index;
	*ret_cur = cur;
	return 0;
}

void fl_zip_other_cursor_free(struct fl_zip_other_cursor *cur)
{
	if (!cur)
		return;
	pthread_mutex_lock(&cur->zo->lock);
	cursor_stop(cur);
	pthread_mutex_unlock(&cur->zo->lock);
	free(cur);
}

ssize_t fl_zip_other_cursor_read(struct fl_zip_other_cursor *cur, void *buf, size_t size,
				 uint64_t off)
{
	ssize_t r;

	pthread_mutex_lock(&cur->zo->lock);
	r = cursor_read_locked(cur, buf, size, off);
	pthread_mutex_unlock(&cur->zo->lock);
	return r;
}

int fl_zip_other_whole(struct fl_zip_other *zo, uint32_t index, void *out)
{
	uint64_t usize = zo->cd->entries[index].usize;
	struct fl_zip_other_cursor cur = { .zo = zo, .index = index };
	ssize_t r;

	if (usize > SIZE_MAX)
		return -EIO;
	pthread_mutex_lock(&zo->lock);
	if (usize == 0) {
		/* No read reaches usize: check the empty stream here. */
		r = cursor_start(&cur);
		if (r == 0)
			r = stream_end(&cur, &zo->cd->entries[index]);
	} else {
		r = cursor_read_locked(&cur, out, (size_t)usize, 0);
	}
	cursor_stop(&cur);
	pthread_mutex_unlock(&zo->lock);
	if (r < 0)
		return (int)r;
	return (uint64_t)r == usize ? 0 : -EIO;
}
