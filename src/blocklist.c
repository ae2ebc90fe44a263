/*
 * blocklist.c -- the blocklist snapshot, its builder and its publication.
 *
 * A snapshot is a hash table whose buckets hold the rules themselves, so
 * that looking a key up costs one cache miss, not one for the table and one
 * more for the rule.  A bucket is 128 bytes: a header (bytes used and an
 * overflow bit, the number of entries, and one byte of the hash of each
 * entry's key, at most eight), then variable-size entries: the length of
 * the name in wire form, a byte of flags (action, wildcard), the name
 * lowercased in wire form without its root label (or, when longer than
 * BL_INLINE_MAX, its offset in a separate array), the feed index and, when
 * there is one, the indicator: the offset of a string in an array where
 * indicators are stored once, or the line number of a list.  A key may
 * live in either of two buckets chosen by its hash; the rule goes to the
 * emptier one, which keeps the buckets evenly filled at 75 %; when both are
 * full it goes to the first bucket with room after the first choice, and
 * the buckets passed are marked as overflowing so that a search goes on
 * past them.  A rule of the usual size costs its wire name plus 5 bytes,
 * divided by the fill factor.
 *
 * A lookup lowercases the name into a stack buffer and hashes its labels
 * from the right, which gives the hash of every parent in one pass; it
 * prefetches the buckets of the exact name and of each parent at a depth
 * where wildcard rules exist, then searches them in precedence order.  The
 * hash bytes of a bucket's header are compared eight at once, so that a
 * name that is not there is turned away by the header's cache line alone.
 * Before that, a Bloom filter of a byte per rule, small enough to stay in
 * a core's cache, turns away most keys that are not there without a read
 * of the table at all: most queries are for names no feed lists.
 *
 * The builder appends entries to one growing array; building counts their
 * bytes, sizes the table, and inserts them in the order added, dropping a
 * name already present (the first added wins).  Should an entry find no
 * room at all, the table is rebuilt larger.
 *
 * Publication is quiescent-state based reclamation: readers load the
 * current pointer with acquire semantics and take no lock; the writer swaps
 * it, stamps the old snapshot with a new epoch and frees it once every
 * reader has announced a quiescent state at that epoch or later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <ldns/ldns.h>

#include "blocklist.h"

#define BL_WIRE_MAX	255	/* a name in wire form, root label included */
#define BL_PAD		8	/* zero bytes after a key: whole-word loads */
#define BL_LABELS_MAX	128
#define BL_TEXT_MAX	255	/* longest name accepted in presentation form */

/* Entry flags: the action in the low bits. */
#define BL_ACTION_MASK	0x07
#define BL_WILD		0x08	/* "*." rule: matches below the name */
#define BL_IND		0x10	/* a 4-byte indicator offset follows */
#define BL_FEED16	0x20	/* the feed index takes 2 bytes, not 1 */
#define BL_LONG		0x40	/* in a bucket: the name is in bl->longs */
#define BL_META		0x80	/* the indicator is a record: a marker byte,
				   then indicator, TLP and local data, each
				   NUL-terminated */
#define BL_META_MARK	1

/* Buckets: a header (bytes used and the overflow bit; the number of
 * entries; a hash byte per entry), then the entries. */
#define BKT_SIZE	128
#define BKT_SLOTS	8
#define BKT_HDR		(2 + BKT_SLOTS)
#define BKT_ROOM	(BKT_SIZE - BKT_HDR)
#define BKT_USED	0x7f
#define BKT_OVF		0x80	/* a key of this bucket may be further on */
#define BKT_FILL	75	/* percent of the bytes used at first */
#define BL_HUGE		(2u << 20)	/* a huge page */
#define BL_HUGE_MIN	(4u << 20)	/* bucket arrays this large use them */
#define BF_WORDS	8	/* a filter block: 8 words of 32 bits, 32 bytes */
#define BF_BITS		8	/* filter bits per rule: about 2 % false hits */
#define BL_KICKS	16	/* moves to make room before overflowing */
#define BL_INLINE_MAX	64	/* longer names go to bl->longs */

#define BL_BLOB_MAX	UINT32_MAX
#define BL_IND_MAX	0x7fffffffu	/* indicator offsets leave BL_LINE free */
#define BL_LINE		0x80000000u	/* an indicator "line N", kept as N */
#define BL_SELF		BL_LINE		/* the indicator is the rule itself
					   ("line 0" is never kept as N) */
#define BL_RULES_MAX	(UINT32_MAX / 2)
#define BL_FEEDS_MAX	65535

const char *const rg_action_str[] = {
	[RG_ACTION_NXDOMAIN] = "nxdomain",
	[RG_ACTION_NODATA] = "nodata",
	[RG_ACTION_REFUSED] = "refused",
	[RG_ACTION_DROP] = "drop",
	[RG_ACTION_SINKHOLE] = "sinkhole",
	[RG_ACTION_LOG_ONLY] = "log-only",
	[RG_ACTION_PASSTHRU] = "passthru",
	[RG_ACTION_LOCAL] = "local",
};

/* A response-IP rule: IPv4 addresses as IPv4-mapped IPv6. */
struct bl_ip {
	uint8_t addr[16];	/* masked to LEN bits */
	uint8_t len;		/* prefix length over the 128 bits */
	uint8_t action;
	uint8_t meta;		/* IND is a meta record */
	uint16_t feed;
	uint32_t ind;		/* record offset, or 0 */
	uint32_t seq;		/* order added: the first of equal keys wins */
};

struct rg_bl_builder {
	uint8_t *blob;		/* entries; offset 0 is never an entry */
	size_t len;
	size_t cap;
	size_t count;		/* rules added */
	char **feeds;
	size_t nfeeds;
	char *ind;		/* indicators, each NUL-terminated, from 1 */
	size_t ind_len;
	size_t ind_cap;
	uint32_t *ind_tab;	/* interning table of indicator offsets */
	size_t ind_tab_size;	/* a power of two */
	size_t ind_count;
	uint64_t depths[2][2];	/* label counts present: [wildcard][bit / 64] */
	struct bl_ip *ips;
	size_t nips, ips_cap;
};

struct rg_blocklist {
	uint8_t *buckets;
	size_t nbuckets;
	uint32_t *filter;	/* split-block Bloom filter of the keys */
	size_t nblocks;		/* its blocks of BF_WORDS words */
	uint8_t *longs;		/* names too long to be kept in a bucket */
	size_t longs_len;
	char *ind;
	size_t ind_len;
	char **feeds;
	size_t *feed_entries;
	size_t nfeeds;
	size_t entries;
	size_t bytes;
	uint64_t depths[2][2];
	struct bl_ip *ips;	/* sorted by (len desc, addr, seq), unique */
	size_t nips;
	uint8_t ip_lens[129];	/* prefix lengths present, longest first */
	size_t n_ip_lens;
	struct rg_blocklist *retired_next;	/* writer's retired list */
	uint64_t retired_epoch;
};

struct bl_reader {
	alignas(64) _Atomic uint64_t epoch;
	char pad[64 - sizeof(uint64_t)];
};

struct rg_bl_domain {
	_Atomic(struct rg_blocklist *) current;
	_Atomic uint64_t epoch;
	unsigned nreaders;
	struct bl_reader *readers;
	struct rg_blocklist *retired;
	unsigned holds;		/* rg_bl_hold() without rg_bl_release() */
};

int
rg_action_parse(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < RG_ACTION_COUNT; i++)
		if (strcmp(s, rg_action_str[i]) == 0)
			return i;
	return -1;
}

/* 64x64 -> 128-bit multiply, folded: the mixing step of wyhash. */
static inline uint64_t
bl_mum(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
	uint64_t r = a * b;

	return r ^ (r >> 32) ^ ((a >> 32) * (b >> 32));
#endif
}

