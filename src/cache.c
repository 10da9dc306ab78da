/* SPDX-License-Identifier: MIT */
/*
 * --cache-static (see cache.h): keys, the cache lookup, the reaper table and
 * the reaper.  The conversion itself is in cache_convert.c.  Nothing here
 * runs with privilege borrowed from a setuid-root binary: the lookup runs in
 * a child that has dropped to the caller, the reaper in a detached process
 * forked after setup dropped for good.  Every open is O_NOFOLLOW.
 */
#include <config.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fusefs/b64.h"
#include "fusefs/detect.h"
#include "fusefs/dl.h"
#include "src/cache.h"
#include "src/env.h"
#include "src/layout.h"
#include "src/util.h"

#define READ_CHUNK (1u << 20)
/* What detection reads of a file: the first 64 bytes (an ELF's headers may
 * reach further) and the last 64 KiB + 22 (a zip end record). */
#define HEAD_KEEP     (64u << 10)
#define TAIL_KEEP     (128u << 10)
#define MAX_AGE_LIMIT 36500L /* days: a hundred years */

/* --- keys --------------------------------------------------------------------- */

/*
 * SHA-256 from libcrypto, with the CPU's SHA extensions where there are
 * some.  Loaded on first use (fusefs/dl.h): only --cache-static needs it.
 */
static struct {
	__typeof__(EVP_sha256) *EVP_sha256;
	__typeof__(EVP_MD_CTX_new) *EVP_MD_CTX_new;
	__typeof__(EVP_MD_CTX_free) *EVP_MD_CTX_free;
	__typeof__(EVP_DigestInit_ex) *EVP_DigestInit_ex;
	__typeof__(EVP_DigestUpdate) *EVP_DigestUpdate;
	__typeof__(EVP_DigestFinal_ex) *EVP_DigestFinal_ex;
	__typeof__(EVP_Digest) *EVP_Digest;
} lc;
static pthread_once_t lc_once = PTHREAD_ONCE_INIT;
static struct fl_error lc_error;

static void lc_load(void)
{
	const struct fl_dl_sym syms[] = {
		FL_DL_SYM(lc, EVP_sha256),	  FL_DL_SYM(lc, EVP_MD_CTX_new),
		FL_DL_SYM(lc, EVP_MD_CTX_free),	  FL_DL_SYM(lc, EVP_DigestInit_ex),
		FL_DL_SYM(lc, EVP_DigestUpdate),  FL_DL_SYM(lc, EVP_DigestFinal_ex),
		FL_DL_SYM(lc, EVP_Digest),
	};

	fl_dl_load(FL_LIBCRYPTO_SONAME, syms, sizeof(syms) / sizeof(syms[0]), &lc_error);
}

/* 0 once libcrypto is loaded, else -errno with the loader's reason. */
static int lc_ready(struct fl_error *err)
{
	pthread_once(&lc_once, lc_load);
	if (lc_error.errnum == 0)
		return 0;
	if (err)
		*err = lc_error;
	return -lc_error.errnum;
}

