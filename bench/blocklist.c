/*
 * blocklist.c -- benchmark of the blocklist: build time, memory per rule
 * and lookup latency.
 *
 * bench/blocklist [--write-domains FILE] [--write-rpz FILE] [N]
 *
 * Generates N names (default 1,000,000) from a seeded generator, so every
 * run and every other server fed the exported files sees the same list:
 * 2 to 4 labels of 3 to 12 characters under common top-level domains, one
 * in ten a "*." wildcard.  It builds the snapshot and prints the time, the
 * snapshot's bytes per rule and the growth of resident memory per rule,
 * then times 10,000,000 lookups (half of names in the list or below its
 * wildcards, half of names absent) in batches of 1000 and prints the median
 * of the batch means, the mean and the hit rate.  Last, in a child process
 * so that memory is measured afresh, it loads the same names as a
 * "domains" list through the parser, where every rule carries its
 * "line N" indicator.  The figures go to standard output as "key: value"
 * lines that bench/blocklist.sh reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "plugin.h"

#define LOOKUPS		10000000UL
#define BATCH		1000
#define QUERIES		(1 << 20)
#define SEED		0x7265736775617264ULL	/* "resguard" */

static const char *const tlds[] = {
	"com", "net", "org", "eu", "de", "fr", "it", "nl", "es", "pl", "se",
	"be", "at", "cz", "info", "io", "xyz", "top", "ru", "cn", "uk", "online"
};

struct names {
	char *text;		/* NUL-separated names */
	size_t *off;
	size_t n;
	size_t len;
};

