/*
 * feeds.c -- benchmark of the feed formats: what it costs to parse a large
 * feed document and apply it as a new blocklist snapshot.
 *
 * bench/feeds [--rpz N] [--domains N] [--stix N]
 * bench/feeds --write-rpz|--write-domains|--write-stix2 FILE N
 * bench/feeds --probe PORT SECONDS NAME [--out FILE]
 *
 * The first form generates, from a seeded generator, an RPZ zone of N
 * rules (default 1,000,000: most "CNAME .", some "CNAME *.", rpz-drop,
 * rpz-passthru, local data and rpz-ip triggers), a domains list of N lines
 * (default 1,000,000, one in ten a "*." wildcard) and a STIX 2.1 bundle
 * of N indicators (default 100,000: "[domain-name:value = '...']", one in
 * five an OR of two names, most with a TLP marking, by its well-known id
 * or by a marking-definition of the bundle).  Each document is handled in
 * a child process of its own, so that peaks do not mix: the child makes
 * the document, resets its peak resident size (VmHWM, through
 * /proc/self/clear_refs), then applies it as a rebuild of resguardd takes
 * a new document, with the agent's own functions: the parse that checks
 * it and keeps its rules (rg_feed_rules_parse(): rpz and stix2 through
 * their plugins, loaded with rg_plugin_open(), the domains list built
 * in), then the build (rg_feed_rules_build() into a builder, then
 * rg_bl_build()).  It prints the time of that apply, the rules, rules per
 * second, the peak resident size during the apply and the resident size
 * after it (the document still held, as the agent keeps it for the next
 * fetch; freed memory handed back with malloc_trim(3) first, so that
 * "after" is what stays), and checks the targets: an apply under 2 s, a
 * peak at most 2.5 times the size after.
 *
 * --write-rpz, --write-domains and --write-stix2 write the same
 * documents to FILE.
 *
 * --probe sends a query for NAME (type A) to 127.0.0.1 PORT every
 * millisecond for SECONDS seconds (at most 60), round robin over 16
 * sockets (so that SO_REUSEPORT spreads them over the guard workers; with
 * 8, one run in 128 sent all to one of two workers and could not see
 * the other's stalls),
 * matches the replies by ID, and prints the latency of the queries
 * (median, 99th, 99.9th percentile, maximum, the five slowest with the
 * time they were sent), the longest gap between two replies, the queries
 * lost (no reply within 1 s of the last query) and the replies whose rcode
 * was not NXDOMAIN.  A guard worker that stalls holds every query it gets
 * meanwhile, so the slowest query is the longest stall plus one round
 * trip.  Both times of a query are the kernel's (SO_TIMESTAMPING software
 * stamps: when it left, when its reply came in), so that the probe's own
 * scheduling does not count; how late the probe sent is shown apart, and
 * where the kernel gives no stamp the probe's clock stands in.  With --out,
 * each query goes to FILE as "SENT LATENCY RCODE" (SENT in seconds since
 * the epoch, LATENCY in seconds or -1 when lost).
 *
 * Linux and glibc only: VmHWM, clear_refs, malloc_trim, SO_TIMESTAMPING.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "clock.h"
#include "feeds.h"
#include "plugin.h"

#define SEED		0x7265736775617264ULL	/* "resguard" */
#define TIME_TARGET	2.0			/* seconds per apply */
#define PEAK_TARGET	2.5			/* peak over resident after */
#define PROBE_SOCKS	16			/* two workers: all on one
						   with chance 2^-15 */
#define PROBE_MAX_S	60			/* IDs stay unique: < 65536 */
#define PROBE_DRAIN_S	1.0

static const char *const tlds[] = {
	"com", "net", "org", "eu", "de", "fr", "it", "nl", "es", "pl", "se",
	"be", "at", "cz", "info", "io", "xyz", "top", "ru", "cn", "uk", "online"
};

/* The STIX markings used: TLP 2.0 by well-known id, and one defined in
 * the bundle itself. */
#define MARK_LOCAL "marking-definition--a0000000-0000-4000-8000-000000000001"
static const char *const marks[] = {
	NULL,
	"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", /* clear */
	"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", /* green */
	"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", /* amber */
	MARK_LOCAL,					/* amber+strict */
	"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", /* red */
};

/* xoshiro256** */
struct rng {
	uint64_t s[4];
};

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

/* Names made so far, by hash, so that every rule is a distinct name. */
struct seen {
	uint64_t *h;
	size_t mask;
};

