/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' shared part (fuzz.h): the input as a sealed memory file
 * and a bounded, contract-checking walk of an archive tree.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

void fl_fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: contract broken: %s\n", file, line, what);
	abort();
}

int fl_fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuselage-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A result that is 0, a count, or -errno (never some other negative). */
#define CHECK_RET(r) FL_FUZZ_CHECK((r) >= 0 || ((r) < 0 && (r) >= -4095))

struct walk {
	struct fl_tree *t;
	unsigned nodes;	    /* entries visited */
	unsigned far;	    /* files read far from their start */
	uint64_t bytes;	    /* bytes read */
	unsigned char *buf; /* FL_FUZZ_FILE_READ bytes: one file's data */
};

#define BATCH 5

struct ent {
	char name[4096];
	uint64_t node;
	struct stat st;
	uint64_t next_off;
};

struct batch {
	struct ent ents[BATCH];
	unsigned n;
};

static bool fill(void *ctx, const char *name, uint64_t node, const struct stat *st,
		 uint64_t next_off)
{
	struct batch *b = ctx;
	size_t len = strlen(name);

	if (b->n == BATCH)
		return true;
	FL_FUZZ_CHECK(len > 0);
	FL_FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	FL_FUZZ_CHECK(strchr(name, '/') == NULL);
	FL_FUZZ_CHECK(len < sizeof(b->ents[0].name));
	FL_FUZZ_CHECK(next_off != 0);
	FL_FUZZ_CHECK(node != 0);
	memcpy(b->ents[b->n].name, name, len + 1);
	b->ents[b->n].node = node;
	b->ents[b->n].st = *st;
	b->ents[b->n].next_off = next_off;
	b->n++;
	return false;
}

static void walk_xattrs(struct walk *w, uint64_t node)
{
	struct fl_tree *t = w->t;
	ssize_t n, m;
	char *names;

	if (!t->ops->listxattr)
		return;
	n = t->ops->listxattr(t, node, NULL, 0);
	CHECK_RET(n);
	if (n <= 0 || n > (1 << 20))
		return;
	names = malloc((size_t)n);
	if (!names)
		return;
	m = t->ops->listxattr(t, node, names, (size_t)n);
	FL_FUZZ_CHECK(m == n);
	FL_FUZZ_CHECK(names[n - 1] == '\0');
	if (n > 1)
		FL_FUZZ_CHECK(t->ops->listxattr(t, node, names, (size_t)n - 1) == -ERANGE);
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t vn, vm;
		char *val;

		FL_FUZZ_CHECK(*p != '\0');
		if (!t->ops->getxattr)
			continue;
		vn = t->ops->getxattr(t, node, p, NULL, 0);
		CHECK_RET(vn);
		FL_FUZZ_CHECK(vn != -ENODATA); /* listed, so present */
		if (vn < 0 || vn > (1 << 20))
			continue;
		val = malloc((size_t)vn + 1);
		if (!val)
			continue;
		vm = t->ops->getxattr(t, node, p, val, (size_t)vn);
		CHECK_RET(vm);
		FL_FUZZ_CHECK(vm < 0 || vm == vn);
		if (vn > 1 && vm == vn)
			FL_FUZZ_CHECK(t->ops->getxattr(t, node, p, val, (size_t)vn - 1) == -ERANGE);
		free(val);
	}
	FL_FUZZ_CHECK(t->ops->getxattr == NULL ||
		      t->ops->getxattr(t, node, "user.fuselage-fuzz-absent", NULL, 0) == -ENODATA ||
		      t->ops->getxattr(t, node, "user.fuselage-fuzz-absent", NULL, 0) == -EIO);
	free(names);
}

static void walk_link(struct walk *w, uint64_t node, const struct stat *st)
{
	struct fl_tree *t = w->t;
	char buf[4097];
	ssize_t r = t->ops->readlink(t, node, buf, sizeof(buf));

	CHECK_RET(r);
	if (r >= 0) {
		FL_FUZZ_CHECK((size_t)r < sizeof(buf));
		FL_FUZZ_CHECK(buf[r] == '\0');
		FL_FUZZ_CHECK(strlen(buf) == (size_t)r);
		/* lstat's size is the target's length */
		FL_FUZZ_CHECK((uint64_t)st->st_size == (uint64_t)r);
		if (r > 0)
			FL_FUZZ_CHECK(t->ops->readlink(t, node, buf, (size_t)r) == -ERANGE);
	}
}

/* Read @len bytes at @off and check the count against the size. */
static ssize_t read_at(struct walk *w, uint64_t node, uint64_t fh, uint64_t fsize, void *buf,
		       size_t len, uint64_t off)
{
	ssize_t r = w->t->ops->read(w->t, node, fh, buf, len, off);

	CHECK_RET(r);
	if (r >= 0) {
		uint64_t want = off >= fsize ? 0 : fsize - off < len ? fsize - off : len;

		/* short only at the end of the file */
		FL_FUZZ_CHECK((uint64_t)r == want);
		w->bytes += (uint64_t)r;
	}
	return r;
}