static int hash_fd(int fd, EVP_MD_CTX *ctx, struct fl_error *err)
{
	unsigned char *buf = malloc(READ_CHUNK);
	off_t off = 0;
	ssize_t n;

	if (!buf)
		return fl_error_set(err, ENOMEM, "out of memory");
	for (;;) {
		n = pread(fd, buf, READ_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		lc.EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
	}
	free(buf);
	if (n < 0)
		return fl_error_set(err, errno, "cannot read the archive: %s", strerror(errno));
	return 1;
}

/* The ends of the decoded bytes of base64 text, for detection. */
struct decoded_ends {
	unsigned char head[HEAD_KEEP];
	unsigned char tail[TAIL_KEEP];
	size_t head_len, tail_len;
	uint64_t total;
};

static void keep_ends(struct decoded_ends *e, const unsigned char *p, size_t n)
{
	size_t h = n < HEAD_KEEP - e->head_len ? n : HEAD_KEEP - e->head_len;
	size_t keep;

	memcpy(e->head + e->head_len, p, h);
	e->head_len += h;
	e->total += n;
	if (n >= TAIL_KEEP) {
		memcpy(e->tail, p + n - TAIL_KEEP, TAIL_KEEP);
		e->tail_len = TAIL_KEEP;
		return;
	}
	keep = e->tail_len < TAIL_KEEP - n ? e->tail_len : TAIL_KEEP - n;
	memmove(e->tail, e->tail + e->tail_len - keep, keep);
	memcpy(e->tail + keep, p, n);
	e->tail_len = keep + n;
}

/* Is what base64 text decoded to a zip?  Detection runs on a sparse memory
 * file of the decoded size holding only the two ends: the same answer as on
 * the whole bytes, for a few pages of memory. */
static bool decoded_is_zip(const struct decoded_ends *e)
{
	struct fl_error err = { 0 };
	struct fl_detected d;
	_cleanup_close_ int mfd = memfd_create("fuselage-key", MFD_CLOEXEC);

	if (mfd < 0 || ftruncate(mfd, (off_t)e->total) < 0 ||
	    pwrite(mfd, e->head, e->head_len, 0) != (ssize_t)e->head_len ||
	    pwrite(mfd, e->tail, e->tail_len, (off_t)(e->total - e->tail_len)) !=
		(ssize_t)e->tail_len)
		return false;
	return fl_detect_decoded(mfd, &d, &err) == 0 && d.format == FL_FORMAT_ZIP;
}

/* Decode base64 text streaming, hashing the decoded bytes.  1 if they are a
 * zip, 0 if not (or the text is not valid base64: the server says why). */
static int hash_base64(int fd, EVP_MD_CTX *ctx, struct fl_error *err)
{
	struct decoded_ends *e = calloc(1, sizeof(*e));
	unsigned char *in = malloc(READ_CHUNK), *out = malloc(FL_B64_OUT_MAX(READ_CHUNK));
	struct fl_error ignored = { 0 };
	struct fl_b64 s;
	off_t off = 0;
	ssize_t n = -1, got = 0;
	int r = -ENOMEM;

	if (!e || !in || !out)
		goto out;
	fl_b64_init(&s);
	for (;;) {
		n = pread(fd, in, READ_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
		got = fl_b64_feed(&s, in, (size_t)n, out, &ignored);
		if (got < 0)
			break;
		lc.EVP_DigestUpdate(ctx, out, (size_t)got);
		keep_ends(e, out, (size_t)got);
	}
	if (n < 0)
		r = -errno;
	else
		r = got >= 0 && fl_b64_finish(&s, &ignored) == 0 && decoded_is_zip(e);
out:
	free(e);
	free(in);
	free(out);
	if (r == -ENOMEM)
		return fl_error_set(err, ENOMEM, "out of memory");
	if (r < 0)
		return fl_error_set(err, -r, "cannot read the archive: %s", strerror(-r));
	return r;
}

int fl_cache_key(int fd, char ret_key[FL_CACHE_KEY_LEN + 1], struct fl_error *err)
{
	struct fl_error ignored = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct fl_detected d;
	EVP_MD_CTX *ctx;
	int r;

	/* Not an archive at all: the server will say why. */
	if (fl_detect(fd, &d, &ignored) < 0 || d.format == FL_FORMAT_SQFS)
		return 0;
	r = lc_ready(err);
	if (r < 0)
		return fl_error_prefix(err, "cannot load SHA-256");
	ctx = lc.EVP_MD_CTX_new();
	if (!ctx || lc.EVP_DigestInit_ex(ctx, lc.EVP_sha256(), NULL) != 1) {
		lc.EVP_MD_CTX_free(ctx);
		return fl_error_set(err, ENOMEM, "cannot set up SHA-256");
	}
	r = d.format == FL_FORMAT_ZIP ? hash_fd(fd, ctx, err) : hash_base64(fd, ctx, err);
	if (r > 0 && (lc.EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < FL_CACHE_KEY_LEN / 2))
		r = fl_error_set(err, EIO, "SHA-256 failed");
	lc.EVP_MD_CTX_free(ctx);
	if (r <= 0)
		return r;
	for (unsigned i = 0; i < FL_CACHE_KEY_LEN / 2; i++)
		snprintf(ret_key + 2 * i, 3, "%02x", md[i]);
	return 1;
}

bool fl_cache_id(const struct stat *st, char ret_id[FL_CACHE_KEY_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char text[160];
	int n;

	n = snprintf(text, sizeof(text), "fuselage-id-1 %ju %ju %jd %jd.%09ld %jd.%09ld",
		     (uintmax_t)st->st_dev, (uintmax_t)st->st_ino, (intmax_t)st->st_size,
		     (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		     (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	if (lc_ready(NULL) < 0 ||
	    lc.EVP_Digest(text, (size_t)n, md, &mdlen, lc.EVP_sha256(), NULL) != 1 ||
	    mdlen < FL_CACHE_KEY_LEN / 2)
		return false;
	for (unsigned i = 0; i < FL_CACHE_KEY_LEN / 2; i++)
		snprintf(ret_id + 2 * i, 3, "%02x", md[i]);
	return true;
}

/* --- names, the reaper table ------------------------------------------------ */

/* 16 lower-case hex digits (a NUL among them stops the check). */
static bool is_key(const char *s)
{
	for (int i = 0; i < FL_CACHE_KEY_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}


enum fl_cache_name fl_cache_name_kind(const char *name, char ret_key[FL_CACHE_KEY_LEN + 1])
{
	const char *rest = name + FL_CACHE_KEY_LEN;
	enum fl_cache_name kind;

	if (!is_key(name))
		return FL_CACHE_UNKNOWN;
	if (strcmp(rest, ".sfs") == 0)
		kind = FL_CACHE_IMAGE;
	else if (strcmp(rest, ".complete") == 0)
		kind = FL_CACHE_MARKER;
	else if (strncmp(rest, ".sfs.tmp.", 9) == 0 && rest[9] && !strchr(rest + 9, '/'))
		kind = FL_CACHE_TEMP;
	else if (strcmp(rest, ".id") == 0)
		kind = FL_CACHE_ID;
	else if (strncmp(rest, ".id.tmp.", 8) == 0 && rest[8] && !strchr(rest + 8, '/'))
		kind = FL_CACHE_TEMP;
	else
		return FL_CACHE_UNKNOWN;
	if (ret_key) {
		memcpy(ret_key, name, FL_CACHE_KEY_LEN);
		ret_key[FL_CACHE_KEY_LEN] = '\0';
	}
	return kind;
}

/* Unused for more than the maximum age, and not used in the last minute. */
static bool stale(time_t mtime, time_t now, int64_t max_age)
{
	int64_t age = (int64_t)now - (int64_t)mtime;

	return max_age > 0 && age >= FL_CACHE_MIN_AGE && age > max_age;
}

static bool orphaned(time_t mtime, time_t now)
{
	return (int64_t)now - (int64_t)mtime > FL_CACHE_ORPHAN_AGE;
}

bool fl_cache_reap_decide(const struct fl_cache_item *it, time_t now, int64_t max_age)
{
	if (it->type != S_IFREG)
		return false; /* symlinks, directories...: never touched */
	switch (fl_cache_name_kind(it->name, NULL)) {
	case FL_CACHE_IMAGE:
		/* with its marker: the marker's age decides for both */
		if (it->has_pair)
			return stale(it->pair_mtime, now, max_age);
		return orphaned(it->mtime, now);
	case FL_CACHE_MARKER:
		return stale(it->mtime, now, max_age) ||
		       (!it->has_pair && orphaned(it->mtime, now));
	case FL_CACHE_TEMP:
		return orphaned(it->mtime, now);
	case FL_CACHE_ID:
		return stale(it->mtime, now, max_age);
	default:
		return false;
	}
}

long fl_cache_max_age_days(const char *value, bool *ret_invalid)
{
	long days = 0;

	*ret_invalid = false;
	if (!value || !*value)
		return FL_CACHE_DEFAULT_MAX_AGE_DAYS;
	for (const char *p = value; *p; p++) {
		if (*p < '0' || *p > '9' || days > MAX_AGE_LIMIT) {
			*ret_invalid = true;
			return FL_CACHE_DEFAULT_MAX_AGE_DAYS;
		}
		days = days * 10 + (*p - '0');
	}
	if (days > MAX_AGE_LIMIT) {
		*ret_invalid = true;
		return FL_CACHE_DEFAULT_MAX_AGE_DAYS;
	}
	return days;
}

/* --- the cache directory ------------------------------------------------------ */

int fl_cache_open_dir(const struct fl_run *run, bool create, int *ret_fd, struct fl_error *err)
{
	_cleanup_close_ int home = -1, fd = -1;
	struct stat st;
	int r;

	r = fl_layout_open_own_dir(run->creds, AT_FDCWD, run->home, run->home, &home, err);
	if (r < 0)
		return fl_error_prefix(err, "$FUSELAGE_HOME");
	if (create)
		return fl_layout_open_own_dir(run->creds, home, "cache", "$FUSELAGE_HOME/cache",
					      ret_fd, err);
	fd = openat(home, "cache", O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fl_error_set(err, errno, "$FUSELAGE_HOME/cache: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_uid != run->creds->inner_uid)
		return fl_error_set(err, EPERM, "$FUSELAGE_HOME/cache is not owned by you");
	*ret_fd = fd;
	fd = -1;
	return 0;
}

/* Open @key's @suffix file: a regular file of the caller's, never through a
 * symlink, never blocking on a fifo. */
static int open_entry(int cache_fd, const char *key, const char *suffix, uid_t uid)
{
	char name[FL_CACHE_KEY_LEN + 16];
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "%s%s", key, suffix);
	fd = openat(cache_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != uid ||
	    fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A hit: image and marker present, the image a squashfs.  Touches the
 * marker (the last use, which also keeps the reaper away for a minute) and
 * returns the image's descriptor; -1 for a miss. */
static int probe(int cache_fd, const char *key, uid_t uid)
{
	_cleanup_close_ int marker = open_entry(cache_fd, key, ".complete", uid);
	_cleanup_close_ int image = -1;
	char magic[4];
	int fd;

	if (marker < 0)
		return -1;
	image = open_entry(cache_fd, key, ".sfs", uid);
	if (image < 0 || pread(image, magic, 4, 0) != 4 || memcmp(magic, "hsqs", 4) != 0)
		return -1;
	if (futimens(marker, NULL) < 0)
		return -1;
	fd = image;
	image = -1;
	return fd;
}

/* --- the lookup: a child as the caller, one message per archive ------------ */

enum lookup_result { LOOKUP_SKIP = 1, LOOKUP_HIT, LOOKUP_MISS, LOOKUP_NO_TOOL, LOOKUP_ERROR };

struct lookup_msg {
	int index;  /* into run->mounts */
	int result; /* enum lookup_result */
	char key[FL_CACHE_KEY_LEN + 1];
	bool recalled; /* the key came from <id>.id, not from hashing */
	struct fl_error err;
};

/* Messages travel on a SOCK_SEQPACKET socketpair so that a hit's image,
 * opened by the child as the caller, comes along as a descriptor. */
static int send_msg(int sock, const struct lookup_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int recv_msg(int sock, struct lookup_msg *m, int *ret_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*ret_fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*m))
		return -EPIPE;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	m->key[FL_CACHE_KEY_LEN] = '\0';
	m->err.msg[sizeof(m->err.msg) - 1] = '\0';
	return 0;
}

static bool cacheable(const struct fl_run_mount *m)
{
	return m->opt->kind == FL_KIND_STATIC && m->archive_fd >= 0;
}

/* The key remembered for file identity @id: true and @ret_key when
 * <id>.id is a regular file of the caller's holding exactly a key and a
 * newline.  Touches it (its last use, for the reaper). */
static bool recall_key(int cache_fd, const char *id, uid_t uid, char ret_key[FL_CACHE_KEY_LEN + 1])
{
	_cleanup_close_ int fd = open_entry(cache_fd, id, ".id", uid);
	char buf[FL_CACHE_KEY_LEN + 2];

	if (fd < 0 || pread(fd, buf, sizeof(buf), 0) != FL_CACHE_KEY_LEN + 1 ||
	    buf[FL_CACHE_KEY_LEN] != '\n' || !is_key(buf))
		return false;
	futimens(fd, NULL);
	memcpy(ret_key, buf, FL_CACHE_KEY_LEN);
	ret_key[FL_CACHE_KEY_LEN] = '\0';
	return true;
}

/* Remember @key for identity @id: <id>.id.tmp.<pid> written, then renamed
 * over <id>.id.  Best effort: a failure only means hashing again next time. */
static void remember_key(int cache_fd, const char *id, const char *key)
{
	char tmp[FL_CACHE_KEY_LEN + 32], name[FL_CACHE_KEY_LEN + 8], line[FL_CACHE_KEY_LEN + 1];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.id.tmp.%d", id, (int)getpid());
	snprintf(name, sizeof(name), "%s.id", id);
	memcpy(line, key, FL_CACHE_KEY_LEN);
	line[FL_CACHE_KEY_LEN] = '\n';
	fd = openat(cache_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, sizeof(line)) != (ssize_t)sizeof(line) || close(fd) < 0 ||
	    renameat(cache_fd, tmp, cache_fd, name) < 0)
		unlinkat(cache_fd, tmp, 0);
}

static bool same_identity(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The key of @m's archive: remembered for its identity when the file is
 * unchanged (*@ret_recalled), else hashed, then remembered. */
static int key_archive(struct fl_run *run, struct fl_run_mount *m, int *cache_fd,
		       struct lookup_msg *msg, bool *ret_recalled)
{
	char id[FL_CACHE_KEY_LEN + 1];
	struct stat before, after;
	int r;

	*ret_recalled = false;
	if (fstat(m->archive_fd, &before) == 0 && S_ISREG(before.st_mode) &&
	    fl_cache_id(&before, id)) {
		/* An existing cache/ only: a remembered key implies one. */
		if (*cache_fd < 0 && fl_cache_open_dir(run, false, cache_fd, &msg->err) < 0)
			*cache_fd = -1;
		if (*cache_fd >= 0 && recall_key(*cache_fd, id, run->creds->inner_uid, msg->key)) {
			*ret_recalled = true;
			return 1;
		}
	} else {
		id[0] = '\0'; /* not a regular file (or no SHA-256): nothing to remember it by */
	}
	msg->err = (struct fl_error){ 0 };
	r = fl_cache_key(m->archive_fd, msg->key, &msg->err);
	if (r <= 0)
		return r;
	if (*cache_fd < 0) {
		r = fl_cache_open_dir(run, true, cache_fd, &msg->err);
		if (r < 0)
			return r;
	}
	/* Remember the key only if the file did not change while it was
	 * hashed: a key must never be filed under an identity it was not
	 * computed for. */
	if (id[0] && fstat(m->archive_fd, &after) == 0 && same_identity(&before, &after))
		remember_key(*cache_fd, id, msg->key);
	return 1;
}

/* One archive, in the child: key it, then look the key up. */
static int lookup_one(struct fl_run *run, struct fl_run_mount *m, int *cache_fd,
		      struct lookup_msg *msg, int *ret_fd)
{
	bool recalled;
	char tool[4096];
	int r;

	r = key_archive(run, m, cache_fd, msg, &recalled);
	if (r <= 0) {
		msg->result = r < 0 ? LOOKUP_ERROR : LOOKUP_SKIP;
		return r;
	}
	msg->recalled = recalled;
	*ret_fd = probe(*cache_fd, msg->key, run->creds->inner_uid);
	if (*ret_fd >= 0)
		msg->result = LOOKUP_HIT;
	else
		msg->result =
		    fl_cache_find_tool(run, tool, sizeof(tool)) ? LOOKUP_MISS : LOOKUP_NO_TOOL;
	return 0;
}

static void lookup_child(struct fl_run *run, int sock)
{
	struct lookup_msg msg = { .index = -1, .result = LOOKUP_ERROR };
	_cleanup_close_ int cache_fd = -1;

	/* Hashing, base64 decoding and every cache file: as the caller. */
	if (fl_priv_drop_to_caller(run->creds, &msg.err) < 0) {
		send_msg(sock, &msg, -1);
		_exit(1);
	}
	for (size_t i = 0; i < run->nmounts; i++) {
		int fd = -1, r;

		if (!cacheable(&run->mounts[i]))
			continue;
		msg = (struct lookup_msg){ .index = (int)i };
		r = lookup_one(run, &run->mounts[i], &cache_fd, &msg, &fd);
		if (send_msg(sock, &msg, fd) < 0 || r < 0)
			_exit(1);
		fl_closep(&fd);
	}
	_exit(0);
}

/* Act on one message in setup. */
static int take_msg(struct fl_run *run, const struct lookup_msg *msg, int fd, struct fl_error *err)
{
	struct fl_run_mount *m;

	if (msg->result == LOOKUP_ERROR || msg->index < 0 || (size_t)msg->index >= run->nmounts) {
		*err = msg->err;
		if (err->errnum == 0)
			fl_error_set(err, EIO, "the cache lookup failed");
		return fl_error_prefix(err, "--cache-static");
	}
	m = &run->mounts[msg->index];
	if (msg->recalled)
		fl_verbose("%s: key %s remembered for this file (unchanged since it was hashed)",
			   m->opt->file, msg->key);
	switch (msg->result) {
	case LOOKUP_HIT:
		fl_verbose("%s: cache hit: %s/cache/%s.sfs", m->opt->file, run->home, msg->key);
		close(m->archive_fd);
		m->archive_fd = fd;
		return 0;
	case LOOKUP_MISS:
		fl_verbose("%s: cache miss (key %s)", m->opt->file, msg->key);
		memcpy(m->cache_key, msg->key, sizeof(m->cache_key));
		m->cache_convert = true;
		break;
	case LOOKUP_NO_TOOL:
		fl_note("mksquashfs not found; serving %s directly without caching", m->opt->file);
		break;
	default:
		fl_verbose("%s: not a zip, nothing to cache", m->opt->file);
		break;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

int fl_cache_lookup(struct fl_run *run, struct fl_error *err)
{
	_cleanup_close_ int sock = -1;
	int sv[2], r = 0;
	size_t n = 0;
	pid_t pid;

	if (!run->opts->cache_static)
		return 0;
	for (size_t i = 0; i < run->nmounts; i++)
		n += cacheable(&run->mounts[i]);
	if (n == 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return fl_error_set(err, errno, "socketpair: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		lookup_child(run, sv[1]);
	}
	close(sv[1]);
	sock = sv[0];
	if (pid < 0)
		return fl_error_set(err, errno, "fork: %s", strerror(errno));
	for (size_t k = 0; k < n && r == 0; k++) {
		struct lookup_msg msg;
		int fd;

		if (recv_msg(sock, &msg, &fd) < 0)
			r = fl_error_set(err, EIO, "--cache-static: the cache lookup process died");
		else
			r = take_msg(run, &msg, fd, err);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return r;
}

/* --- the reaper ------------------------------------------------------------------ */

static void pair_stat(int dfd, const char *key, const char *suffix, struct fl_cache_item *it)
{
	char name[FL_CACHE_KEY_LEN + 16];
	struct stat st;

	snprintf(name, sizeof(name), "%s%s", key, suffix);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		it->has_pair = true;
		it->pair_mtime = st.st_mtime;
	}
}

/* Pass 0: images and temporary files (each image judged by its marker);
 * pass 1: markers. */
static int expire_pass(DIR *d, int pass, time_t now, int64_t max_age)
{
	int dfd = dirfd(d), removed = 0;
	struct dirent *e;

	rewinddir(d);
	while ((e = readdir(d))) {
		char key[FL_CACHE_KEY_LEN + 1];
		enum fl_cache_name kind = fl_cache_name_kind(e->d_name, key);
		struct fl_cache_item it = { .name = e->d_name };
		struct stat st;

		if (kind == FL_CACHE_UNKNOWN || (kind == FL_CACHE_MARKER) != (pass == 1))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		it.type = st.st_mode & S_IFMT;
		it.mtime = st.st_mtime;
		if (kind == FL_CACHE_IMAGE)
			pair_stat(dfd, key, ".complete", &it);
		else if (kind == FL_CACHE_MARKER)
			pair_stat(dfd, key, ".sfs", &it);
		/* unlinkat never follows a symlink and only ever names an
		 * entry of cache/ itself. */
		if (fl_cache_reap_decide(&it, now, max_age) && unlinkat(dfd, e->d_name, 0) == 0)
			removed++;
	}
	return removed;
}

int fl_cache_expire(int cache_fd, time_t now, int64_t max_age)
{
	int fd = openat(cache_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int removed;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	removed = expire_pass(d, 0, now, max_age);
	removed += expire_pass(d, 1, now, max_age);
	closedir(d);
	return removed;
}

static void reaper_main(const struct fl_run *run, long max_age_days)
{
	struct fl_error err = { 0 };
	int cache_fd = -1;
	sigset_t none;

	/* Nothing of the caller's: no terminal, no pipes, no descriptor of
	 * the run (the lifeline above all), no inherited signal handlers. */
	fl_detach_stdio();
	fl_close_all_except((const int[]){ 2 }, 1);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fl_cache_open_dir(run, false, &cache_fd, &err) == 0)
		fl_cache_expire(cache_fd, time(NULL), (int64_t)max_age_days * 86400);
	_exit(0);
}

void fl_cache_expire_start(const struct fl_run *run, long max_age_days)
{
	sigset_t all, old;
	pid_t pid;

	if (!run->opts->cache_static)
		return;
	fflush(NULL);
	/* setup's handlers forward signals to the command: none may run in
	 * the reaper before it has reset them. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		/* Double fork: the reaper is nobody's child and in a session
		 * of its own, so it never holds up the caller. */
		setsid();
		if (fork() == 0)
			reaper_main(run, max_age_days);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}