#define BL_SEED		0x1d8e4e27c47d124fULL

/* Eight bytes at P, the first in the low bits whatever the byte order. */
static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* H with the label at P (its length byte, then its bytes) folded in; the
 * 8 bytes after the label must be readable.  A name is hashed label by
 * label from the right, so that the hash of each parent is a step on the
 * way to the hash of the name. */
static inline uint64_t
label_hash(uint64_t h, const uint8_t *p)
{
	size_t n = (size_t)p[0] + 1, i;
	uint64_t w;

	for (i = 0; i + 8 <= n; i += 8)
		h = bl_mum(h ^ load_le64(p + i), 0xa0761d6478bd642fULL);
	if (i < n) {
		w = load_le64(p + i) & (~0ULL >> (64 - 8 * (n - i)));
		h = bl_mum(h ^ w, 0xa0761d6478bd642fULL);
	}
	return h;
}

/* The hash of a key from the hash H of its labels. */
static inline uint64_t
key_final(uint64_t h, int wild)
{
	return bl_mum(h ^ (wild ? 0x589965cc75374cc3ULL :
	    0xe7037ed1a0b428dbULL), 0x8ebc6af09c88c6e3ULL);
}

/* Hash of a key: WIRE (WL bytes, no root label) is followed by BL_PAD
 * zero bytes. */
static uint64_t
key_hash(const uint8_t *wire, size_t wl, int wild)
{
	uint8_t lab[BL_LABELS_MAX];
	uint64_t h = BL_SEED;
	size_t pos, nl = 0;

	for (pos = 0; pos < wl && nl < BL_LABELS_MAX; pos += 1 + wire[pos])
		lab[nl++] = (uint8_t)pos;
	while (nl-- > 0)
		h = label_hash(h, wire + lab[nl]);
	return key_final(h, wild);
}

/* FNV-1a, for interning indicators while building. */
static uint64_t
rec_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

/* Bytes of the indicator record at S: one string, or a meta record. */
static size_t
rec_len(const char *s)
{
	size_t n, k;

	if (s[0] != BL_META_MARK)
		return strlen(s) + 1;
	for (n = 1, k = 0; k < 3; k++)
		n += strlen(s + n) + 1;
	return n;
}

/* ASCII letters of N bytes at P (a multiple of 8 readable) to lower case,
 * eight at a time; label lengths (below 64) are left alone. */
static inline void
lower_words(uint8_t *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t w, t, m;
	size_t i;

	for (i = 0; i < n; i += 8) {
		memcpy(&w, p + i, 8);
		t = w & (0x7f * ones);
		m = ((t + (0x80 - 'A') * ones) ^
		    (t + (0x80 - 'Z' - 1) * ones)) & ~w & (0x80 * ones);
		w |= m >> 2;
		memcpy(p + i, &w, 8);
	}
}

static inline void
depth_set(uint64_t d[2], size_t labels)
{
	d[labels / 64] |= 1ULL << (labels % 64);
}

static inline int
depth_has(const uint64_t d[2], size_t labels)
{
	return (d[labels / 64] >> (labels % 64)) & 1;
}

static inline void
prefetch(const void *p)
{
#if defined(__GNUC__)
	__builtin_prefetch(p);
#endif
}

/* memcpy() for the short copies of the lookup: the compiler turns a copy
 * of unknown length into "rep movs", slow to start, so copy words, the last
 * one overlapping. */
static inline void
copy_short(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	uint64_t w;
	uint32_t v;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&w, s + i, 8);
			memcpy(d + i, &w, 8);
		}
		memcpy(&w, s + n - 8, 8);
		memcpy(d + n - 8, &w, 8);
	} else if (n >= 4) {
		memcpy(&v, s, 4);
		memcpy(d, &v, 4);
		memcpy(&v, s + n - 4, 4);
		memcpy(d + n - 4, &v, 4);
	} else if (n > 0) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

static inline uint8_t
lower(uint8_t c)
{
	return (uint8_t)(c + ((unsigned)(c - 'A') < 26 ? 'a' - 'A' : 0));
}

/*
 * Presentation name S (N bytes, no NUL needed) to wire form without the
 * root label, lowercased, in WIRE; *WL its length, *LABELS its labels.
 * With WILD, a leftmost "*" label makes a wildcard (*WILD set, the label
 * dropped) and "*" is refused anywhere else; without, "*" is a label like
 * any other.  The root is "." (length 0).  Escapes are not supported.
 */
static int
name_parse(const char *s, size_t n, uint8_t *wire, size_t *wl,
    size_t *labels, int *wild)
{
	size_t i = 0, w = 0, start, ll, nl = 0;
	uint8_t c;

	if (wild != NULL)
		*wild = 0;
	if (n == 0 || n > BL_TEXT_MAX)
		return -EINVAL;
	if (n == 1 && s[0] == '.')
		goto out;
	if (s[n - 1] == '.')
		n--;
	if (wild != NULL && s[0] == '*' && (n == 1 || s[1] == '.')) {
		*wild = 1;
		if (n == 1)
			goto out;
		i = 2;
	}
	for (;;) {
		start = i;
		for (; i < n && s[i] != '.'; i++) {
			c = (uint8_t)s[i];
			if (c <= ' ' || c == 0x7f || c == '\\')
				return -EINVAL;
		}
		ll = i - start;
		if (ll == 0 || ll > 63 || w + 1 + ll > BL_WIRE_MAX - 1)
			return -EINVAL;
		if (wild != NULL && ll == 1 && s[start] == '*')
			return -EINVAL;
		wire[w++] = (uint8_t)ll;
		for (; start < i; start++)
			wire[w++] = lower((uint8_t)s[start]);
		nl++;
		if (i == n)
			break;
		i++;
	}
out:
	*wl = w;
	*labels = nl;
	return 0;
}

/* Wire name (no root label) to presentation form, "*."-prefixed if WILD:
 * the bytes after the first length byte, each later length made a dot. */