/* xoshiro256** */
struct rng {
	uint64_t s[4];
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
names_gen(struct names *nm, size_t n)
{
	struct rng r;
	size_t i, cap = n * 48 + 64;

	rng_seed(&r, SEED);
	nm->n = n;
	nm->len = 0;
	if ((nm->text = malloc(cap)) == NULL ||
	    (nm->off = malloc(n * sizeof(*nm->off))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		nm->off[i] = nm->len;
		nm->len += name_gen(&r, nm->text + nm->len,
		    rng_below(&r, 10) == 0) + 1;
	}
	return 0;
}

/* Presentation NAME (no escapes) to wire form in OUT; its length. */
static size_t
to_wire(const char *name, uint8_t *out)
{
	size_t o = 0, ll;
	const char *dot;

	while (*name != '\0') {
		dot = strchr(name, '.');
		ll = dot != NULL ? (size_t)(dot - name) : strlen(name);
		out[o++] = (uint8_t)ll;
		memcpy(out + o, name, ll);
		o += ll;
		name += ll + (dot != NULL);
	}
	out[o++] = 0;
	return o;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t
rss_bytes(void)
{
	unsigned long size, resident = 0;
	FILE *fp;

	if ((fp = fopen("/proc/self/statm", "r")) == NULL)
		return 0;
	if (fscanf(fp, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(fp);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
write_domains(const struct names *nm, const char *path)
{
	FILE *fp;
	size_t i;

	if ((fp = fopen(path, "w")) == NULL)
		return -errno;
	for (i = 0; i < nm->n; i++)
		fprintf(fp, "%s\n", nm->text + nm->off[i]);
	return fclose(fp) == 0 ? 0 : -errno;
}

/* An RPZ zone "rpz.local.": NAME CNAME . is NXDOMAIN for NAME. */
static int
write_rpz(const struct names *nm, const char *path)
{
	FILE *fp;
	size_t i;

	if ((fp = fopen(path, "w")) == NULL)
		return -errno;
	fprintf(fp, "$ORIGIN rpz.local.\n$TTL 60\n"
	    "@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n"
	    "@ NS localhost.\n");
	for (i = 0; i < nm->n; i++)
		fprintf(fp, "%s CNAME .\n", nm->text + nm->off[i]);
	return fclose(fp) == 0 ? 0 : -errno;
}

static struct rg_blocklist *
build(const struct names *nm, double *secs)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	double t0 = now();
	size_t i;
	int feed;

	if ((b = rg_bl_builder_new()) == NULL ||
	    (feed = rg_bl_builder_feed(b, "bench")) < 0)
		return NULL;
	for (i = 0; i < nm->n; i++)
		if (rg_bl_builder_add(b, nm->text + nm->off[i],
		    RG_ACTION_NXDOMAIN, feed, NULL) < 0) {
			fprintf(stderr, "cannot add %s\n",
			    nm->text + nm->off[i]);
			rg_bl_builder_free(b);
			return NULL;
		}
	bl = rg_bl_build(b);
	*secs = now() - t0;
	return bl;
}

/* The same names as a domains list through the parser, in a child. */
static void
bench_parse(const struct names *nm)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	size_t i, rss0, skipped;
	char *text, err[256];
	double t0, t1;
	pid_t pid;
	long n;

	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("fork");
		return;
	}
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		return;
	}
	if ((text = malloc(nm->len)) == NULL)
		_exit(1);
	memcpy(text, nm->text, nm->len);
	for (i = 0; i + 1 < nm->len; i++)
		if (text[i] == '\0')
			text[i] = '\n';
	rss0 = rss_bytes();
	t0 = now();
	if ((b = rg_bl_builder_new()) == NULL ||
	    rg_bl_builder_feed(b, "bench") < 0)
		_exit(1);
	n = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, text, nm->len - 1,
	    &skipped, err, sizeof(err));
	if (n < 0 || skipped > 0) {
		fprintf(stderr, "parse: %ld, %zu skipped: %s\n", n, skipped,
		    err);
		_exit(1);
	}
	bl = rg_bl_build(b);
	t1 = now();
	if (bl == NULL)
		_exit(1);
	printf("parse build time: %.3f s\n", t1 - t0);
	printf("parse bytes per rule: %.1f\n",
	    (double)rg_bl_bytes(bl) / (double)nm->n);
	printf("parse rss growth per rule: %.1f\n",
	    (double)(rss_bytes() - rss0) / (double)nm->n);
	fflush(stdout);
	rg_bl_free(bl);
	_exit(0);
}

/* Rules of the rpz plugin straight into the builder, as the agent does. */
static int
rpz_emit_cb(void *arg, const struct rg_feed_rule *r)
{
	static const enum rg_action map[RG_FEED_ACTION_COUNT] = {
		RG_ACTION_NXDOMAIN, RG_ACTION_NXDOMAIN, RG_ACTION_NODATA,
		RG_ACTION_DROP, RG_ACTION_PASSTHRU, RG_ACTION_LOCAL
	};
	struct rg_bl_meta meta = { r->indicator, r->tlp, r->local };

	if (r->trigger == RG_FEED_IP)
		return rg_bl_builder_add_ip(arg, r->prefix, map[r->action], 0,
		    &meta) == -ENOMEM ? -ENOMEM : 0;
	return rg_bl_builder_add_meta(arg, r->name, map[r->action], 0,
	    &meta) == -ENOMEM ? -ENOMEM : 0;
}

/* The RPZ zone written by --write-rpz through the rpz feed plugin, in a
 * child: what an RPZ feed costs, against Unbound loading the same zone. */
static void
bench_rpz(const char *path)
{
	struct rg_plugin_handle *h;
	struct rg_feed_settings set;
	struct rg_feed_stats st;
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	char err[512], *text;
	size_t rss0, len;
	double t0, t1;
	FILE *fp;
	long n;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("fork");
		return;
	}
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		return;
	}
	if ((h = rg_plugin_open(RG_PLUGIN_FEED, "rpz", err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "rpz plugin: %s\n", err);
		_exit(1);
	}
	if ((fp = fopen(path, "r")) == NULL || fseek(fp, 0, SEEK_END) < 0 ||
	    (len = (size_t)ftell(fp)) == 0 || fseek(fp, 0, SEEK_SET) < 0 ||
	    (text = malloc(len)) == NULL || fread(text, 1, len, fp) != len)
		_exit(1);
	fclose(fp);
	rss0 = rss_bytes();
	t0 = now();
	if ((b = rg_bl_builder_new()) == NULL ||
	    rg_bl_builder_feed(b, "bench") < 0)
		_exit(1);
	memset(&set, 0, sizeof(set));
	memset(&st, 0, sizeof(st));
	set.name = "bench";
	set.format = "rpz";
	set.now = (int64_t)time(NULL);
	n = h->plugin->feed->parse(&set, text, len, rpz_emit_cb, b, &st, err,
	    sizeof(err));
	if (n < 0 || st.skipped > 0) {
		fprintf(stderr, "rpz: %ld, %llu skipped: %s %s\n", n,
		    (unsigned long long)st.skipped, err, st.first_skip);
		_exit(1);
	}
	bl = rg_bl_build(b);
	t1 = now();
	if (bl == NULL)
		_exit(1);
	printf("rpz rules: %zu\n", rg_bl_entries(bl));
	printf("rpz build time: %.3f s\n", t1 - t0);
	printf("rpz bytes per rule: %.1f\n",
	    (double)rg_bl_bytes(bl) / (double)rg_bl_entries(bl));
	printf("rpz rss growth per rule: %.1f\n",
	    (double)(rss_bytes() - rss0) / (double)rg_bl_entries(bl));
	fflush(stdout);
	_exit(0);
}