enum fmt {
	FMT_RPZ,
	FMT_DOMAINS,
	FMT_STIX,
};

static const char *const fmt_str[] = { "rpz", "domains", "stix2" };

/* What the child of one format found; shared with the parent. */
struct result {
	int ok;
	size_t doc_bytes;
	double apply_s;
	double apply_cpu_s;
	double parse_s;			/* of it, the parse that checks */
	double build_s;			/* the rules into a builder, built */
	double snap_s;			/* of that, rg_bl_build() */
	long emitted;
	uint64_t skipped;
	size_t entries;
	size_t snapshot_bytes;
	size_t rss_before_kb;
	size_t peak_kb;
	size_t after_kb;
	int hwm_reset;
};

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

static void
rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t z;
	int i;

	for (i = 0; i < 4; i++) {
		z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static unsigned
rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(((rng_next(r) >> 32) * n) >> 32);
}

/* A random label of 3 to 12 characters into OUT; its length. */
static size_t
label_gen(struct rng *r, char *out)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 3 + rng_below(r, 10), i;

	for (i = 0; i < n; i++)
		out[i] = i < 2 || rng_below(r, 4) != 0 ?
		    alnum[rng_below(r, 26)] : alnum[rng_below(r, 36)];
	if (n > 4 && rng_below(r, 8) == 0)
		out[1 + rng_below(r, (unsigned)n - 2)] = '-';
	return n;
}

/* A random name of 2 to 4 labels, "*."-prefixed if WILD, into OUT. */
static size_t
name_gen(struct rng *r, char *out, int wild)
{
	unsigned labels = 2 + rng_below(r, 3), i;
	const char *tld;
	size_t o = 0;

	if (wild) {
		memcpy(out, "*.", 2);
		o = 2;
	}
	for (i = 0; i + 1 < labels; i++) {
		o += label_gen(r, out + o);
		out[o++] = '.';
	}
	tld = tlds[rng_below(r, sizeof(tlds) / sizeof(tlds[0]))];
	memcpy(out + o, tld, strlen(tld));
	o += strlen(tld);
	out[o] = '\0';
	return o;
}

static int
seen_init(struct seen *s, size_t n)
{
	size_t cap = 1024;

	while (cap < n * 2)
		cap *= 2;
	s->mask = cap - 1;
	return (s->h = calloc(cap, sizeof(*s->h))) == NULL ? -ENOMEM : 0;
}

static void
seen_free(struct seen *s)
{
	free(s->h);
	s->h = NULL;
}

/* 1 when NAME was made before (or its hash was), else remember it. */
static int
seen_add(struct seen *s, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ULL;
	h |= 1;			/* 0 marks an empty slot */
	for (i = (size_t)h & s->mask; s->h[i] != 0; i = (i + 1) & s->mask)
		if (s->h[i] == h)
			return 1;
	s->h[i] = h;
	return 0;
}

/* A name of name_gen() not made before. */
static void
name_new(struct rng *r, struct seen *s, char *out, int wild)
{
	do
		name_gen(r, out, wild);
	while (seen_add(s, out));
}

static double
now_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
buf_grow(struct buf *b, size_t more)
{
	size_t cap = b->cap > 0 ? b->cap : 1 << 20;
	char *p;

	while (cap - b->len < more)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	if ((p = realloc(b->p, cap)) == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf_grow(b, 1024) < 0)
		return -ENOMEM;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < b->cap - b->len)
			break;
		if (buf_grow(b, (size_t)n + 1) < 0)
			return -ENOMEM;
	}
	b->len += (size_t)n;
	return 0;
}

/* The domains list: N names, one a line. */
static int
gen_domains(struct buf *b, size_t n)
{
	struct seen seen;
	struct rng r;
	char name[300];
	size_t i;
	int rc;

	rng_seed(&r, SEED);
	if (seen_init(&seen, n) < 0)
		return -ENOMEM;
	rc = buf_printf(b, "# resguard bench/feeds: %zu names\n", n);
	for (i = 0; i < n && rc == 0; i++) {
		name_new(&r, &seen, name, rng_below(&r, 10) == 0);
		rc = buf_printf(b, "%s\n", name);
	}
	seen_free(&seen);
	return rc;
}