static void
name_format(const uint8_t *wire, size_t wl, int wild, char out[258])
{
	size_t i;

	if (wild) {
		*out++ = '*';
		*out++ = '.';
	}
	if (wl == 0) {
		memcpy(out, ".", 2);
		return;
	}
	copy_short(out, wire + 1, wl - 1);
	out[wl - 1] = '\0';
	for (i = (size_t)wire[0] + 1; i < wl; i += (size_t)wire[i] + 1)
		out[i - 1] = '.';
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int
rg_bl_local_next(const char **pos, uint16_t *type, uint8_t rd[255],
    size_t *rdlen)
{
	const char *p = *pos, *e, *t, *r;
	char tok[256];
	size_t tl, rl;
	ldns_rdf *d;

	while (*p == '\n' || is_blank(*p))
		p++;
	if (*p == '\0') {
		*pos = p;
		return 0;
	}
	e = p + strcspn(p, "\n");
	*pos = e;
	for (t = p; t < e && !is_blank(*t); t++)
		;
	tl = (size_t)(t - p);
	while (t < e && is_blank(*t))
		t++;
	for (r = t; t < e && !is_blank(*t); t++)
		;
	rl = (size_t)(t - r);
	while (t < e && is_blank(*t))
		t++;
	if (t != e || rl == 0 || rl >= sizeof(tok))
		return -1;
	memcpy(tok, r, rl);
	tok[rl] = '\0';
	if (tl == 1 && strncasecmp(p, "A", tl) == 0) {
		*type = 1;
		*rdlen = 4;
		return inet_pton(AF_INET, tok, rd) == 1 ? 1 : -1;
	}
	if (tl == 4 && strncasecmp(p, "AAAA", tl) == 0) {
		*type = 28;
		*rdlen = 16;
		return inet_pton(AF_INET6, tok, rd) == 1 ? 1 : -1;
	}
	if (tl == 5 && strncasecmp(p, "CNAME", tl) == 0) {
		if (ldns_str2rdf_dname(&d, tok) != LDNS_STATUS_OK)
			return -1;
		*type = 5;
		*rdlen = ldns_rdf_size(d);
		if (*rdlen == 0 || *rdlen > 255) {
			ldns_rdf_deep_free(d);
			return -1;
		}
		memcpy(rd, ldns_rdf_data(d), *rdlen);
		ldns_rdf_deep_free(d);
		return 1;
	}
	return -1;
}

struct rg_bl_builder *
rg_bl_builder_new(void)
{
	struct rg_bl_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->cap = 64 * 1024;
	b->ind_cap = 4096;
	b->ind_tab_size = 1024;
	if ((b->blob = malloc(b->cap)) == NULL ||
	    (b->ind = malloc(b->ind_cap)) == NULL ||
	    (b->ind_tab = calloc(b->ind_tab_size, sizeof(uint32_t))) == NULL) {
		rg_bl_builder_free(b);
		return NULL;
	}
	b->blob[0] = 0;
	b->len = 1;
	b->ind[0] = '\0';
	b->ind_len = 1;
	return b;
}

static void
feeds_free(char **feeds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(feeds[i]);
	free(feeds);
}

void
rg_bl_builder_free(struct rg_bl_builder *b)
{
	if (b == NULL)
		return;
	free(b->blob);
	free(b->ind);
	free(b->ind_tab);
	free(b->ips);
	feeds_free(b->feeds, b->nfeeds);
	free(b);
}

int
rg_bl_builder_feed(struct rg_bl_builder *b, const char *name)
{
	char **feeds, *s;

	if (b == NULL || name == NULL)
		return -EINVAL;
	if (b->nfeeds >= BL_FEEDS_MAX)
		return -ENOSPC;
	if ((s = strdup(name)) == NULL)
		return -ENOMEM;
	feeds = realloc(b->feeds, (b->nfeeds + 1) * sizeof(*feeds));
	if (feeds == NULL) {
		free(s);
		return -ENOMEM;
	}
	b->feeds = feeds;
	b->feeds[b->nfeeds] = s;
	return (int)b->nfeeds++;
}

/* Make room for N more bytes in *BUF of *CAP bytes holding LEN. */
static int
grow(void *bufp, size_t *cap, size_t len, size_t n, size_t max)
{
	char **buf = bufp;
	size_t c = *cap;
	char *nb;

	if (len + n <= c)
		return 0;
	if (len + n > max)
		return -ENOMEM;
	if (c == 0)
		c = 256;
	while (c < len + n)
		c = c > max / 2 ? max : c * 2;
	if ((nb = realloc(*buf, c)) == NULL)
		return -ENOMEM;
	*buf = nb;
	*cap = c;
	return 0;
}

static int
ind_tab_grow(struct rg_bl_builder *b)
{
	size_t size = b->ind_tab_size * 2, i, j;
	uint32_t *tab, off;
	const char *s;

	if ((tab = calloc(size, sizeof(*tab))) == NULL)
		return -ENOMEM;
	for (i = 0; i < b->ind_tab_size; i++) {
		if ((off = b->ind_tab[i]) == 0)
			continue;
		s = b->ind + off;
		j = rec_hash(s, rec_len(s)) & (size - 1);
		while (tab[j] != 0)
			j = (j + 1) & (size - 1);
		tab[j] = off;
	}
	free(b->ind_tab);
	b->ind_tab = tab;
	b->ind_tab_size = size;
	return 0;
}

/* The offset of the record REC (N bytes) in the builder's string blob,
 * added if new. */
static int
ind_intern(struct rg_bl_builder *b, const char *rec, size_t n,
    uint32_t *offp)
{
	size_t j;
	uint32_t off;
	int rc;

	if (b->ind_count + 1 > b->ind_tab_size / 2 &&
	    (rc = ind_tab_grow(b)) < 0)
		return rc;
	j = rec_hash(rec, n) & (b->ind_tab_size - 1);
	while ((off = b->ind_tab[j]) != 0) {
		if (b->ind_len - off >= n &&
		    memcmp(b->ind + off, rec, n) == 0) {
			*offp = off;
			return 0;
		}
		j = (j + 1) & (b->ind_tab_size - 1);
	}
	if ((rc = grow(&b->ind, &b->ind_cap, b->ind_len, n,
	    BL_IND_MAX)) < 0)
		return rc;
	off = (uint32_t)b->ind_len;
	memcpy(b->ind + off, rec, n);
	b->ind_len += n;
	b->ind_tab[j] = off;
	b->ind_count++;
	*offp = off;
	return 0;
}

/* Append S (NULL: empty) to the record being made in BUF; control bytes
 * other than newlines become '?', so that no record passes for another. */
static int
rec_put(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (*len + n + 1 > cap)
		return -EINVAL;
	for (i = 0; i < n; i++)
		buf[*len + i] = ((uint8_t)s[i] < 0x20 && s[i] != '\n') ?
		    '?' : s[i];
	buf[*len + n] = '\0';
	*len += n + 1;
	return 0;
}

/* An indicator "line N" (N below 2^31, no leading zero): 1 and *N. */
static int
line_indicator(const char *s, uint32_t *n)
{
	uint64_t v = 0;
	size_t i;

	if (strncmp(s, "line ", 5) != 0 || s[5] < '1' || s[5] > '9')
		return 0;
	for (i = 5; s[i] >= '0' && s[i] <= '9'; i++)
		if ((v = v * 10 + (uint64_t)(s[i] - '0')) >= BL_LINE)
			return 0;
	if (s[i] != '\0')
		return 0;
	*n = (uint32_t)v;
	return 1;
}

/* Intern META: *OFF is 0 when there is nothing to keep, *IS_META says
 * whether the record has three strings or just the indicator.  ALWAYS
 * makes a three-string record even without TLP or local data. */
static int
meta_intern(struct rg_bl_builder *b, const struct rg_bl_meta *meta,
    int always, uint32_t *off, int *is_meta)
{
	char rec[4096];
	size_t n = 0;
	int rc;

	*off = 0;
	*is_meta = 0;
	if (meta == NULL)
		return 0;
	if (!always && (meta->tlp == NULL || meta->tlp[0] == '\0') &&
	    (meta->local == NULL || meta->local[0] == '\0')) {
		if (meta->indicator == NULL)
			return 0;
		/* The line numbers of a list would be most of its bytes
		 * as strings. */
		if (line_indicator(meta->indicator, off)) {
			*off |= BL_LINE;
			return 0;
		}
		if ((rc = rec_put(rec, sizeof(rec), &n, meta->indicator)) < 0)
			return rc;
		if (rec[0] == BL_META_MARK)
			rec[0] = '?';
		return ind_intern(b, rec, n, off);
	}
	rec[n++] = BL_META_MARK;
	if ((rc = rec_put(rec, sizeof(rec), &n, meta->indicator)) < 0 ||
	    (rc = rec_put(rec, sizeof(rec), &n, meta->tlp)) < 0 ||
	    (rc = rec_put(rec, sizeof(rec), &n, meta->local)) < 0)
		return rc;
	*is_meta = 1;
	return ind_intern(b, rec, n, off);
}

static int
meta_check(enum rg_action action, int feed, const struct rg_bl_builder *b,
    const struct rg_bl_meta *meta)
{
	if ((unsigned)action >= RG_ACTION_COUNT || feed < 0 ||
	    (size_t)feed >= b->nfeeds)
		return -EINVAL;
	if (action == RG_ACTION_LOCAL && (meta == NULL ||
	    meta->local == NULL || meta->local[0] == '\0'))
		return -EINVAL;
	return 0;
}

/* Whether IND is the rule (WIRE, WL, WILD) as a match shows it. */
static int
indicator_is_rule(const char *ind, const uint8_t *wire, size_t wl, int wild)
{
	char text[258];

	if (strlen(ind) != wl - 1 + (wild ? 2 : 0))
		return 0;
	name_format(wire, wl, wild, text);
	return strcmp(text, ind) == 0;
}

int
rg_bl_builder_add_meta(struct rg_bl_builder *b, const char *name,
    enum rg_action action, int feed, const struct rg_bl_meta *meta)
{
	uint8_t wire[BL_WIRE_MAX + BL_PAD], *e;
	size_t wl, labels, n;
	uint32_t ind = 0;
	int wild, is_meta, rc;

	if (b == NULL || name == NULL || meta_check(action, feed, b, meta) < 0)
		return -EINVAL;
	if ((rc = name_parse(name, strlen(name), wire, &wl, &labels,
	    &wild)) < 0)
		return rc;
	if (wl == 0)
		return -EINVAL;
	if (b->count >= BL_RULES_MAX)
		return -ENOMEM;
	/* An RPZ rule's indicator is its owner: a million of them would be
	 * a million strings kept twice. */
	if (meta != NULL && meta->indicator != NULL &&
	    (meta->tlp == NULL || meta->tlp[0] == '\0') &&
	    (meta->local == NULL || meta->local[0] == '\0') &&
	    indicator_is_rule(meta->indicator, wire, wl, wild)) {
		ind = BL_SELF;
		is_meta = 0;
	} else if ((rc = meta_intern(b, meta, 0, &ind, &is_meta)) < 0)
		return rc;
	n = 2 + wl + (feed > 255 ? 2 : 1) + (ind != 0 ? 4 : 0);
	if ((rc = grow(&b->blob, &b->cap, b->len, n, BL_BLOB_MAX)) < 0)
		return rc;
	e = b->blob + b->len;
	e[0] = (uint8_t)wl;
	e[1] = (uint8_t)action | (wild ? BL_WILD : 0) |
	    (ind != 0 ? BL_IND : 0) | (feed > 255 ? BL_FEED16 : 0) |
	    (is_meta ? BL_META : 0);
	memcpy(e + 2, wire, wl);
	e += 2 + wl;
	*e++ = (uint8_t)feed;
	if (feed > 255)
		*e++ = (uint8_t)(feed >> 8);
	if (ind != 0)
		memcpy(e, &ind, 4);
	b->len += n;
	b->count++;
	depth_set(b->depths[wild], labels);
	return 0;
}

int
rg_bl_builder_add(struct rg_bl_builder *b, const char *name,
    enum rg_action action, int feed, const char *indicator)
{
	struct rg_bl_meta meta = { indicator, NULL, NULL };

	return rg_bl_builder_add_meta(b, name, action, feed, &meta);
}

/* PREFIX as an IPv6 address (IPv4-mapped for IPv4) masked to its
 * length, which counts over the 128 bits. */
static int
ip_parse(const char *prefix, uint8_t addr[16], uint8_t *lenp)
{
	char buf[64], *slash, *end;
	unsigned long len;
	unsigned i;
	int v4;

	if (strlen(prefix) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, prefix);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	v4 = strchr(buf, ':') == NULL;
	if (v4) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		if (inet_pton(AF_INET, buf, addr + 12) != 1)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, buf, addr) != 1)
		return -EINVAL;
	len = v4 ? 32 : 128;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			return -EINVAL;
		len = strtoul(slash, &end, 10);
		if (*end != '\0' || len > (v4 ? 32u : 128u))
			return -EINVAL;
	}
	if (v4)
		len += 96;
	for (i = (unsigned)len; i < 128; i++)
		addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	*lenp = (uint8_t)len;
	return 0;
}