static void walk_file(struct walk *w, uint64_t node, const struct stat *st)
{
	static const size_t chunks[] = { 4093, 65536, 1, 131072, 512, 100000 };
	struct fl_tree *t = w->t;
	uint64_t fh = 0, off = 0, fsize = (uint64_t)st->st_size, got = 0;
	unsigned char small[1024];
	ssize_t r;
	int k = 0;

	r = t->ops->open(t, node, &fh);
	CHECK_RET(r);
	FL_FUZZ_CHECK(r != -EISDIR);
	if (r < 0)
		return;
	while (off < fsize && got < FL_FUZZ_FILE_READ && w->bytes < FL_FUZZ_MAX_READ) {
		size_t len = chunks[k++ % 6];

		if (len > FL_FUZZ_FILE_READ - got)
			len = (size_t)(FL_FUZZ_FILE_READ - got);
		r = read_at(w, node, fh, fsize, w->buf + got, len, off);
		if (r <= 0)
			break;
		off += (uint64_t)r;
		got += (uint64_t)r;
	}
	/* Random access must give the bytes a sequential read gave. */
	if (got > 0 && w->bytes < FL_FUZZ_MAX_READ) {
		const uint64_t at[] = { got / 3, got - 1, 0, got / 2 + 7 };

		for (int i = 0; i < 4; i++) {
			uint64_t a = at[i] < got ? at[i] : 0;
			size_t len = got - a < sizeof(small) ? (size_t)(got - a) : sizeof(small);

			r = read_at(w, node, fh, fsize, small, len, a);
			if (r > 0)
				FL_FUZZ_CHECK(memcmp(small, w->buf + a, (size_t)r) == 0);
		}
	}
	/* A file too big to read whole: near its end, then back to its middle
	 * (inflate.c's checkpoints, squashfs block seeks).  Twice the same
	 * bytes.  Only for a few files a walk, as each may inflate megabytes. */
	if (got < fsize && w->far < FL_FUZZ_FAR_FILES) {
		unsigned char again[sizeof(small)];
		const uint64_t at[] = { fsize - sizeof(small) / 2, fsize / 2 + 1, fsize / 2 + 1 };

		w->far++;
		for (int i = 0; i < 3; i++) {
			r = read_at(w, node, fh, fsize, i == 2 ? again : small, sizeof(small),
				    at[i]);
			if (r < 0)
				break;
			if (i == 2)
				FL_FUZZ_CHECK(memcmp(small, again, (size_t)r) == 0);
		}
	}
	/* At and past the end: nothing, or an error. */
	read_at(w, node, fh, fsize, small, sizeof(small), fsize);
	read_at(w, node, fh, fsize, small, sizeof(small), fsize + 4096);
	read_at(w, node, fh, fsize, small, sizeof(small), UINT64_MAX - 10);
	t->ops->release(t, node, fh);
}

static void walk_dir(struct walk *w, uint64_t dir, unsigned depth)
{
	struct fl_tree *t = w->t;
	uint64_t off = 0, fh = 0, node = 0;
	struct batch *b = malloc(sizeof(*b)), *other = malloc(sizeof(*other));
	int r;

	r = t->ops->open(t, dir, &fh);
	FL_FUZZ_CHECK(r == -EISDIR || r == -EIO);
	while (b && other) {
		b->n = 0;
		r = t->ops->readdir(t, dir, off, fill, b);
		CHECK_RET(r);
		if (r < 0 || b->n == 0)
			break;
		for (unsigned i = 0; i < b->n; i++) {
			struct ent *e = &b->ents[i];
			struct stat st;

			if (++w->nodes > FL_FUZZ_MAX_NODES)
				goto out;
			r = t->ops->lookup(t, dir, e->name, &node);
			CHECK_RET(r);
			FL_FUZZ_CHECK(r == 0 || r == -EIO);
			r = t->ops->getattr(t, e->node, &st);
			CHECK_RET(r);
			if (r < 0)
				continue;
			FL_FUZZ_CHECK((st.st_mode & S_IFMT) == (e->st.st_mode & S_IFMT));
			walk_xattrs(w, e->node);
			if (S_ISDIR(st.st_mode)) {
				FL_FUZZ_CHECK(t->ops->lookup(t, e->node, "fuselage-fuzz-absent",
							     &node) != -ENOTDIR);
				if (depth < FL_FUZZ_MAX_DEPTH)
					walk_dir(w, e->node, depth + 1);
			} else {
				FL_FUZZ_CHECK(t->ops->lookup(t, e->node, "x", &node) < 0);
				other->n = 0;
				FL_FUZZ_CHECK(t->ops->readdir(t, e->node, 0, fill, other) < 0);
			}
			if (S_ISREG(st.st_mode))
				walk_file(w, e->node, &st);
			else if (S_ISLNK(st.st_mode))
				walk_link(w, e->node, &st);
			else
				FL_FUZZ_CHECK(t->ops->readlink(t, e->node, (char *)&st, 8) < 0);
		}
		off = b->ents[b->n - 1].next_off;
	}
out:
	free(b);
	free(other);
}

void fl_fuzz_walk(struct fl_tree *t)
{
	struct walk w = { .t = t };
	struct statvfs sv;
	struct stat st;
	uint64_t node;

	w.buf = malloc(FL_FUZZ_FILE_READ);
	if (!w.buf)
		return;
	FL_FUZZ_CHECK(t->ops->getattr(t, FL_TREE_ROOT, &st) == 0);
	FL_FUZZ_CHECK(S_ISDIR(st.st_mode));
	FL_FUZZ_CHECK(t->ops->getattr(t, 0, &st) < 0);
	FL_FUZZ_CHECK(t->ops->getattr(t, UINT64_MAX, &st) < 0);
	FL_FUZZ_CHECK(t->ops->lookup(t, 0, "x", &node) < 0);
	CHECK_RET(t->ops->statfs(t, &sv));
	walk_xattrs(&w, FL_TREE_ROOT);
	walk_dir(&w, FL_TREE_ROOT, 0);
	free(w.buf);
}