/* An RPZ zone "rpz.local." of N rules of every kind a hub publishes. */
static int
gen_rpz(struct buf *b, size_t n)
{
	struct seen seen;
	struct rng r;
	char name[300];
	unsigned k;
	size_t i;
	int rc;

	rng_seed(&r, SEED);
	if (seen_init(&seen, n) < 0)
		return -ENOMEM;
	rc = buf_printf(b, "$ORIGIN rpz.local.\n$TTL 60\n"
	    "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
	    "@ NS localhost.\n");
	for (i = 0; i < n && rc == 0; i++) {
		name_new(&r, &seen, name, rng_below(&r, 10) == 0);
		k = (unsigned)(i % 100);
		if (k < 80)
			rc = buf_printf(b, "%s CNAME .\n", name);
		else if (k < 87)
			rc = buf_printf(b, "%s CNAME *.\n", name);
		else if (k < 92)
			rc = buf_printf(b, "%s CNAME rpz-drop.\n", name);
		else if (k < 96)
			rc = buf_printf(b, "%s CNAME rpz-passthru.\n", name);
		else if (k < 98)
			rc = buf_printf(b, "%s A 192.0.2.%u\n", name,
			    1 + (unsigned)(i % 254));
		else
			rc = buf_printf(b, "32.%u.%u.%u.10.rpz-ip CNAME .\n",
			    (unsigned)(i & 0xff), (unsigned)((i >> 8) & 0xff),
			    (unsigned)((i >> 16) & 0xff));
	}
	seen_free(&seen);
	return rc;
}