int
rg_bl_builder_add_ip(struct rg_bl_builder *b, const char *prefix,
    enum rg_action action, int feed, const struct rg_bl_meta *meta)
{
	struct rg_bl_meta none = { NULL, NULL, NULL };
	struct bl_ip *ip;
	uint32_t ind;
	int is_meta, rc;
	size_t cap;
	void *p;

	if (b == NULL || prefix == NULL || meta_check(action, feed, b, meta) < 0)
		return -EINVAL;
	if (b->nips == b->ips_cap) {
		cap = b->ips_cap != 0 ? b->ips_cap * 2 : 64;
		if (b->nips >= BL_RULES_MAX ||
		    (p = reallocarray(b->ips, cap, sizeof(*b->ips))) == NULL)
			return -ENOMEM;
		b->ips = p;
		b->ips_cap = cap;
	}
	ip = &b->ips[b->nips];
	if ((rc = ip_parse(prefix, ip->addr, &ip->len)) < 0)
		return rc;
	if ((rc = meta_intern(b, meta != NULL ? meta : &none, 1, &ind,
	    &is_meta)) < 0)
		return rc;
	ip->action = (uint8_t)action;
	ip->meta = (uint8_t)is_meta;
	ip->feed = (uint16_t)feed;
	ip->ind = ind;
	ip->seq = (uint32_t)b->nips;
	b->nips++;
	b->count++;
	return 0;
}

size_t
rg_bl_builder_count(const struct rg_bl_builder *b)
{
	return b != NULL ? b->count : 0;
}

/* Size of an entry of the builder. */
static inline size_t
src_size(const uint8_t *e)
{
	return 2 + (size_t)e[0] + ((e[1] & BL_FEED16) ? 2 : 1) +
	    ((e[1] & BL_IND) ? 4 : 0);
}

static inline unsigned
src_feed(const uint8_t *e)
{
	const uint8_t *f = e + 2 + e[0];

	return (e[1] & BL_FEED16) ? f[0] | (unsigned)f[1] << 8 : f[0];
}

/* Size of an entry in a bucket. */
static inline size_t
ent_size(const uint8_t *e)
{
	return 2 + ((e[1] & BL_LONG) ? 4 : (size_t)e[0]) +
	    ((e[1] & BL_FEED16) ? 2 : 1) + ((e[1] & BL_IND) ? 4 : 0);
}

static inline const uint8_t *
ent_name(const struct rg_blocklist *bl, const uint8_t *e)
{
	uint32_t off;

	if (!(e[1] & BL_LONG))
		return e + 2;
	memcpy(&off, e + 2, 4);
	return bl->longs + off;
}

/* The hash byte of a key with hash H: never 0, the byte of a free slot. */
static inline uint8_t
key_tag(uint64_t h)
{
	uint8_t t = (uint8_t)h;

	return t + (t == 0);
}

/* The slots of bucket BK whose hash byte may be TAG: the high bit of each
 * byte of the result (a false hit now and then, never a miss). */
static inline uint64_t
bkt_match(const uint8_t *bk, uint8_t tag)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t x = load_le64(bk + 2) ^ (ones * tag);

	return (x - ones) & ~x & (ones << 7);
}

/* Whether the N bytes at A and B are equal; reads none past them. */
static inline int
name_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t x, y;
	uint32_t u, v;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return 0;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		if (u != v)
			return 0;
		memcpy(&u, a + n - 4, 4);
		memcpy(&v, b + n - 4, 4);
		return u == v;
	}
	return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] &&
	    a[n - 1] == b[n - 1]);
}

/* The two buckets of hash H: its low half and its high half mapped onto
 * [0, NBUCKETS). */
static inline uint8_t *
bkt_one(const struct rg_blocklist *bl, uint64_t h)
{
	return bl->buckets + (((h & 0xffffffffULL) * bl->nbuckets) >> 32) *
	    BKT_SIZE;
}

static inline uint8_t *
bkt_two(const struct rg_blocklist *bl, uint64_t h)
{
	return bl->buckets + (((h >> 32) * bl->nbuckets) >> 32) * BKT_SIZE;
}