static void
usage(void)
{
	fprintf(stderr, "usage: blocklist [--write-domains FILE] "
	    "[--write-rpz FILE] [N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *domains = NULL, *rpz = NULL;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	struct names nm;
	struct rng r;
	uint8_t *qbuf;
	size_t *qoff, n = 1000000, i, q, qlen, rss0, rss1, hits = 0;
	double secs, t0, t1, *batch, total = 0;
	char name[300];
	const char *s;
	int a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--write-domains") == 0 && a + 1 < argc)
			domains = argv[++a];
		else if (strcmp(argv[a], "--write-rpz") == 0 && a + 1 < argc)
			rpz = argv[++a];
		else if (argv[a][0] != '-' && (n = strtoul(argv[a], NULL,
		    10)) > 0)
			continue;
		else
			usage();
	}
	if (names_gen(&nm, n) < 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if ((domains != NULL && (rc = write_domains(&nm, domains)) < 0) ||
	    (rpz != NULL && (rc = write_rpz(&nm, rpz)) < 0)) {
		fprintf(stderr, "write: %s\n", strerror(-rc));
		return 1;
	}

	/* Queries: half listed (below a wildcard: a random label more). */
	qbuf = malloc((size_t)QUERIES * 270);
	qoff = malloc((QUERIES + 1) * sizeof(*qoff));
	batch = malloc(LOOKUPS / BATCH * sizeof(*batch));
	if (qbuf == NULL || qoff == NULL || batch == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	rng_seed(&r, SEED ^ 1);
	for (q = qlen = 0; q < QUERIES; q++) {
		if (rng_below(&r, 2) == 0) {
			s = nm.text + nm.off[rng_below(&r, (unsigned)n)];
			if (s[0] == '*') {
				i = label_gen(&r, name);
				snprintf(name + i, sizeof(name) - i, "%s",
				    s + 1);
			} else
				snprintf(name, sizeof(name), "%s", s);
		} else
			name_gen(&r, name, 0);
		qoff[q] = qlen;
		qlen += to_wire(name, qbuf + qlen);
	}
	qoff[q] = qlen;

	rss0 = rss_bytes();
	if ((bl = build(&nm, &secs)) == NULL) {
		fprintf(stderr, "build failed\n");
		return 1;
	}
	rss1 = rss_bytes();
	printf("names: %zu\n", n);
	printf("rules: %zu\n", rg_bl_entries(bl));
	printf("build time: %.3f s\n", secs);
	printf("bytes per rule: %.1f\n", (double)rg_bl_bytes(bl) / (double)n);
	printf("rss growth per rule: %.1f\n",
	    (double)(rss1 - rss0) / (double)n);

	for (i = 0; i < LOOKUPS / BATCH; i++) {
		t0 = now();
		for (a = 0; a < BATCH; a++) {
			q = (i * BATCH + (size_t)a) % QUERIES;
			rc = rg_bl_lookup(bl, qbuf + qoff[q],
			    qoff[q + 1] - qoff[q], &m);
			hits += rc == 1;
		}
		t1 = now();
		batch[i] = (t1 - t0) * 1e9 / BATCH;
		total += t1 - t0;
	}
	qsort(batch, LOOKUPS / BATCH, sizeof(*batch), cmp_double);
	printf("lookup median: %.1f ns\n", batch[LOOKUPS / BATCH / 2]);
	printf("lookup mean: %.1f ns\n", total * 1e9 / LOOKUPS);
	printf("hit rate: %.1f %%\n", 100.0 * (double)hits / LOOKUPS);

	bench_parse(&nm);
	if (rpz != NULL)
		bench_rpz(rpz);

	rg_bl_free(bl);
	free(batch);
	free(qoff);
	free(qbuf);
	free(nm.text);
	free(nm.off);
	return 0;
}