/* An RFC 3339 time, T seconds since the epoch, into OUT. */
static void
stamp(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* A STIX 2.1 bundle of N indicators valid since a day before NOW. */
static int
gen_stix(struct buf *b, size_t n, int64_t now)
{
	char a[300], c[300], created[40], from[40], uuid[48];
	const char *mark;
	struct seen seen;
	struct rng r;
	size_t i;
	int rc;

	rng_seed(&r, SEED);
	if (seen_init(&seen, n * 2) < 0)
		return -ENOMEM;
	stamp(now - 86400, from, sizeof(from));
	stamp(now - 2 * 86400, created, sizeof(created));
	rc = buf_printf(b, "{\"type\":\"bundle\",\"id\":\"bundle--"
	    "5d0092c5-5f74-4287-9642-33f4c354e56d\",\"objects\":[\n"
	    "{\"type\":\"marking-definition\",\"spec_version\":\"2.1\","
	    "\"id\":\"" MARK_LOCAL "\",\"created\":\"2022-10-01T00:00:00.000Z\","
	    "\"name\":\"TLP:AMBER+STRICT\",\"extensions\":{"
	    "\"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d\":{"
	    "\"extension_type\":\"property-extension\","
	    "\"tlp_2_0\":\"amber+strict\"}}},\n"
	    "{\"type\":\"identity\",\"spec_version\":\"2.1\",\"id\":"
	    "\"identity--7a1f34e2-3d1c-4a5b-9c4e-0b1d2e3f4a5b\","
	    "\"created\":\"%s\",\"modified\":\"%s\",\"name\":\"bench hub\","
	    "\"identity_class\":\"organization\"}", created, created);
	for (i = 0; i < n && rc == 0; i++) {
		name_new(&r, &seen, a, 0);
		snprintf(uuid, sizeof(uuid), "%08x-%04x-4%03x-8%03x-%012llx",
		    (unsigned)(rng_next(&r) >> 32), (unsigned)(i & 0xffff),
		    rng_below(&r, 0x1000), rng_below(&r, 0x1000),
		    (unsigned long long)i & 0xffffffffffffULL);
		mark = marks[i % (sizeof(marks) / sizeof(marks[0]))];
		rc = buf_printf(b, ",\n{\"type\":\"indicator\","
		    "\"spec_version\":\"2.1\",\"id\":\"indicator--%s\","
		    "\"created_by_ref\":\"identity--7a1f34e2-3d1c-4a5b-9c4e-"
		    "0b1d2e3f4a5b\",\"created\":\"%s\",\"modified\":\"%s\","
		    "\"name\":\"Malicious domain %zu\",\"indicator_types\":"
		    "[\"malicious-activity\"],\"confidence\":%u,"
		    "\"valid_from\":\"%s\",\"pattern_type\":\"stix\","
		    "\"pattern\":\"[domain-name:value = '%s'", uuid, created,
		    created, i, 50 + rng_below(&r, 51), from, a);
		if (rc == 0 && i % 5 == 0) {
			name_new(&r, &seen, c, 0);
			rc = buf_printf(b, " OR domain-name:value = '%s'", c);
		}
		if (rc == 0)
			rc = buf_printf(b, "]\"");
		if (rc == 0 && mark != NULL)
			rc = buf_printf(b, ",\"object_marking_refs\":[\"%s\"]",
			    mark);
		if (rc == 0)
			rc = buf_printf(b, "}");
	}
	if (rc == 0)
		rc = buf_printf(b, "\n]}\n");
	seen_free(&seen);
	return rc;
}

/* "VmRSS" or "VmHWM" of /proc/self/status, in kB. */
static size_t
status_kb(const char *key)
{
	char line[256];
	size_t kb = 0, klen = strlen(key);
	FILE *fp;

	if ((fp = fopen("/proc/self/status", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = strtoul(line + klen + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return kb;
}

/* Start a new peak at the present resident size; 0 or -errno. */
static int
hwm_reset(void)
{
	int fd, rc = 0;

	if ((fd = open("/proc/self/clear_refs", O_WRONLY)) < 0)
		return -errno;
	if (write(fd, "5", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

/* In the child: make the document of F, apply it; into RES. */
static int
measure(enum fmt f, size_t n, struct result *res)
{
	struct rg_plugin_handle *h = NULL;
	struct rg_feed_settings set;
	struct rg_feed_stats st;
	struct rg_feed_rules *rules;
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct buf doc = { NULL, 0, 0 };
	char err[512];
	double t0, c0, t1, t2;
	long rc;
	int idx;

	if (f != FMT_DOMAINS && (h = rg_plugin_open(RG_PLUGIN_FEED,
	    fmt_str[f], err, sizeof(err))) == NULL) {
		fprintf(stderr, "feeds: %s plugin: %s\n", fmt_str[f], err);
		return -ENOENT;
	}
	rc = f == FMT_RPZ ? gen_rpz(&doc, n) : f == FMT_DOMAINS ?
	    gen_domains(&doc, n) : gen_stix(&doc, n, (int64_t)time(NULL));
	if (rc < 0) {
		fprintf(stderr, "feeds: %s: out of memory\n", fmt_str[f]);
		return (int)rc;
	}
	res->doc_bytes = doc.len;
	memset(&set, 0, sizeof(set));
	set.name = "bench";
	set.format = fmt_str[f];
	set.default_lifetime_s = 90 * 86400;
	set.now = (int64_t)time(NULL);

	/* The apply: the parse that checks the document and keeps its
	 * rules, then the build. */
	malloc_trim(0);
	res->hwm_reset = hwm_reset() == 0;
	res->rss_before_kb = status_kb("VmRSS");
	t0 = now_mono();
	c0 = now_cpu();
	if ((rc = rg_feed_rules_parse(h != NULL ? h->plugin->feed : NULL,
	    &set, RG_ACTION_NXDOMAIN, UINT64_MAX, doc.p, doc.len, &rules, &st,
	    err, sizeof(err))) < 0) {
		fprintf(stderr, "feeds: %s: %s\n", fmt_str[f], err);
		return (int)rc;
	}
	res->emitted = rc;
	t1 = now_mono();
	if ((b = rg_bl_builder_new()) == NULL ||
	    (idx = rg_bl_builder_feed(b, "bench")) < 0 ||
	    rg_feed_rules_build(rules, b, idx, &st) < 0) {
		fprintf(stderr, "feeds: %s: out of memory\n", fmt_str[f]);
		return -ENOMEM;
	}
	t2 = now_mono();
	if ((bl = rg_bl_build(b)) == NULL)
		return -ENOMEM;
	res->apply_s = now_mono() - t0;
	res->apply_cpu_s = now_cpu() - c0;
	res->parse_s = t1 - t0;
	res->build_s = res->apply_s - res->parse_s;
	res->snap_s = now_mono() - t2;
	res->peak_kb = status_kb("VmHWM");
	res->skipped = st.skipped + st.unsupported;
	if (res->skipped > 0)
		fprintf(stderr, "feeds: %s: %ld rules, %llu skipped: %s\n",
		    fmt_str[f], rc, (unsigned long long)res->skipped,
		    st.first_skip);
	res->entries = rg_bl_entries(bl);
	res->snapshot_bytes = rg_bl_bytes(bl);
	/* What stays: the snapshot and the document the agent keeps. */
	malloc_trim(0);
	res->after_kb = status_kb("VmRSS");
	res->ok = 1;
	rg_bl_free(bl);
	free(doc.p);
	rg_plugin_close(h);
	return 0;
}

static void
run(enum fmt f, size_t n, struct result *res)
{
	int fds[2], status;
	pid_t pid;
	ssize_t got;

	memset(res, 0, sizeof(*res));
	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		perror("feeds: fork");
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (measure(f, n, res) < 0)
			res->ok = 0;
		got = write(fds[1], res, sizeof(*res));
		_exit(got == (ssize_t)sizeof(*res) && res->ok ? 0 : 1);
	}
	close(fds[1]);
	got = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (got != (ssize_t)sizeof(*res))
		memset(res, 0, sizeof(*res));
}

static double
mb(size_t kb)
{
	return (double)kb / 1024.0;
}

static int
bench(size_t n_rpz, size_t n_domains, size_t n_stix)
{
	const size_t ns[] = { n_rpz, n_domains, n_stix };
	struct result res[3];
	double ratio;
	int f, pass;

	printf("%-8s %8s %7s %8s %7s %8s %9s %7s %7s %7s %7s\n", "format",
	    "input", "doc MB", "apply s", "cpu s", "rules", "rules/s",
	    "pre MB", "peak MB", "aft MB", "peak/af");
	for (f = FMT_RPZ; f <= FMT_STIX; f++) {
		run((enum fmt)f, ns[f], &res[f]);
		if (!res[f].ok) {
			printf("%-8s %8zu  failed\n", fmt_str[f], ns[f]);
			continue;
		}
		printf("%-8s %8zu %7.1f %8.3f %7.3f %8ld %9.0f %7.1f %7.1f "
		    "%7.1f %7.2f\n", fmt_str[f], ns[f],
		    (double)res[f].doc_bytes / 1048576.0, res[f].apply_s,
		    res[f].apply_cpu_s, res[f].emitted,
		    (double)res[f].emitted / res[f].apply_s,
		    mb(res[f].rss_before_kb), mb(res[f].peak_kb),
		    mb(res[f].after_kb), (double)res[f].peak_kb /
		    (double)res[f].after_kb);
	}
	printf("\ninput: rules (rpz, domains) or indicators (stix2).  apply: "
	    "the parse that checks\nthe document and keeps its rules, then "
	    "the build of the snapshot; s: wall\nclock, cpu s: the process's "
	    "CPU time.  pre/peak/aft: resident size with the\ndocument made, "
	    "its peak during the apply, and after it (document and\nsnapshot "
	    "held, freed memory trimmed).\n\n");
	for (f = FMT_RPZ; f <= FMT_STIX; f++) {
		if (!res[f].ok)
			continue;
		printf("%s: %zu distinct rules, snapshot %.1f MB, %llu entries "
		    "skipped; of the apply,\n    parse (and check) %.3f s, "
		    "build %.3f s (of it the snapshot %.3f s)%s\n",
		    fmt_str[f], res[f].entries,
		    (double)res[f].snapshot_bytes / 1048576.0,
		    (unsigned long long)res[f].skipped, res[f].parse_s,
		    res[f].build_s, res[f].snap_s, res[f].hwm_reset ? "" :
		    "\n    (VmHWM could not be reset: peaks include the making "
		    "of the document)");
	}
	printf("\n");
	for (f = FMT_RPZ; f <= FMT_STIX; f++) {
		if (!res[f].ok) {
			printf("MISS %s: the benchmark failed\n", fmt_str[f]);
			continue;
		}
		pass = res[f].apply_s < TIME_TARGET;
		printf("%s %s: apply %.3f s, cpu %.3f s (target < %.1f s)\n",
		    pass ? "PASS" : "MISS", fmt_str[f], res[f].apply_s,
		    res[f].apply_cpu_s, TIME_TARGET);
		ratio = (double)res[f].peak_kb / (double)res[f].after_kb;
		pass = ratio <= PEAK_TARGET;
		printf("%s %s: peak %.1f MB / after %.1f MB = %.2f (target "
		    "<= %.1f)\n", pass ? "PASS" : "MISS", fmt_str[f],
		    mb(res[f].peak_kb), mb(res[f].after_kb), ratio,
		    PEAK_TARGET);
	}
	fflush(stdout);
	return 0;
}

static int
write_doc(enum fmt f, const char *path, size_t n)
{
	struct buf doc = { NULL, 0, 0 };
	FILE *fp;
	int rc;

	rc = f == FMT_RPZ ? gen_rpz(&doc, n) : f == FMT_DOMAINS ?
	    gen_domains(&doc, n) : gen_stix(&doc, n, (int64_t)time(NULL));
	if (rc < 0)
		return rc;
	if ((fp = fopen(path, "w")) == NULL) {
		rc = -errno;
		goto out;
	}
	if (fwrite(doc.p, 1, doc.len, fp) != doc.len)
		rc = -EIO;
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
out:
	free(doc.p);
	return rc;
}

/* NAME as a query of type A, ID 0, RD set, into OUT; its length. */
static size_t
query_make(const char *name, uint8_t *out, size_t len)
{
	size_t o = 12, ll;
	const char *dot;

	memset(out, 0, 12);
	out[2] = 0x01;		/* RD */
	out[5] = 1;		/* QDCOUNT */
	while (*name != '\0') {
		dot = strchr(name, '.');
		ll = dot != NULL ? (size_t)(dot - name) : strlen(name);
		if (ll == 0 || ll > 63 || o + ll + 6 > len)
			return 0;
		out[o++] = (uint8_t)ll;
		memcpy(out + o, name, ll);
		o += ll;
		name += ll + (dot != NULL);
	}
	out[o++] = 0;
	out[o++] = 0;
	out[o++] = 1;		/* A */
	out[o++] = 0;
	out[o++] = 1;		/* IN */
	return o;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)((double)n * p);

	return n == 0 ? 0 : v[i < n ? i : n - 1];
}

struct probe {
	double *sent;		/* send time, since the epoch: the probe's */
	double *sent_k;		/* the kernel's, or 0 */
	double *got;		/* reply time, the kernel's or the probe's */
	double *lat;		/* latency, or -1 when lost */
	uint8_t *rcode;
	size_t n;		/* queries sent */
	size_t answered;
	size_t not_blocked;
	size_t tx_stamps;	/* queries timed by the kernel */
	size_t rx_stamps;	/* replies timed by the kernel */
	double late;		/* the longest a send came after its time */
	double late_at;		/* when, since the epoch */
};

static double
ts_sec(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec * 1e-9;
}

/*
 * Read what waits on socket S: replies, and the kernel's send times from
 * the error queue.  Times come from the kernel (SO_TIMESTAMPING, software
 * stamps) where it gives them: when the query left and the reply came in,
 * not when the probe got round to it, so that the probe's own delays on
 * a busy machine do not count.
 */
static void
probe_read(struct probe *p, int fd, int s, int errqueue)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct scm_timestamping)) +
		    CMSG_SPACE(sizeof(struct sock_extended_err) +
		    sizeof(struct sockaddr_in)) + 64];
	} ctl;
	const struct sock_extended_err *ee;
	struct scm_timestamping tss;
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	uint8_t pkt[1500];
	ssize_t len;
	size_t seq;
	double t, kt;
	long key;

	for (;;) {
		iov.iov_base = pkt;
		iov.iov_len = sizeof(pkt);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		if ((len = recvmsg(fd, &mh, MSG_DONTWAIT |
		    (errqueue ? MSG_ERRQUEUE : 0))) < 0)
			break;
		t = now_real();
		kt = 0;
		key = -1;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_TIMESTAMPING) {
				memcpy(&tss, CMSG_DATA(cm), sizeof(tss));
				kt = ts_sec(&tss.ts[0]);
			} else if (cm->cmsg_level == SOL_IP &&
			    cm->cmsg_type == IP_RECVERR) {
				ee = (const void *)CMSG_DATA(cm);
				if (ee->ee_errno == ENOMSG && ee->ee_origin ==
				    SO_EE_ORIGIN_TIMESTAMPING)
					key = (long)ee->ee_data;
			}
		}
		if (errqueue) {
			/* The key counts the socket's datagrams from 0;
			 * socket S sends queries S, S + PROBE_SOCKS, ... */
			if (key < 0 || kt <= 0)
				continue;
			seq = (size_t)key * PROBE_SOCKS + (size_t)s;
			/* Within a second after the probe's own stamp, or a
			 * key that lost its count: ignored. */
			if (seq < p->n && p->sent_k[seq] == 0 &&
			    kt >= p->sent[seq] - 1e-3 &&
			    kt < p->sent[seq] + 1.0) {
				p->sent_k[seq] = kt;
				p->tx_stamps++;
			}
			continue;
		}
		if (kt > 0) {
			t = kt;
			p->rx_stamps++;
		}
		if (len < 12 || (pkt[2] & 0x80) == 0)
			continue;
		/* IDs are sequence numbers: unique within PROBE_MAX_S. */
		seq = (size_t)pkt[0] << 8 | pkt[1];
		if (seq >= p->n || p->got[seq] > 0)
			continue;
		p->got[seq] = t;
		p->answered++;
		p->rcode[seq] = pkt[3] & 0x0f;
		if (p->rcode[seq] != 3)
			p->not_blocked++;
	}
}