static inline const uint8_t *
bkt_search(const struct rg_blocklist *bl, const uint8_t *bk,
    const uint8_t *wire, size_t wl, int wild, uint8_t tag)
{
	uint64_t hit = bkt_match(bk, tag);
	const uint8_t *e = bk + BKT_HDR;
	unsigned at = 0, slot;

	for (; hit != 0; hit &= hit - 1) {
		slot = (unsigned)__builtin_ctzll(hit) / 8;
		for (; at < slot; at++)
			e += ent_size(e);
		if (e[0] == wl && !(e[1] & BL_WILD) == !wild &&
		    name_eq(ent_name(bl, e), wire, wl))
			return e;
	}
	return NULL;
}

/* The entry of key (WIRE, WL, WILD) whose buckets are BK and B2 and hash
 * byte TAG, or NULL: in one of its two buckets or, when the first
 * overflowed, in the buckets after it. */
static inline const uint8_t *
bl_search_in(const struct rg_blocklist *bl, const uint8_t *bk,
    const uint8_t *b2, const uint8_t *wire, size_t wl, int wild, uint8_t tag)
{
	const uint8_t *last, *e;
	size_t i;

	if ((e = bkt_search(bl, bk, wire, wl, wild, tag)) != NULL ||
	    (e = bkt_search(bl, b2, wire, wl, wild, tag)) != NULL)
		return e;
	if (!(bk[0] & BKT_OVF))
		return NULL;
	last = bl->buckets + (bl->nbuckets - 1) * BKT_SIZE;
	for (i = 1; i < bl->nbuckets && (bk[0] & BKT_OVF); i++) {
		bk = bk == last ? bl->buckets : bk + BKT_SIZE;
		if ((e = bkt_search(bl, bk, wire, wl, wild, tag)) != NULL)
			return e;
	}
	return NULL;
}

/* The entry of key (WIRE, WL, WILD) with hash H, or NULL. */
static const uint8_t *
bl_search(const struct rg_blocklist *bl, const uint8_t *wire, size_t wl,
    int wild, uint64_t h)
{
	return bl_search_in(bl, bkt_one(bl, h), bkt_two(bl, h), wire, wl,
	    wild, key_tag(h));
}

/*
 * The filter: a key sets one bit in each word of one block (split-block
 * Bloom filter, as in Parquet), chosen by a second hash of its hash.
 */
static const uint32_t bf_salt[BF_WORDS] = {
	0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
	0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U
};

static inline const uint32_t *
bf_block(const struct rg_blocklist *bl, uint64_t h2)
{
	return bl->filter + ((h2 >> 32) * bl->nblocks >> 32) * BF_WORDS;
}

static inline uint64_t
bf_hash(uint64_t kh)
{
	return bl_mum(kh, 0x2d358dccaa6c78a5ULL);
}

static inline int
bf_has(const uint32_t *blk, uint64_t h2)
{
	uint32_t x = (uint32_t)h2, miss = 0;
	unsigned i;

	for (i = 0; i < BF_WORDS; i++)
		miss |= ~blk[i] & (1U << ((x * bf_salt[i]) >> 27));
	return miss == 0;
}

static void
bf_add(struct rg_blocklist *bl, uint64_t kh)
{
	uint64_t h2 = bf_hash(kh);
	uint32_t *blk = (uint32_t *)bf_block(bl, h2), x = (uint32_t)h2;
	unsigned i;

	for (i = 0; i < BF_WORDS; i++)
		blk[i] |= 1U << ((x * bf_salt[i]) >> 27);
}

/* Whether bucket BK has room for an entry of N bytes. */
static inline int
bkt_fits(const uint8_t *bk, size_t n)
{
	return (size_t)BKT_ROOM - (bk[0] & BKT_USED) >= n &&
	    bk[1] < BKT_SLOTS;
}

/* Append the entry ENT (N bytes, bucket form) with hash byte TAG to BK. */
static void
bkt_put(uint8_t *bk, uint8_t tag, const uint8_t *ent, size_t n)
{
	size_t used = bk[0] & BKT_USED;

	memcpy(bk + BKT_HDR + used, ent, n);
	bk[2 + bk[1]++] = tag;
	bk[0] = (uint8_t)((bk[0] & BKT_OVF) | (used + n));
}

/* Take the entry of slot SLOT out of BK into OUT; its size. */
static size_t
bkt_take(uint8_t *bk, unsigned slot, uint8_t *out)
{
	uint8_t *e = bk + BKT_HDR;
	size_t used = bk[0] & BKT_USED, n, off;
	unsigned i;

	for (i = 0; i < slot; i++)
		e += ent_size(e);
	n = ent_size(e);
	memcpy(out, e, n);
	off = (size_t)(e - (bk + BKT_HDR));
	memmove(e, e + n, used - off - n);
	memset(bk + BKT_HDR + used - n, 0, n);
	memmove(bk + 2 + slot, bk + 3 + slot, bk[1] - slot - 1);
	bk[2 + --bk[1]] = 0;
	bk[0] = (uint8_t)((bk[0] & BKT_OVF) | (used - n));
	return n;
}

/* The hash of the key of entry E of BL. */
static uint64_t
ent_hash(const struct rg_blocklist *bl, const uint8_t *e)
{
	uint8_t key[BL_WIRE_MAX + BL_PAD];

	memcpy(key, ent_name(bl, e), e[0]);
	memset(key + e[0], 0, BL_PAD);
	return key_hash(key, e[0], e[1] & BL_WILD);
}

/*
 * Place the entry ENT (N bytes, bucket form; room for BKT_ROOM) whose key
 * has hash H.  In the emptier of its two buckets when one has room; else
 * an entry of one of them moves to its other bucket to make room, and so
 * on for at most BL_KICKS moves (cuckoo hashing), so that a lookup seldom
 * has to look past the two buckets it prefetched.  Should that fail, the
 * entry left without a place goes to the first bucket with room after its
 * first choice, and the buckets passed are marked as overflowing.  Returns
 * 0 or -ENOSPC.
 */
static int
bl_put(struct rg_blocklist *bl, uint8_t *ent, size_t n, uint64_t h,
    uint64_t *rng)
{
	uint8_t victim[BKT_ROOM], *bk, *b1, *b2, *from = NULL, *last, *e;
	unsigned kick, slot, cand[BKT_SLOTS], nc, i, r;
	const uint8_t *at[BKT_SLOTS];
	size_t vn, used;
	uint64_t vh;

	for (kick = 0; kick <= BL_KICKS; kick++) {
		b1 = bkt_one(bl, h);
		b2 = bkt_two(bl, h);
		if ((b2[0] & BKT_USED) < (b1[0] & BKT_USED)) {
			bk = b1;
			b1 = b2;
			b2 = bk;
		}
		if (bkt_fits(b1, n)) {
			bkt_put(b1, key_tag(h), ent, n);
			return 0;
		}
		if (bkt_fits(b2, n)) {
			bkt_put(b2, key_tag(h), ent, n);
			return 0;
		}
		if (kick == BL_KICKS || b1 == b2)
			break;
		/* Evict from the bucket the last entry did not come from an
		 * entry whose place is there and that leaves room. */
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		bk = b1 == from ? b2 : b2 == from ? b1 : (*rng & 1) ? b1 : b2;
		/* The entries that would leave room, from a random one on:
		 * the first whose place is there. */
		used = bk[0] & BKT_USED;
		for (nc = i = 0, e = bk + BKT_HDR; i < bk[1];
		    i++, e += ent_size(e))
			if ((size_t)BKT_ROOM - used + ent_size(e) >= n) {
				cand[nc] = i;
				at[nc++] = e;
			}
		for (i = 0, r = (unsigned)(*rng >> 8); i < nc; i++) {
			vh = ent_hash(bl, at[(r + i) % nc]);
			if (bkt_one(bl, vh) == bk || bkt_two(bl, vh) == bk)
				break;
		}
		if (i == nc)
			break;
		slot = cand[(r + i) % nc];
		vn = bkt_take(bk, slot, victim);
		bkt_put(bk, key_tag(h), ent, n);
		memcpy(ent, victim, vn);
		n = vn;
		h = vh;
		from = bk;
	}
	bk = bkt_one(bl, h);
	last = bl->buckets + (bl->nbuckets - 1) * BKT_SIZE;
	for (i = 0; i < bl->nbuckets; i++) {
		if (bkt_fits(bk, n)) {
			bkt_put(bk, key_tag(h), ent, n);
			return 0;
		}
		bk[0] |= BKT_OVF;
		bk = bk == last ? bl->buckets : bk + BKT_SIZE;
	}
	return -ENOSPC;
}

/*
 * Put the builder's entry SRC, whose key KEY has hash H, in the table.
 * Returns 1, 0 for a name already there, -ENOSPC when no bucket has room,
 * or -ENOMEM.
 */
static int
bl_place(struct rg_blocklist *bl, const uint8_t *src, const uint8_t *key,
    uint64_t h, size_t *longs_cap, uint64_t *rng)
{
	size_t wl = src[0], tail = src_size(src) - 2 - wl, n;
	int is_long = wl > BL_INLINE_MAX, rc;
	uint8_t ent[BKT_ROOM];
	uint32_t off;

	if (bl_search(bl, key, wl, src[1] & BL_WILD, h) != NULL)
		return 0;
	ent[0] = (uint8_t)wl;
	ent[1] = src[1] | (is_long ? BL_LONG : 0);
	if (is_long) {
		if ((rc = grow(&bl->longs, longs_cap, bl->longs_len, wl,
		    BL_BLOB_MAX)) < 0)
			return rc;
		off = (uint32_t)bl->longs_len;
		memcpy(bl->longs + off, key, wl);
		bl->longs_len += wl;
		memcpy(ent + 2, &off, 4);
		n = 2 + 4;
	} else {
		memcpy(ent + 2, key, wl);
		n = 2 + wl;
	}
	memcpy(ent + n, src + 2 + wl, tail);
	n += tail;
	if ((rc = bl_put(bl, ent, n, h, rng)) < 0)
		return rc;
	return 1;
}

/*
 * The bucket array of NBUCKETS buckets.  A large one is aligned on and
 * rounded up to 2 MiB, and asks for transparent huge pages: lookups touch
 * random places of it, and with 4 KiB pages each would also miss the TLB.
 */