/* 1 when I is among the first K of SLOW. */
static int
was_slow(const size_t *slow, size_t k, size_t i)
{
	size_t j;

	for (j = 0; j < k; j++)
		if (slow[j] == i)
			return 1;
	return 0;
}

/* The figures of the run, and each query into OUT (NULL: none). */
static int
probe_report(struct probe *p, double real0, const char *out)
{
	size_t i, k, slow[5];
	double gap = 0, *v;
	FILE *fp;

	if ((v = malloc((p->n + 1) * sizeof(double))) == NULL)
		return -ENOMEM;
	for (i = 0, k = 0; i < p->n; i++) {
		p->lat[i] = -1;
		if (p->got[i] > 0)
			v[k++] = p->lat[i] = p->got[i] -
			    (p->sent_k[i] > 0 ? p->sent_k[i] : p->sent[i]);
	}
	qsort(v, k, sizeof(double), cmp_double);
	printf("probe queries: %zu\n", p->n);
	printf("probe answered: %zu\n", p->answered);
	printf("probe lost: %zu\n", p->n - p->answered);
	printf("probe not blocked: %zu\n", p->not_blocked);
	printf("probe latency median ms: %.3f\n", pct(v, k, 0.5) * 1e3);
	printf("probe latency p99 ms: %.3f\n", pct(v, k, 0.99) * 1e3);
	printf("probe latency p99.9 ms: %.3f\n", pct(v, k, 0.999) * 1e3);
	printf("probe latency max ms: %.3f\n", k > 0 ? v[k - 1] * 1e3 : 0);
	/* Replies come in about the order of their queries: sort anyway. */
	for (i = 0, k = 0; i < p->n; i++)
		if (p->got[i] > 0)
			v[k++] = p->got[i];
	qsort(v, k, sizeof(double), cmp_double);
	for (i = 1; i < k; i++)
		if (v[i] - v[i - 1] > gap)
			gap = v[i] - v[i - 1];
	printf("probe reply gap max ms: %.3f\n", gap * 1e3);
	printf("probe send late max ms: %.3f at %.3f s\n", p->late * 1e3,
	    p->late > 0 ? p->late_at - real0 : 0);
	printf("probe kernel stamps: %zu sent, %zu received\n", p->tx_stamps,
	    p->rx_stamps);
	free(v);
	for (k = 0; k < 5; k++) {
		slow[k] = SIZE_MAX;
		for (i = 0; i < p->n; i++) {
			if (p->lat[i] < 0 || was_slow(slow, k, i))
				continue;
			if (slow[k] == SIZE_MAX || p->lat[i] > p->lat[slow[k]])
				slow[k] = i;
		}
		if (slow[k] == SIZE_MAX)
			break;
		printf("probe slow: %.3f ms at %.3f s\n",
		    p->lat[slow[k]] * 1e3, p->sent[slow[k]] - real0);
	}
	if (out == NULL)
		return 0;
	if ((fp = fopen(out, "w")) == NULL)
		return -errno;
	for (i = 0; i < p->n; i++)
		fprintf(fp, "%.6f %.6f %d\n", p->sent[i], p->lat[i],
		    p->lat[i] >= 0 ? p->rcode[i] : -1);
	return fclose(fp) == 0 ? 0 : -errno;
}