static uint8_t *
buckets_alloc(size_t nbuckets)
{
	size_t bytes = nbuckets * BKT_SIZE;
	uint8_t *p;

	if (bytes < BL_HUGE_MIN)
		return aligned_alloc(BKT_SIZE, bytes);
	bytes = (bytes + BL_HUGE - 1) & ~(size_t)(BL_HUGE - 1);
	if ((p = aligned_alloc(BL_HUGE, bytes)) != NULL)
		(void)madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

/* Fill BL's buckets from the builder B's entries; 0, -ENOSPC or -ENOMEM. */
static int
bl_fill(struct rg_blocklist *bl, const struct rg_bl_builder *b)
{
	uint8_t key[BL_WIRE_MAX + BL_PAD];
	size_t r, n, longs_cap = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	const uint8_t *e;
	uint64_t h;
	int rc;

	free(bl->longs);
	bl->longs = NULL;
	bl->longs_len = 0;
	bl->entries = 0;
	memset(bl->feed_entries, 0, (b->nfeeds + 1) *
	    sizeof(*bl->feed_entries));
	memset(bl->buckets, 0, bl->nbuckets * BKT_SIZE);
	memset(bl->filter, 0, bl->nblocks * BF_WORDS * 4);
	for (r = 1; r < b->len; r += n) {
		e = b->blob + r;
		n = src_size(e);
		memcpy(key, e + 2, e[0]);
		memset(key + e[0], 0, BL_PAD);
		h = key_hash(key, e[0], e[1] & BL_WILD);
		if ((rc = bl_place(bl, e, key, h, &longs_cap, &rng)) < 0)
			return rc;
		if (rc == 1) {
			bf_add(bl, h);
			bl->feed_entries[src_feed(e)]++;
			bl->entries++;
		}
	}
	return 0;
}

static int
ip_cmp(const void *a, const void *b)
{
	const struct bl_ip *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	if ((c = memcmp(x->addr, y->addr, 16)) != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The response-IP rules of B, sorted, the first of equal keys kept. */
static int
ips_build(struct rg_blocklist *bl, struct rg_bl_builder *b)
{
	size_t i, n = 0;

	if (b->nips == 0)
		return 0;
	qsort(b->ips, b->nips, sizeof(*b->ips), ip_cmp);
	for (i = 0; i < b->nips; i++) {
		if (n > 0 && b->ips[n - 1].len == b->ips[i].len &&
		    memcmp(b->ips[n - 1].addr, b->ips[i].addr, 16) == 0)
			continue;
		b->ips[n++] = b->ips[i];
		if (bl->n_ip_lens == 0 ||
		    bl->ip_lens[bl->n_ip_lens - 1] != b->ips[i].len)
			bl->ip_lens[bl->n_ip_lens++] = b->ips[i].len;
		bl->feed_entries[b->ips[i].feed]++;
	}
	bl->ips = b->ips;
	bl->nips = n;
	b->ips = NULL;
	b->nips = b->ips_cap = 0;
	return 0;
}

struct rg_blocklist *
rg_bl_build(struct rg_bl_builder *b)
{
	struct rg_blocklist *bl = NULL;
	size_t r, n, total = 0, count = 0, i;
	const uint8_t *e;
	void *p;
	int rc;

	if (b == NULL)
		return NULL;
	if ((bl = calloc(1, sizeof(*bl))) == NULL ||
	    (bl->feed_entries = calloc(b->nfeeds + 1,
	    sizeof(*bl->feed_entries))) == NULL)
		goto fail;
	for (r = 1; r < b->len; r += n) {
		e = b->blob + r;
		n = src_size(e);
		total += n - (e[0] > BL_INLINE_MAX ? e[0] - 4 : 0);
		count++;
	}
	/* Room for every entry at BKT_FILL percent, of the bytes and of the
	 * slots; more if that fails. */
	bl->nbuckets = total * 100 / (BKT_ROOM * BKT_FILL) + 1;
	if (count * 100 / (BKT_SLOTS * BKT_FILL) + 1 > bl->nbuckets)
		bl->nbuckets = count * 100 / (BKT_SLOTS * BKT_FILL) + 1;
	bl->nblocks = (count * BF_BITS + BF_WORDS * 32 - 1) / (BF_WORDS * 32);
	if (bl->nblocks == 0)
		bl->nblocks = 1;
	if ((bl->filter = aligned_alloc(BF_WORDS * 4,
	    bl->nblocks * BF_WORDS * 4)) == NULL)
		goto fail;
	for (;;) {
		if ((bl->buckets = buckets_alloc(bl->nbuckets)) == NULL)
			goto fail;
		if ((rc = bl_fill(bl, b)) == 0)
			break;
		free(bl->buckets);
		bl->buckets = NULL;
		if (rc != -ENOSPC)
			goto fail;
		bl->nbuckets += bl->nbuckets / 4 + 1;
	}
	if (bl->longs != NULL &&
	    (p = realloc(bl->longs, bl->longs_len)) != NULL)
		bl->longs = p;

	if ((rc = ips_build(bl, b)) < 0)
		goto fail;
	bl->ind = b->ind;
	bl->ind_len = b->ind_len;
	if ((p = realloc(b->ind, b->ind_len)) != NULL)
		bl->ind = p;
	b->ind = NULL;
	bl->feeds = b->feeds;
	bl->nfeeds = b->nfeeds;
	b->feeds = NULL;
	b->nfeeds = 0;
	memcpy(bl->depths, b->depths, sizeof(bl->depths));

	bl->bytes = sizeof(*bl) + bl->nbuckets * BKT_SIZE + bl->longs_len +
	    bl->nblocks * BF_WORDS * 4 +
	    bl->nips * sizeof(*bl->ips) +
	    bl->ind_len + (bl->nfeeds + 1) * sizeof(*bl->feed_entries) +
	    bl->nfeeds * sizeof(*bl->feeds);
	for (i = 0; i < bl->nfeeds; i++)
		bl->bytes += strlen(bl->feeds[i]) + 1;
	rg_bl_builder_free(b);
	return bl;
fail:
	if (bl != NULL) {
		free(bl->buckets);
		free(bl->filter);
		free(bl->longs);
		free(bl->ips);
		free(bl->feed_entries);
		free(bl);
	}
	rg_bl_builder_free(b);
	return NULL;
}

void
rg_bl_free(struct rg_blocklist *bl)
{
	if (bl == NULL)
		return;
	free(bl->buckets);
	free(bl->filter);
	free(bl->longs);
	free(bl->ind);
	free(bl->ips);
	free(bl->feed_entries);
	feeds_free(bl->feeds, bl->nfeeds);
	free(bl);
}

/* The indicator, TLP and local data of record IND. */
static void
meta_fill(const struct rg_blocklist *bl, uint32_t ind, int is_meta,
    struct rg_bl_match *m)
{
	const char *p;

	m->indicator = m->tlp = m->local = NULL;
	if (ind == 0)
		return;
	if (ind == BL_SELF) {
		m->indicator = m->rule;
		return;
	}
	if (ind & BL_LINE) {
		snprintf(m->indicator_buf, sizeof(m->indicator_buf), "line %u",
		    (unsigned)(ind & ~BL_LINE));
		m->indicator = m->indicator_buf;
		return;
	}
	p = bl->ind + ind;
	if (!is_meta) {
		m->indicator = p;
		return;
	}
	p++;
	m->indicator = *p != '\0' ? p : NULL;
	p += strlen(p) + 1;
	m->tlp = *p != '\0' ? p : NULL;
	p += strlen(p) + 1;
	m->local = *p != '\0' ? p : NULL;
}

static void
match_fill(const struct rg_blocklist *bl, const uint8_t *e,
    struct rg_bl_match *m)
{
	const uint8_t *f = e + 2 + ((e[1] & BL_LONG) ? 4 : e[0]);
	uint32_t ind = 0;

	if (m == NULL)
		return;
	m->action = (enum rg_action)(e[1] & BL_ACTION_MASK);
	m->wildcard = (e[1] & BL_WILD) != 0;
	if (e[1] & BL_FEED16) {
		m->feed = bl->feeds[f[0] | (unsigned)f[1] << 8];
		f += 2;
	} else
		m->feed = bl->feeds[*f++];
	if (e[1] & BL_IND)
		memcpy(&ind, f, 4);
	meta_fill(bl, ind, (e[1] & BL_META) != 0, m);
	name_format(ent_name(bl, e), e[0], m->wildcard, m->rule);
}

/*
 * Look up the lowercased wire name BUF (WL bytes without the root label,
 * then BL_PAD zero bytes) whose labels start at LAB[0..NL).  The keys are
 * the exact name and each parent at a depth where wildcards exist, hashed
 * in one pass from the right.  The header lines of every key's buckets
 * are asked of memory with its filter block, before the filter has
 * spoken: a key that is there then waits for one memory read, not for the
 * filter and then the read.  A key the filter turns away does not wait
 * for its buckets at all.  Those that pass get their buckets' second
 * lines too, and are searched in precedence order.
 */
static int
bl_find(const struct rg_blocklist *bl, const uint8_t *buf, size_t wl,
    const uint8_t *lab, size_t nl, struct rg_bl_match *m)
{
	struct {
		const uint8_t *p;
		const uint8_t *b1, *b2;
		const uint32_t *blk;
		uint64_t kh, h2;
		uint8_t n;
		uint8_t wild;
		uint8_t tag;
	} key[BL_LABELS_MAX];
	const uint8_t *e;
	uint64_t h = BL_SEED, kh;
	size_t nk = 0, k, n;

	if (bl == NULL || bl->entries == 0 || nl == 0)
		return 0;
	/* Parents from the shortest, so that the keys come out longest
	 * first once reversed. */
	for (k = nl; k-- > 1;) {
		h = label_hash(h, buf + lab[k]);
		if (!depth_has(bl->depths[1], nl - k))
			continue;
		key[nk].p = buf + lab[k];
		key[nk].n = (uint8_t)(wl - lab[k]);
		key[nk].wild = 1;
		key[nk].kh = key_final(h, 1);
		prefetch(key[nk].blk = bf_block(bl,
		    key[nk].h2 = bf_hash(key[nk].kh)));
		prefetch(key[nk].b1 = bkt_one(bl, key[nk].kh));
		prefetch(key[nk].b2 = bkt_two(bl, key[nk].kh));
		nk++;
	}
	if (depth_has(bl->depths[0], nl)) {
		h = label_hash(h, buf);
		key[nk].p = buf;
		key[nk].n = (uint8_t)wl;
		key[nk].wild = 0;
		key[nk].kh = key_final(h, 0);
		prefetch(key[nk].blk = bf_block(bl,
		    key[nk].h2 = bf_hash(key[nk].kh)));
		prefetch(key[nk].b1 = bkt_one(bl, key[nk].kh));
		prefetch(key[nk].b2 = bkt_two(bl, key[nk].kh));
		nk++;
	}
	/* The keys the filter lets through. */
	for (k = n = 0; k < nk; k++) {
		if (!bf_has(key[k].blk, key[k].h2))
			continue;
		kh = key[k].kh;
		key[n] = key[k];
		key[n].tag = key_tag(kh);
		prefetch(key[n].b1 + 64);
		prefetch(key[n].b2 + 64);
		n++;
	}
	for (k = n; k-- > 0;) {
		e = bl_search_in(bl, key[k].b1, key[k].b2, key[k].p, key[k].n,
		    key[k].wild, key[k].tag);
		if (e != NULL) {
			match_fill(bl, e, m);
			return 1;
		}
	}
	return 0;
}

int
rg_bl_lookup(const struct rg_blocklist *bl, const uint8_t *name,
    size_t len, struct rg_bl_match *m)
{
	uint8_t buf[BL_WIRE_MAX + BL_PAD], lab[BL_LABELS_MAX];
	size_t pos = 0, nl = 0, end;
	uint8_t c;

	if (name == NULL)
		return -EINVAL;
	for (;;) {
		if (pos >= len)
			return -EINVAL;
		if ((c = name[pos]) == 0)
			break;
		/* Compression pointers and extended label types. */
		if (c & 0xc0)
			return -EINVAL;
		end = pos + 1 + c;
		if (end >= len || end + 1 > BL_WIRE_MAX)
			return -EINVAL;
		lab[nl++] = (uint8_t)pos;
		pos = end;
	}
	copy_short(buf, name, pos);
	memset(buf + pos, 0, BL_PAD);
	lower_words(buf, pos);
	return bl_find(bl, buf, pos, lab, nl, m);
}

int
rg_bl_lookup_str(const struct rg_blocklist *bl, const char *name,
    struct rg_bl_match *m)
{
	uint8_t buf[BL_WIRE_MAX + BL_PAD], lab[BL_LABELS_MAX];
	size_t wl, nl, pos, k;

	if (name == NULL ||
	    name_parse(name, strlen(name), buf, &wl, &nl, NULL) < 0)
		return -EINVAL;
	memset(buf + wl, 0, BL_PAD);
	for (pos = k = 0; pos < wl; pos += 1 + buf[pos])
		lab[k++] = (uint8_t)pos;
	return bl_find(bl, buf, wl, lab, nl, m);
}

/* An IP rule in presentation form. */
static void
ip_format(const struct bl_ip *ip, char *buf, size_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	char a[INET6_ADDRSTRLEN];

	if (ip->len >= 96 && memcmp(ip->addr, mapped, 12) == 0) {
		inet_ntop(AF_INET, ip->addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, ip->len - 96u);
	} else {
		inet_ntop(AF_INET6, ip->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, (unsigned)ip->len);
	}
}

static void
ip_match_fill(const struct rg_blocklist *bl, const struct bl_ip *ip,
    struct rg_bl_match *m)
{
	if (m == NULL)
		return;
	m->action = (enum rg_action)ip->action;
	m->wildcard = 0;
	m->feed = bl->feeds[ip->feed];
	meta_fill(bl, ip->ind, ip->meta, m);
	ip_format(ip, m->rule, sizeof(m->rule));
}

int
rg_bl_lookup_ip(const struct rg_blocklist *bl, int family,
    const uint8_t *addr, struct rg_bl_match *m)
{
	const struct bl_ip *best = NULL, *ip;
	uint8_t key[16];
	size_t k, lo, hi, mid;
	unsigned len, i;
	int c;

	if (bl == NULL || bl->nips == 0 || addr == NULL)
		return 0;
	if (family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, addr, 4);
	} else if (family == AF_INET6)
		memcpy(key, addr, 16);
	else
		return 0;
	/* Longest prefix first; an earlier feed beats a longer prefix. */
	lo = 0;
	for (k = 0; k < bl->n_ip_lens; k++) {
		uint8_t masked[16];

		len = bl->ip_lens[k];
		memcpy(masked, key, 16);
		for (i = len; i < 128; i++)
			masked[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
		/* The rules of this length follow those of longer ones. */
		while (lo < bl->nips && bl->ips[lo].len > len)
			lo++;
		hi = lo;
		while (hi < bl->nips && bl->ips[hi].len == len)
			hi++;
		{
			size_t a = lo, z = hi;

			while (a < z) {
				mid = a + (z - a) / 2;
				c = memcmp(bl->ips[mid].addr, masked, 16);
				if (c == 0) {
					ip = &bl->ips[mid];
					if (best == NULL || ip->feed < best->feed)
						best = ip;
					break;
				}
				if (c < 0)
					a = mid + 1;
				else
					z = mid;
			}
		}
		lo = hi;
	}
	if (best == NULL)
		return 0;
	ip_match_fill(bl, best, m);
	return 1;
}

size_t
rg_bl_ip_entries(const struct rg_blocklist *bl)
{
	return bl != NULL ? bl->nips : 0;
}

int
rg_bl_foreach(const struct rg_blocklist *bl, rg_bl_rule_cb *cb, void *arg)
{
	const uint8_t *bk, *e;
	struct rg_bl_match m;
	struct rg_bl_rule r;
	size_t i, j;
	int rc;

	if (bl == NULL)
		return 0;
	for (i = 0; bl->entries > 0 && i < bl->nbuckets; i++) {
		bk = bl->buckets + i * BKT_SIZE;
		e = bk + BKT_HDR;
		for (j = 0; j < bk[1]; j++, e += ent_size(e)) {
			match_fill(bl, e, &m);
			r.name = m.wildcard ? m.rule + 2 : m.rule;
			if (m.wildcard && e[0] == 0)
				r.name = ".";
			r.wildcard = m.wildcard;
			r.action = m.action;
			r.feed = m.feed;
			r.indicator = m.indicator;
			r.tlp = m.tlp;
			r.local = m.local;
			r.prefix = NULL;
			if ((rc = cb(arg, &r)) != 0)
				return rc;
		}
	}
	for (i = 0; i < bl->nips; i++) {
		ip_match_fill(bl, &bl->ips[i], &m);
		r.name = NULL;
		r.wildcard = 0;
		r.action = m.action;
		r.feed = m.feed;
		r.indicator = m.indicator;
		r.tlp = m.tlp;
		r.local = m.local;
		r.prefix = m.rule;
		if ((rc = cb(arg, &r)) != 0)
			return rc;
	}
	return 0;
}

size_t
rg_bl_entries(const struct rg_blocklist *bl)
{
	return bl != NULL ? bl->entries + bl->nips : 0;
}

size_t
rg_bl_feed_entries(const struct rg_blocklist *bl, int feed)
{
	if (bl == NULL || feed < 0 || (size_t)feed >= bl->nfeeds)
		return 0;
	return bl->feed_entries[feed];
}

size_t
rg_bl_bytes(const struct rg_blocklist *bl)
{
	return bl != NULL ? bl->bytes : 0;
}

struct rg_bl_domain *
rg_bl_domain_new(unsigned readers, struct rg_blocklist *initial)
{
	struct rg_bl_domain *d;
	unsigned i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if (readers > 0) {
		d->readers = aligned_alloc(alignof(struct bl_reader),
		    readers * sizeof(*d->readers));
		if (d->readers == NULL) {
			free(d);
			return NULL;
		}
	}
	d->nreaders = readers;
	for (i = 0; i < readers; i++)
		atomic_init(&d->readers[i].epoch, 0);
	atomic_init(&d->epoch, 0);
	atomic_init(&d->current, initial);
	return d;
}

void
rg_bl_domain_free(struct rg_bl_domain *d)
{
	struct rg_blocklist *bl, *next;

	if (d == NULL)
		return;
	rg_bl_free(atomic_load(&d->current));
	for (bl = d->retired; bl != NULL; bl = next) {
		next = bl->retired_next;
		rg_bl_free(bl);
	}
	free(d->readers);
	free(d);
}

void
rg_bl_publish(struct rg_bl_domain *d, struct rg_blocklist *bl)
{
	struct rg_blocklist *old;

	old = atomic_exchange_explicit(&d->current, bl, memory_order_acq_rel);
	if (old == NULL)
		return;
	/* A reader that sees this epoch loads the new pointer afterwards. */
	old->retired_epoch = atomic_fetch_add_explicit(&d->epoch, 1,
	    memory_order_acq_rel) + 1;
	old->retired_next = d->retired;
	d->retired = old;
}

void
rg_bl_reclaim(struct rg_bl_domain *d)
{
	struct rg_blocklist **pp, *bl;
	uint64_t min, e;
	unsigned i;

	if (d->retired == NULL || d->holds > 0)
		return;
	min = atomic_load_explicit(&d->epoch, memory_order_acquire);
	for (i = 0; i < d->nreaders; i++) {
		e = atomic_load_explicit(&d->readers[i].epoch,
		    memory_order_acquire);
		if (e < min)
			min = e;
	}
	for (pp = &d->retired; (bl = *pp) != NULL;) {
		if (bl->retired_epoch <= min) {
			*pp = bl->retired_next;
			rg_bl_free(bl);
		} else
			pp = &bl->retired_next;
	}
}

void
rg_bl_hold(struct rg_bl_domain *d)
{
	d->holds++;
}

void
rg_bl_release(struct rg_bl_domain *d)
{
	if (d->holds > 0 && --d->holds == 0)
		rg_bl_reclaim(d);
}

const struct rg_blocklist *
rg_bl_current(struct rg_bl_domain *d)
{
	return atomic_load_explicit(&d->current, memory_order_acquire);
}

void
rg_bl_quiescent(struct rg_bl_domain *d, unsigned reader)
{
	uint64_t e;

	if (reader >= d->nreaders)
		return;
	e = atomic_load_explicit(&d->epoch, memory_order_acquire);
	/* Only the owner writes its slot; skip the store when nothing moved,
	 * so an idle loop does not bounce the cache line. */
	if (atomic_load_explicit(&d->readers[reader].epoch,
	    memory_order_relaxed) != e)
		atomic_store_explicit(&d->readers[reader].epoch, e,
		    memory_order_release);
}