static int
probe(unsigned port, double secs, const char *name, const char *out)
{
	const int stamps = SOF_TIMESTAMPING_SOFTWARE |
	    SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE |
	    SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
	struct pollfd pfd[PROBE_SOCKS];
	struct sockaddr_in sa;
	struct timespec ts;
	struct probe p;
	uint8_t q[300];
	size_t qlen, total;
	double t0, real0, next, t, end;
	int s, rc;

	if (secs <= 0 || secs > PROBE_MAX_S || port == 0 || port > 65535 ||
	    (qlen = query_make(name, q, sizeof(q))) == 0) {
		fprintf(stderr, "feeds: probe: bad arguments\n");
		return 2;
	}
	total = (size_t)(secs * 1000);
	memset(&p, 0, sizeof(p));
	if ((p.sent = calloc(total, sizeof(double))) == NULL ||
	    (p.sent_k = calloc(total, sizeof(double))) == NULL ||
	    (p.got = calloc(total, sizeof(double))) == NULL ||
	    (p.lat = calloc(total, sizeof(double))) == NULL ||
	    (p.rcode = calloc(total, 1)) == NULL) {
		fprintf(stderr, "feeds: probe: out of memory\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (s = 0; s < PROBE_SOCKS; s++) {
		if ((pfd[s].fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
		    connect(pfd[s].fd, (struct sockaddr *)&sa,
		    sizeof(sa)) < 0) {
			perror("feeds: probe: socket");
			return 1;
		}
		/* Without kernel stamps the probe's own clock readings
		 * stand in. */
		(void)setsockopt(pfd[s].fd, SOL_SOCKET, SO_TIMESTAMPING,
		    &stamps, sizeof(stamps));
		pfd[s].events = POLLIN;
	}
	real0 = now_real();
	t0 = now_mono();
	end = t0 + secs + PROBE_DRAIN_S;
	next = t0;
	for (;;) {
		t = now_mono();
		while (p.n < total && t >= next) {
			if (t - next > p.late) {
				p.late = t - next;
				p.late_at = now_real();
			}
			q[0] = (uint8_t)(p.n >> 8);
			q[1] = (uint8_t)p.n;
			p.sent[p.n] = now_real();
			(void)send(pfd[p.n % PROBE_SOCKS].fd, q, qlen, 0);
			p.n++;
			next = t0 + (double)p.n * 1e-3;
		}
		if (t >= end || (p.n == total && p.answered == total &&
		    t >= next + 0.05))
			break;
		t = (p.n < total ? next : end) - now_mono();
		if (t < 0)
			t = 0;
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		if (ppoll(pfd, PROBE_SOCKS, &ts, NULL) <= 0)
			continue;
		for (s = 0; s < PROBE_SOCKS; s++) {
			if (pfd[s].revents & POLLERR)
				probe_read(&p, pfd[s].fd, s, 1);
			if (pfd[s].revents & POLLIN)
				probe_read(&p, pfd[s].fd, s, 0);
		}
	}
	for (s = 0; s < PROBE_SOCKS; s++) {
		probe_read(&p, pfd[s].fd, s, 1);
		close(pfd[s].fd);
	}
	if ((rc = probe_report(&p, real0, out)) < 0)
		fprintf(stderr, "feeds: probe: %s: %s\n", out != NULL ? out :
		    "report", strerror(-rc));
	free(p.sent);
	free(p.sent_k);
	free(p.got);
	free(p.lat);
	free(p.rcode);
	return rc < 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: feeds [--rpz N] [--domains N] [--stix N]\n"
	    "       feeds --write-rpz|--write-domains|--write-stix2 FILE N\n"
	    "       feeds --probe PORT SECONDS NAME [--out FILE]\n");
	exit(2);
}

static size_t
count(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || s[0] == '-')
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	size_t n_rpz = 1000000, n_domains = 1000000, n_stix = 100000;
	const char *out = NULL;
	int a, f, rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strncmp(argv[1], "--write-", 8) == 0) {
		for (f = FMT_RPZ; f <= FMT_STIX; f++)
			if (strcmp(argv[1] + 8, fmt_str[f]) == 0)
				break;
		if (argc != 4 || f > FMT_STIX)
			usage();
		if ((rc = write_doc((enum fmt)f, argv[2], count(argv[3]))) < 0) {
			fprintf(stderr, "feeds: %s: %s\n", argv[2],
			    strerror(-rc));
			return 1;
		}
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--probe") == 0) {
		if (argc == 7 && strcmp(argv[5], "--out") == 0)
			out = argv[6];
		else if (argc != 5)
			usage();
		return probe((unsigned)count(argv[2]), strtod(argv[3], NULL),
		    argv[4], out);
	}
	for (a = 1; a < argc; a++) {
		if (a + 1 >= argc)
			usage();
		if (strcmp(argv[a], "--rpz") == 0)
			n_rpz = count(argv[++a]);
		else if (strcmp(argv[a], "--domains") == 0)
			n_domains = count(argv[++a]);
		else if (strcmp(argv[a], "--stix") == 0)
			n_stix = count(argv[++a]);
		else
			usage();
	}
	return bench(n_rpz, n_domains, n_stix);
}
