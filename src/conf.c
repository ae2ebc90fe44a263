/*
 * conf.c -- reading and checking the configuration file.
 *
 * The file is read into memory, parsed by libconfig and then walked once,
 * section by section, into a struct rg_conf.  Every check that fails reports
 * "FILE:LINE: error: PATH: message" through the caller's callback and the
 * walk goes on, so that one run shows every mistake; PATH names the setting
 * the way it is written, with list positions counted from 0
 * ("pools[1].upstreams[0].port").  Only a file without a single error
 * yields a configuration.  Every string in it is a copy: libconfig's tree
 * is gone when rg_conf_load() returns.  Relative file names in the file are
 * taken relative to the directory of the file and stored absolute.
 */
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <libconfig.h>
#include <openssl/evp.h>

#include "config.h"
#include "conf.h"
#include "util.h"

const char *const rg_transport_str[] = {
	"udp", "tcp", "tls", "recursive", NULL
};

const char *const rg_role_str[] = {
	"primary", "fallback", "last-resort", NULL
};

#define CONF_MAX_SIZE		(16 * 1024 * 1024)
#define CONF_NAME_MAX		63

static const char *const conf_transports[] = { "udp", "tcp", "tls", NULL };
static const char *const conf_pool_types[] = { "forward", "recursive", NULL };
static const char *const conf_failbacks[] = { "auto", "manual", NULL };
static const char *const conf_feed_formats[] = {
	"stix2", "misp", "rpz", "domains", "adblock", "directive", NULL
};
static const char *const conf_feed_schemes[] = {
	"file://", "https://", "http://", "taxii+https://", "taxii+http://",
	"axfr://", NULL
};
/* What ldns signs and verifies. */
static const char *const conf_tsig_algorithms[] = {
	"hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512", NULL
};
static const char *const conf_actions[] = {
	"nxdomain", "nodata", "refused", "drop", "sinkhole", "log-only", NULL
};
static const char *const conf_report_types[] = {
	"http", "syslog", "matrix", NULL
};
static const char *const conf_url_schemes[] = { "https://", "http://", NULL };
static const char *const conf_proxy_schemes[] = {
	"http://", "https://", "socks5://", "socks5h://", NULL
};

static const char *const conf_root_keys[] = {
	"server", "http", "backend", "pools", "health", "failover", "journal",
	"feeds", "policy", "report", NULL
};
static const char *const conf_server_keys[] = {
	"listen", "access-control", "threads", "control-socket",
	"control-group", "state-dir", "user", "agent-id", "udp-size",
	"client-timeout-ms", "hedge-max-ms", "tcp-idle-timeout-ms",
	"serve-stale-cache", "notify-listen", "seccomp", "socket-affinity",
	NULL
};
static const char *const conf_http_keys[] = {
	"listen", "tls-cert-file", "tls-key-file", "push-token-file",
	"push-client-ca-file", NULL
};
static const char *const conf_backend_keys[] = {
	"type", "control", "control-use-cert", "control-key-file",
	"control-cert-file", "server-cert-file", "zones", "rpz-file",
	"rpz-zone", "forward-file", "path", "force", NULL
};
static const char *const conf_backend_types[] = {
	"builtin", "unbound", "resolvconf", NULL
};
/* The settings of each backend type besides "type", in its order. */
static const char *const conf_backend_type_keys[][10] = {
	{ NULL },
	{ "control", "control-use-cert", "control-key-file",
	  "control-cert-file", "server-cert-file", "zones", "rpz-file",
	  "rpz-zone", "forward-file", NULL },
	{ "path", "force", NULL },
};
static const char *const conf_pool_keys[] = {
	"name", "role", "type", "upstreams", "checks", "root-hints",
	"root-addresses", "trust-anchor-file", NULL
};
static const char *const conf_upstream_keys[] = {
	"name", "address", "port", "transport", "tls-name", "ca-file",
	"spki-pin", NULL
};
static const char *const conf_checks_keys[] = {
	"expect", "nxdomain-zone", "dnssec", "max-latency-ms", NULL
};
static const char *const conf_expect_keys[] = {
	"name", "type", "answer", NULL
};
static const char *const conf_dnssec_keys[] = { "signed", "bogus", NULL };
static const char *const conf_health_keys[] = {
	"interval-ms", "timeout-ms", "fall", "rise", "backoff-max-ms", "probe",
	NULL
};
static const char *const conf_probe_keys[] = { "name", "type", NULL };
static const char *const conf_failover_keys[] = {
	"failback", "failback-hold-s", NULL
};
static const char *const conf_journal_keys[] = { "ring", NULL };
static const char *const conf_feed_keys[] = {
	"name", "format", "source", "refresh-s", "action", "subdomains",
	"min-confidence", "default-lifetime-s", "timeout-ms", "max-bytes",
	"ca-file", "client-cert-file", "client-key-file", "spki-pin",
	"token-file", "username", "password-file", "hub-key-file", "signature",
	"zone", "tsig-name", "tsig-algorithm", "tsig-secret",
	"max-drop-percent", "max-rules", "proxy", "stale-after-s", NULL
};
static const char *const conf_policy_keys[] = {
	"action", "allowlist", "sinkhole-a", "sinkhole-aaaa", NULL
};
static const char *const conf_report_keys[] = {
	"name", "type", "url", "interval-s", "ca-file", "client-cert-file",
	"client-key-file", "token-file", "room", "socket", "timeout-ms",
	"queue-limit-bytes", "sightings", "client-addresses", "proxy", NULL
};

/* An error waiting to be reported in file and line order. */
struct conf_msg {
	int include;		/* 0: the file itself, 1: an @include file */
	char *file;
	unsigned int line;
	size_t seq;
	char *text;
};

/* One load in progress. */
struct conf_ctx {
	const char *path;
	char *dir;		/* absolute directory of the file */
	char *text;		/* its contents, for integer literals */
	rg_conf_error_cb *cb;
	void *arg;
	int nerr;
	int oom;
	struct conf_msg *msgs;
	size_t n_msgs;
	size_t max_msgs;
};

/* What an element of a list of strings must be. */
enum conf_elem {
	CONF_ELEM_ADDR,		/* "addr@port", PARAM is the default port */
	CONF_ELEM_PREFIX,	/* "addr/len" */
	CONF_ELEM_DNAME,	/* a domain name, stored fully qualified */
	CONF_ELEM_RDATA,	/* rdata of type PARAM, stored as ldns prints it */
};

/*
 * The functions below that look up one setting return 1 when it was there
 * and is good (and store it), 0 when it is absent (the default stays), or
 * -EINVAL once they have reported why it is not good.
 */

static void conf_verror(struct conf_ctx *, const char *, unsigned int,
    const char *, va_list) __attribute__((format(printf, 4, 0)));
static void conf_error(struct conf_ctx *, const config_setting_t *,
    const char *, ...) __attribute__((format(printf, 3, 4)));
static void conf_error_file(struct conf_ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void conf_error_at(struct conf_ctx *, const char *, unsigned int,
    const char *, ...) __attribute__((format(printf, 4, 5)));

/* Keep an error for conf_msg_flush(); -ENOMEM when it cannot wait. */
static int
conf_msg_add(struct conf_ctx *ctx, int include, const char *file,
    unsigned int line, const char *text)
{
	struct conf_msg *m;
	size_t max;

	if (ctx->n_msgs == ctx->max_msgs) {
		max = ctx->max_msgs > 0 ? ctx->max_msgs * 2 : 16;
		if ((m = reallocarray(ctx->msgs, max, sizeof(*m))) == NULL)
			return -ENOMEM;
		ctx->msgs = m;
		ctx->max_msgs = max;
	}
	m = &ctx->msgs[ctx->n_msgs];
	m->include = include;
	m->line = line;
	m->seq = ctx->n_msgs;
	m->file = strdup(file);
	m->text = strdup(text);
	if (m->file == NULL || m->text == NULL) {
		free(m->file);
		free(m->text);
		return -ENOMEM;
	}
	ctx->n_msgs++;
	return 0;
}

static int
conf_msg_cmp(const void *a, const void *b)
{
	const struct conf_msg *x = a, *y = b;
	int c;

	if (x->include != y->include)
		return x->include - y->include;
	if ((c = strcmp(x->file, y->file)) != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Report the errors kept, sorted by file and line: the checks run section
 * by section, but a reader goes through the file from the top.
 */
static void
conf_msg_flush(struct conf_ctx *ctx)
{
	size_t i;

	if (ctx->n_msgs > 1)
		qsort(ctx->msgs, ctx->n_msgs, sizeof(*ctx->msgs),
		    conf_msg_cmp);
	for (i = 0; i < ctx->n_msgs; i++) {
		if (ctx->cb != NULL)
			ctx->cb(ctx->arg, ctx->msgs[i].text);
		free(ctx->msgs[i].file);
		free(ctx->msgs[i].text);
	}
	free(ctx->msgs);
	ctx->msgs = NULL;
	ctx->n_msgs = ctx->max_msgs = 0;
}

/*
 * FILE is NULL for the file itself, or an @include name, which libconfig
 * keeps as written and opens relative to the directory of the file.
 */
static void
conf_verror(struct conf_ctx *ctx, const char *file, unsigned int line,
    const char *fmt, va_list ap)
{
	char msg[1024], name[PATH_MAX], out[1536 + PATH_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (file == NULL)
		snprintf(name, sizeof(name), "%s", ctx->path);
	else if (file[0] == '/' || ctx->dir == NULL)
		snprintf(name, sizeof(name), "%s", file);
	else
		snprintf(name, sizeof(name), "%s/%s", ctx->dir, file);
	if (line > 0)
		snprintf(out, sizeof(out), "%s:%u: error: %s", name, line, msg);
	else
		snprintf(out, sizeof(out), "%s: error: %s", name, msg);
	ctx->nerr++;
	if (conf_msg_add(ctx, file != NULL, name, line, out) < 0 &&
	    ctx->cb != NULL)
		ctx->cb(ctx->arg, out);
}

/* An error at setting S: its file and line. */
static void
conf_error(struct conf_ctx *ctx, const config_setting_t *s, const char *fmt,
    ...)
{
	const char *file = NULL;
	unsigned int line = 0;
	va_list ap;

	if (s != NULL) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	va_start(ap, fmt);
	conf_verror(ctx, file, line, fmt, ap);
	va_end(ap);
}

/* An error at LINE of FILE (as for conf_verror). */
static void
conf_error_at(struct conf_ctx *ctx, const char *file, unsigned int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(ctx, file, line, fmt, ap);
	va_end(ap);
}

/* An error about the whole file. */
static void
conf_error_file(struct conf_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(ctx, NULL, 0, fmt, ap);
	va_end(ap);
}

static void
conf_nomem(struct conf_ctx *ctx)
{
	if (!ctx->oom)
		conf_error_file(ctx, "out of memory");
	ctx->oom = 1;
}

static char *
conf_strdup(struct conf_ctx *ctx, const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		conf_nomem(ctx);
	return d;
}

static void *
conf_calloc(struct conf_ctx *ctx, size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n > 0 ? n : 1, size)) == NULL)
		conf_nomem(ctx);
	return p;
}

/*
 * A value written by the user, quoted for a message: control characters
 * escaped and long values cut, so that an error is always one sane line.
 */
static const char *
conf_quote(const char *s, char *buf, size_t len)
{
	size_t i = 0, n = 0;

	buf[i++] = '"';
	for (; s[n] != '\0' && i + 8 < len; n++) {
		unsigned char c = (unsigned char)s[n];

		if (c == '"' || c == '\\') {
			buf[i++] = '\\';
			buf[i++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			i += (size_t)snprintf(buf + i, len - i, "\\x%02x", c);
		else
			buf[i++] = (char)c;
	}
	if (s[n] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i++] = '"';
	buf[i] = '\0';
	return buf;
}

static const char *
conf_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

/* "WHERE.KEY", or "KEY" at the top level. */
static const char *
conf_path(char *buf, size_t len, const char *where, const char *key)
{
	snprintf(buf, len, "%s%s%s", where, *where != '\0' ? "." : "", key);
	return buf;
}

static int
conf_in(const char *const set[], const char *s)
{
	size_t i;

	for (i = 0; set[i] != NULL; i++)
		if (strcmp(set[i], s) == 0)
			return (int)i;
	return -1;
}

/* "a, b or c" */
static const char *
conf_join(const char *const set[], char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; set[i] != NULL && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		    i == 0 ? "" : set[i + 1] == NULL ? " or " : ", ", set[i]);
	return buf;
}

/* Report the members of group G that are not in KNOWN. */
static void
conf_keys(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *const known[])
{
	const config_setting_t *m;
	char q[160];
	int i;

	for (i = 0; (m = config_setting_get_elem(g, (unsigned int)i)) != NULL;
	    i++) {
		if (conf_in(known, config_setting_name(m)) >= 0)
			continue;
		conf_quote(config_setting_name(m), q, sizeof(q));
		if (*where != '\0')
			conf_error(ctx, m, "unknown setting %s in %s", q, where);
		else
			conf_error(ctx, m, "unknown setting %s", q);
	}
}

/*
 * The group KEY of G (or of nothing when G is NULL), with its unknown
 * members reported.
 */
static int
conf_group(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, const char *const known[], const config_setting_t **out)
{
	const config_setting_t *s;
	char kp[256];

	*out = NULL;
	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	conf_path(kp, sizeof(kp), where, key);
	if (!config_setting_is_group(s)) {
		conf_error(ctx, s, "%s: expected a group { ... }, got %s", kp,
		    conf_type_name(s));
		return -EINVAL;
	}
	conf_keys(ctx, s, kp, known);
	*out = s;
	return 1;
}

/*
 * The list of groups KEY of G; elements that are no group are reported
 * here, and skipped by the caller.
 */
static int
conf_list(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, const config_setting_t **out)
{
	const config_setting_t *s, *e;
	char kp[256];
	int i;

	*out = NULL;
	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	conf_path(kp, sizeof(kp), where, key);
	if (config_setting_is_array(s) && config_setting_length(s) == 0) {
		/* "[]" is libconfig's empty array; take it as an empty list. */
		*out = s;
		return 1;
	}
	if (!config_setting_is_list(s)) {
		conf_error(ctx, s, "%s: expected a list ( { ... }, ... ), "
		    "got %s", kp, conf_type_name(s));
		return -EINVAL;
	}
	for (i = 0; (e = config_setting_get_elem(s, (unsigned int)i)) != NULL;
	    i++)
		if (!config_setting_is_group(e))
			conf_error(ctx, e, "%s[%d]: expected a group { ... }, "
			    "got %s", kp, i, conf_type_name(e));
	*out = s;
	return 1;
}

/*
 * libconfig 1.5 wraps integer literals that do not fit in 32 bits without
 * a word.  Read the literal of setting S back from the file, so that
 * "ring = 4294967306;" is out of range rather than 10.
 */
static long long
conf_int_value(struct conf_ctx *ctx, const config_setting_t *s)
{
	long long v = config_setting_get_int64(s), lit;
	const char *name = config_setting_name(s), *p, *e;
	int found;
	unsigned int line = config_setting_source_line(s), l;
	size_t nlen;
	char *end;

	if (config_setting_type(s) != CONFIG_TYPE_INT || name == NULL ||
	    config_setting_source_file(s) != NULL || ctx->text == NULL)
		return v;
	for (p = ctx->text, l = 1; l < line && (p = strchr(p, '\n')) != NULL;
	    l++)
		p++;
	if (p == NULL)
		return v;
	e = strchr(p, '\n');
	nlen = strlen(name);
	found = 0;
	lit = v;
	for (; (p = strstr(p, name)) != NULL && (e == NULL || p < e); p++) {
		if (p > ctx->text && (isalnum((unsigned char)p[-1]) ||
		    strchr("-_*", p[-1]) != NULL))
			continue;
		end = (char *)p + nlen;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '=' && *end != ':')
			continue;
		end++;
		while (*end == ' ' || *end == '\t')
			end++;
		errno = 0;
		if (end[0] == '0' && (end[1] == 'x' || end[1] == 'X'))
			lit = strtoll(end, &end, 16);
		else if (*end == '-' || *end == '+' ||
		    isdigit((unsigned char)*end))
			lit = strtoll(end, &end, 10);
		else
			continue;
		/* Two settings of this name on one line: which one is S is
		 * unknown, so trust libconfig's value. */
		if (found++ > 0)
			return v;
		if (errno == ERANGE)
			lit = LLONG_MAX;
	}
	return found == 1 ? lit : v;
}

/* The integer KEY of G within MIN..MAX. */
static int
conf_int(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, long long min, long long max, uint32_t *out)
{
	const config_setting_t *s;
	long long v;
	char kp[256];

	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	conf_path(kp, sizeof(kp), where, key);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		conf_error(ctx, s, "%s: expected an integer, got %s", kp,
		    conf_type_name(s));
		return -EINVAL;
	}
	v = conf_int_value(ctx, s);
	if (v < min || v > max) {
		conf_error(ctx, s, "%s: %lld is out of range %lld..%lld", kp,
		    v, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 1;
}

/* The non-empty string KEY of G; *SP is the setting, *VAL its text. */
static int
conf_str(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, const config_setting_t **sp, const char **val)
{
	const config_setting_t *s;
	char kp[256];

	*sp = NULL;
	*val = NULL;
	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	conf_path(kp, sizeof(kp), where, key);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_error(ctx, s, "%s: expected a string, got %s", kp,
		    conf_type_name(s));
		return -EINVAL;
	}
	if (*config_setting_get_string(s) == '\0') {
		conf_error(ctx, s, "%s: must not be empty", kp);
		return -EINVAL;
	}
	*sp = s;
	*val = config_setting_get_string(s);
	return 1;
}

/* The string KEY of G, copied to *OUT. */
static int
conf_strcopy(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, char **out)
{
	const config_setting_t *s;
	const char *v;
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	if ((*out = conf_strdup(ctx, v)) == NULL)
		return -ENOMEM;
	return 1;
}

/* The required setting KEY of group G is absent: said at G's line. */
static void
conf_missing(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key)
{
	char kp[256];

	conf_error(ctx, g, "%s: required setting is missing",
	    conf_path(kp, sizeof(kp), where, key));
}

/* The string KEY of G, one of SET; WHAT names the kind in messages. */
static int
conf_enum(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, const char *what, const char *const set[], int *out)
{
	const config_setting_t *s;
	const char *v;
	char kp[256], q[160], all[256];
	int rc, i;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	if ((i = conf_in(set, v)) < 0) {
		conf_error(ctx, s, "%s: unknown %s %s (expected %s)",
		    conf_path(kp, sizeof(kp), where, key), what,
		    conf_quote(v, q, sizeof(q)), conf_join(set, all, sizeof(all)));
		return -EINVAL;
	}
	*out = i;
	return 1;
}

/* Names of pools, upstreams, feeds and reporters: short and plain. */
static int
conf_name_ok(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= CONF_NAME_MAX || (!isalnum((unsigned char)s[i]) &&
		    strchr(".-_", s[i]) == NULL))
			return 0;
	return 1;
}

/* The required name of the list element G, copied to *OUT. */
static int
conf_ident(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    char **out, const config_setting_t **sp)
{
	const char *v;
	char q[160];
	int rc;

	if ((rc = conf_str(ctx, g, where, "name", sp, &v)) <= 0) {
		if (rc == 0)
			conf_missing(ctx, g, where, "name");
		return rc < 0 ? rc : -EINVAL;
	}
	if (!conf_name_ok(v)) {
		conf_error(ctx, *sp, "%s.name: %s is not a valid name (1 to %d "
		    "letters, digits, '.', '-' or '_', starting with a letter "
		    "or digit)", where, conf_quote(v, q, sizeof(q)),
		    CONF_NAME_MAX);
		return -EINVAL;
	}
	if ((*out = conf_strdup(ctx, v)) == NULL)
		return -ENOMEM;
	return 1;
}

/* Domain name S, fully qualified, in *OUT; -EINVAL when it is none. */
static int
conf_dname_norm(const char *s, char **out)
{
	ldns_rdf *rdf;
	size_t i;

	*out = NULL;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return -EINVAL;
	if ((rdf = ldns_dname_new_frm_str(s)) == NULL)
		return -EINVAL;
	*out = ldns_rdf2str(rdf);
	ldns_rdf_deep_free(rdf);
	return *out != NULL ? 0 : -ENOMEM;
}

static int
conf_dname_check(struct conf_ctx *ctx, const config_setting_t *s,
    const char *kp, const char *v, char **out)
{
	char q[160];
	int rc;

	if ((rc = conf_dname_norm(v, out)) == -ENOMEM)
		conf_nomem(ctx);
	else if (rc < 0)
		conf_error(ctx, s, "%s: %s is not a valid domain name", kp,
		    conf_quote(v, q, sizeof(q)));
	return rc;
}

/* The domain name KEY of G, fully qualified, in *OUT. */
static int
conf_dname(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, char **out)
{
	const config_setting_t *s;
	const char *v;
	char kp[256];
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	conf_path(kp, sizeof(kp), where, key);
	if ((rc = conf_dname_check(ctx, s, kp, v, out)) < 0)
		return rc;
	return 1;
}

/* Types that a query may ask for. */
static int
conf_rrtype_ok(uint16_t t)
{
	switch (t) {
	case 0:
	case LDNS_RR_TYPE_OPT:
	case LDNS_RR_TYPE_TSIG:
	case LDNS_RR_TYPE_TKEY:
	case LDNS_RR_TYPE_IXFR:
	case LDNS_RR_TYPE_AXFR:
	case LDNS_RR_TYPE_MAILA:
	case LDNS_RR_TYPE_MAILB:
	case LDNS_RR_TYPE_ANY:
		return 0;
	default:
		return 1;
	}
}

/* The RR type KEY of G in *OUT. */
static int
conf_rrtype(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, uint16_t *out)
{
	const config_setting_t *s;
	const char *v;
	char kp[256], q[160];
	uint16_t t;
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	t = (uint16_t)ldns_get_rr_type_by_name(v);
	if (!conf_rrtype_ok(t)) {
		conf_error(ctx, s, "%s: %s is not an RR type a query can ask "
		    "for", conf_path(kp, sizeof(kp), where, key),
		    conf_quote(v, q, sizeof(q)));
		return -EINVAL;
	}
	*out = t;
	return 1;
}

/* A new string as printf(3) would print it, or NULL. */
static char *conf_printf(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static char *
conf_printf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* FILE made absolute against the directory of the configuration. */
static char *
conf_abspath(struct conf_ctx *ctx, const char *file)
{
	char *p;

	if (file[0] == '/')
		return conf_strdup(ctx, file);
	if ((p = conf_printf("%s/%s", ctx->dir, file)) == NULL)
		conf_nomem(ctx);
	return p;
}

/* 0 when FILE is a regular file we can open, else a negative errno. */
static int
conf_readable(const char *file)
{
	struct stat st;
	int fd, rc = 0;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	close(fd);
	return rc;
}

/* The file KEY of G, which must be readable, absolute in *OUT. */
static int
conf_file(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, char **out)
{
	const config_setting_t *s;
	const char *v;
	char kp[256], q[160];
	char *p;
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	if ((p = conf_abspath(ctx, v)) == NULL)
		return -ENOMEM;
	if ((rc = conf_readable(p)) < 0) {
		conf_error(ctx, s, "%s: cannot read %s: %s",
		    conf_path(kp, sizeof(kp), where, key),
		    conf_quote(p, q, sizeof(q)),
		    rc == -EINVAL ? "not a regular file" : strerror(-rc));
		free(p);
		return -EINVAL;
	}
	*out = p;
	return 1;
}

static int
conf_prefix_ok(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char addr[INET6_ADDRSTRLEN];
	const char *slash;
	char *end;
	size_t n;
	long len;
	int max;

	if ((slash = strchr(s, '/')) == NULL ||
	    (n = (size_t)(slash - s)) >= sizeof(addr))
		return 0;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, buf) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, buf) == 1)
		max = 128;
	else
		return 0;
	if (!isdigit((unsigned char)slash[1]))
		return 0;
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	return errno == 0 && *end == '\0' && len >= 0 && len <= max;
}

/*
 * RDATA of type TYPE as ldns prints it: its fields in presentation form,
 * separated by one space, names fully qualified.
 */
static int
conf_rdata_norm(const char *rdata, uint16_t type, char **out)
{
	ldns_buffer *buf = NULL;
	ldns_rr *rr = NULL;
	char *line = NULL, *tname = NULL;
	size_t i;
	int rc = -EINVAL;

	*out = NULL;
	if (strpbrk(rdata, "\n;") != NULL && type != LDNS_RR_TYPE_TXT)
		goto out;
	if ((tname = ldns_rr_type2str((ldns_rr_type)type)) == NULL ||
	    (line = conf_printf("x. 0 IN %s %s", tname, rdata)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) != LDNS_STATUS_OK ||
	    ldns_rr_rd_count(rr) == 0)
		goto out;
	if ((buf = ldns_buffer_new(64)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		if (i > 0)
			ldns_buffer_printf(buf, " ");
		/* ldns writes some fields (SVCB and HTTPS parameters) a byte
		 * at a time without growing the buffer, and aborts when it
		 * is full: make room for the longest text they can become. */
		if (!ldns_buffer_reserve(buf,
		    16 * ldns_rdf_size(ldns_rr_rdf(rr, i)) + 64) ||
		    ldns_rdf2buffer_str(buf, ldns_rr_rdf(rr, i)) !=
		    LDNS_STATUS_OK)
			goto out;
	}
	if ((*out = ldns_buffer_export2str(buf)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
out:
	ldns_buffer_free(buf);
	ldns_rr_free(rr);
	free(line);
	free(tname);
	return rc;
}

/* Check element S (text V, path KP) of a list of strings; copy to *OUT. */
static int
conf_elem(struct conf_ctx *ctx, const config_setting_t *s, const char *kp,
    const char *v, enum conf_elem kind, long param, char **out)
{
	char q[160], *tname;
	int rc;

	*out = NULL;
	switch (kind) {
	case CONF_ELEM_ADDR:
		if (rg_conf_parse_addr(v, (uint16_t)param, NULL, NULL) < 0) {
			conf_error(ctx, s, "%s: %s is not an address "
			    "(ADDRESS%s with a numeric IPv4 or IPv6 ADDRESS "
			    "and PORT 1..65535)", kp,
			    conf_quote(v, q, sizeof(q)),
			    param != 0 ? "[@PORT]" : "@PORT");
			return -EINVAL;
		}
		break;
	case CONF_ELEM_PREFIX:
		if (!conf_prefix_ok(v)) {
			conf_error(ctx, s, "%s: %s is not a prefix "
			    "(ADDRESS/LENGTH, 0..32 for IPv4, 0..128 for IPv6)",
			    kp, conf_quote(v, q, sizeof(q)));
			return -EINVAL;
		}
		break;
	case CONF_ELEM_DNAME:
		return conf_dname_check(ctx, s, kp, v, out);
	case CONF_ELEM_RDATA:
		if ((rc = conf_rdata_norm(v, (uint16_t)param, out)) ==
		    -ENOMEM) {
			conf_nomem(ctx);
			return rc;
		}
		if (rc < 0) {
			tname = ldns_rr_type2str((ldns_rr_type)param);
			conf_error(ctx, s, "%s: %s is not valid %s data", kp,
			    conf_quote(v, q, sizeof(q)),
			    tname != NULL ? tname : "rdata");
			free(tname);
			return rc;
		}
		return 0;
	}
	if ((*out = conf_strdup(ctx, v)) == NULL)
		return -ENOMEM;
	return 0;
}

/*
 * The list of strings KEY of G (an array [ ... ] or a list ( ... )), each
 * checked as KIND; with SINGLE, a lone string is taken as a list of one.
 */
static int
conf_strings(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, enum conf_elem kind, long param,
    int single, char ***out, size_t *n_out)
{
	const config_setting_t *s, *e;
	char kp[256], ep[300];
	char **v = NULL;
	size_t n, i;
	int rc = 1;

	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	conf_path(kp, sizeof(kp), where, key);
	if (single && config_setting_type(s) == CONFIG_TYPE_STRING) {
		if ((v = conf_calloc(ctx, 1, sizeof(*v))) == NULL)
			return -ENOMEM;
		*out = v;
		*n_out = 1;
		if (conf_elem(ctx, s, kp, config_setting_get_string(s), kind,
		    param, &v[0]) < 0)
			return -EINVAL;
		return 1;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		conf_error(ctx, s, "%s: expected %sa list of strings "
		    "[ \"...\", ... ], got %s", kp,
		    single ? "a string or " : "", conf_type_name(s));
		return -EINVAL;
	}
	n = (size_t)config_setting_length(s);
	if ((v = conf_calloc(ctx, n, sizeof(*v))) == NULL)
		return -ENOMEM;
	*out = v;
	*n_out = n;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned int)i);
		snprintf(ep, sizeof(ep), "%s[%zu]", kp, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_error(ctx, e, "%s: expected a string, got %s", ep,
			    conf_type_name(e));
			rc = -EINVAL;
			continue;
		}
		if (conf_elem(ctx, e, ep, config_setting_get_string(e), kind,
		    param, &v[i]) < 0)
			rc = -EINVAL;
	}
	return rc;
}

int
rg_conf_parse_addr(const char *s, uint16_t defport,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_storage tmp;
	struct sockaddr_in *sin = (struct sockaddr_in *)&tmp;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&tmp;
	char addr[INET6_ADDRSTRLEN];
	const char *at;
	unsigned long port = defport;
	socklen_t l;
	size_t n;
	char *end;

	if (s == NULL)
		return -EINVAL;
	at = strchr(s, '@');
	n = at != NULL ? (size_t)(at - s) : strlen(s);
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (at != NULL) {
		if (!isdigit((unsigned char)at[1]))
			return -EINVAL;
		errno = 0;
		port = strtoul(at + 1, &end, 10);
		if (errno != 0 || *end != '\0')
			return -EINVAL;
	}
	if (port == 0 || port > 65535)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l = sizeof(*sin6);
	} else
		return -EINVAL;
	if (ss != NULL)
		*ss = tmp;
	if (len != NULL)
		*len = l;
	return 0;
}

static int conf_bool(struct conf_ctx *, const config_setting_t *,
    const char *, const char *, int *);

static int
conf_server(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const struct sockaddr_un *sun = NULL;
	const config_setting_t *g, *s;
	const char *v;
	char q[160];
	char *p;
	int rc;

	if (conf_group(ctx, root, "", "server", conf_server_keys, &g) < 0)
		return -EINVAL;
	conf_strings(ctx, g, "server", "listen", CONF_ELEM_ADDR, 53, 0,
	    &conf->listen, &conf->n_listen);
	rc = conf_strings(ctx, g, "server", "access-control", CONF_ELEM_PREFIX,
	    0, 0, &conf->access_control, &conf->n_access_control);
	if (rc == 0) {
		if ((conf->access_control = conf_calloc(ctx, 2,
		    sizeof(char *))) == NULL)
			return -ENOMEM;
		conf->n_access_control = 2;
		conf->access_control[0] = conf_strdup(ctx, "127.0.0.0/8");
		conf->access_control[1] = conf_strdup(ctx, "::1/128");
	}
	conf_int(ctx, g, "server", "threads", 0, 256, &conf->threads);
	conf_bool(ctx, g, "server", "socket-affinity", &conf->socket_affinity);
	conf_int(ctx, g, "server", "udp-size", 512, 4096, &conf->udp_size);
	conf_int(ctx, g, "server", "client-timeout-ms", 100, 60000,
	    &conf->client_timeout_ms);
	conf_int(ctx, g, "server", "hedge-max-ms", 0, 10000,
	    &conf->hedge_max_ms);
	conf_int(ctx, g, "server", "tcp-idle-timeout-ms", 100, 600000,
	    &conf->tcp_idle_timeout_ms);
	conf_int(ctx, g, "server", "serve-stale-cache", 0, 10000000,
	    &conf->stale_cache);
	conf_strings(ctx, g, "server", "notify-listen", CONF_ELEM_ADDR, 53, 0,
	    &conf->notify_listen, &conf->n_notify_listen);

	if (conf_str(ctx, g, "server", "control-socket", &s, &v) > 0 &&
	    (p = conf_abspath(ctx, v)) != NULL) {
		if (strlen(p) >= sizeof(sun->sun_path))
			conf_error(ctx, s, "server.control-socket: %s is too "
			    "long for a UNIX socket (at most %zu bytes)",
			    conf_quote(p, q, sizeof(q)),
			    sizeof(sun->sun_path) - 1);
		conf->control_socket = p;
	}
	if (conf_str(ctx, g, "server", "control-group", &s, &v) > 0) {
		if (getgrnam(v) == NULL)
			conf_error(ctx, s, "server.control-group: no such "
			    "group %s", conf_quote(v, q, sizeof(q)));
		conf->control_group = conf_strdup(ctx, v);
	}
	if (conf_str(ctx, g, "server", "state-dir", &s, &v) > 0)
		conf->state_dir = conf_abspath(ctx, v);
	if (conf_str(ctx, g, "server", "user", &s, &v) > 0) {
		if (getpwnam(v) == NULL)
			conf_error(ctx, s, "server.user: no such user %s",
			    conf_quote(v, q, sizeof(q)));
		conf->user = conf_strdup(ctx, v);
	}
	conf_strcopy(ctx, g, "server", "agent-id", &conf->agent_id);
	conf_bool(ctx, g, "server", "seccomp", &conf->seccomp);
#ifndef HAVE_LIBSECCOMP
	if (conf->seccomp)
		conf_error(ctx, config_setting_get_member(g, "seccomp"),
		    "server.seccomp: this resguardd was built without "
		    "libseccomp, so it has no seccomp filter; build it with "
		    "libseccomp (Debian package libseccomp-dev) or set "
		    "server.seccomp = false");
#endif
	return 0;
}

/* A bearer token to compare with: its first line, long enough not to be
 * guessed, printable ASCII without spaces. */
static void
conf_token_check(struct conf_ctx *ctx, const config_setting_t *g,
    const char *file)
{
	char line[512], q[160];
	size_t n, i;
	FILE *fp;

	if ((fp = fopen(file, "re")) == NULL)
		return;
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	n = strcspn(line, "\r\n");
	for (i = 0; i < n; i++)
		if (line[i] <= ' ' || line[i] > '~')
			break;
	if (n < 16 || i < n)
		conf_error(ctx, config_setting_get_member(g, "push-token-file"),
		    "http.push-token-file: %s: the token (its first line) must "
		    "be at least 16 printable characters without spaces",
		    conf_quote(file, q, sizeof(q)));
	explicit_bzero(line, sizeof(line));
}

static int
conf_http(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g;

	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i;
	int tls;

	if (conf_group(ctx, root, "", "http", conf_http_keys, &g) < 0)
		return -EINVAL;
	conf_strings(ctx, g, "http", "listen", CONF_ELEM_ADDR, 0, 0,
	    &conf->http_listen, &conf->n_http_listen);
	conf_file(ctx, g, "http", "tls-cert-file", &conf->http_tls_cert_file);
	conf_file(ctx, g, "http", "tls-key-file", &conf->http_tls_key_file);
	if ((conf->http_tls_cert_file == NULL) !=
	    (conf->http_tls_key_file == NULL))
		conf_error(ctx, g, "http: tls-cert-file and tls-key-file go "
		    "together");
	tls = conf->http_tls_cert_file != NULL;
	if (conf_file(ctx, g, "http", "push-token-file",
	    &conf->push_token_file) > 0)
		conf_token_check(ctx, g, conf->push_token_file);
	conf_file(ctx, g, "http", "push-client-ca-file",
	    &conf->push_client_ca_file);
	if (conf->push_client_ca_file != NULL && !tls)
		conf_error(ctx, g, "http.push-client-ca-file: client "
		    "certificates need HTTPS (tls-cert-file, tls-key-file)");
	if (conf->push_client_ca_file != NULL && conf->push_token_file == NULL)
		conf_error(ctx, g, "http.push-client-ca-file: the push endpoint "
		    "is on only with push-token-file");
	/* A bearer token in clear text only on the loopback. */
	if (conf->push_token_file != NULL && !tls)
		for (i = 0; i < conf->n_http_listen; i++) {
			if (conf->http_listen[i] == NULL ||
			    rg_conf_parse_addr(conf->http_listen[i], 0, &ss,
			    &sl) < 0)
				continue;
			if ((ss.ss_family == AF_INET &&
			    (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr)
			    >> 24) == 127) || (ss.ss_family == AF_INET6 &&
			    IN6_IS_ADDR_LOOPBACK(
			    &((struct sockaddr_in6 *)&ss)->sin6_addr)))
				continue;
			conf_error(ctx, g, "http.push-token-file: the push "
			    "endpoint listens on %s without TLS; give "
			    "tls-cert-file and tls-key-file, or listen on the "
			    "loopback only", conf->http_listen[i]);
			break;
		}
	return 0;
}

/* The boolean KEY of G. */
static int
conf_bool(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, int *out)
{
	const config_setting_t *s;
	char kp[256];

	if (g == NULL || (s = config_setting_get_member(g, key)) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		conf_error(ctx, s, "%s: expected a boolean (true or false), "
		    "got %s", conf_path(kp, sizeof(kp), where, key),
		    conf_type_name(s));
		return -EINVAL;
	}
	*out = config_setting_get_bool(s);
	return 1;
}

/* The file KEY of G, to be written: absolute, in a directory that exists;
 * DEF when absent. */
static int
conf_outfile(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, const char *def, char **out)
{
	const config_setting_t *s;
	struct stat st;
	const char *v;
	char kp[256], q[160], *p, *slash;
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) < 0)
		return rc;
	if (rc == 0) {
		if (def != NULL && (*out = conf_strdup(ctx, def)) == NULL)
			return -ENOMEM;
		return 0;
	}
	if ((p = conf_abspath(ctx, v)) == NULL)
		return -ENOMEM;
	*out = p;
	conf_path(kp, sizeof(kp), where, key);
	slash = strrchr(p, '/');
	if (slash[1] == '\0') {
		conf_error(ctx, s, "%s: %s names a directory, not a file", kp,
		    conf_quote(p, q, sizeof(q)));
		return -EINVAL;
	}
	*slash = '\0';
	rc = stat(slash == p ? "/" : p, &st);
	if (rc < 0 || !S_ISDIR(st.st_mode))
		conf_error(ctx, s, "%s: directory %s: %s", kp,
		    conf_quote(slash == p ? "/" : p, q, sizeof(q)),
		    strerror(rc < 0 ? errno : ENOTDIR));
	*slash = '/';
	return rc < 0 || !S_ISDIR(st.st_mode) ? -EINVAL : 1;
}

/* The TLS file KEY of the unbound backend: given, or Unbound's default. */
static void
conf_backend_tls_file(struct conf_ctx *ctx, const config_setting_t *g,
    const char *key, const char *def, char **out)
{
	char q[160];
	int rc;

	if (conf_file(ctx, g, "backend", key, out) != 0 ||
	    (*out = conf_strdup(ctx, def)) == NULL)
		return;
	if ((rc = conf_readable(*out)) < 0)
		conf_error(ctx, g, "backend.%s: cannot read %s (the default): "
		    "%s; set it, or set control-use-cert = false when Unbound "
		    "has control-use-cert: no", key,
		    conf_quote(*out, q, sizeof(q)), rc == -EINVAL ?
		    "not a regular file" : strerror(-rc));
}

static void
conf_backend_unbound(struct conf_ctx *ctx, const config_setting_t *g,
    struct rg_conf *conf)
{
	static const char *const tls_keys[] = {
		"control-key-file", "control-cert-file", "server-cert-file",
		NULL
	};
	const struct sockaddr_un *sun = NULL;
	const config_setting_t *s;
	const char *v;
	char q[160];
	size_t i, j;
	int rc, unix_socket = 0;

	if ((rc = conf_str(ctx, g, "backend", "control", &s, &v)) > 0) {
		if (v[0] == '/') {
			unix_socket = 1;
			if (strlen(v) >= sizeof(sun->sun_path)) {
				conf_error(ctx, s, "backend.control: %s is too "
				    "long for a UNIX socket (at most %zu bytes)",
				    conf_quote(v, q, sizeof(q)),
				    sizeof(sun->sun_path) - 1);
				rc = -EINVAL;
			}
		} else if (rg_conf_parse_addr(v, 8953, NULL, NULL) < 0) {
			conf_error(ctx, s, "backend.control: %s is neither "
			    "ADDRESS[@PORT] (numeric IPv4 or IPv6) nor the "
			    "absolute path of a UNIX socket",
			    conf_quote(v, q, sizeof(q)));
			rc = -EINVAL;
		}
		conf->backend_control = conf_strdup(ctx, v);
	} else if (rc == 0)
		conf->backend_control = conf_strdup(ctx, "127.0.0.1@8953");
	conf_bool(ctx, g, "backend", "control-use-cert",
	    &conf->backend_control_use_cert);
	/* As in Unbound: TLS on TCP unless told otherwise, none on a UNIX
	 * socket unless told so (Unbound uses TLS on its UNIX socket too
	 * when its first control-interface is an address). */
	if (rc >= 0 && (conf->backend_control_use_cert == 1 ||
	    (conf->backend_control_use_cert < 0 && !unix_socket))) {
		conf_backend_tls_file(ctx, g, "control-key-file",
		    "/etc/unbound/unbound_control.key",
		    &conf->backend_control_key_file);
		conf_backend_tls_file(ctx, g, "control-cert-file",
		    "/etc/unbound/unbound_control.pem",
		    &conf->backend_control_cert_file);
		conf_backend_tls_file(ctx, g, "server-cert-file",
		    "/etc/unbound/unbound_server.pem",
		    &conf->backend_server_cert_file);
	} else if (rc >= 0) {
		for (i = 0; tls_keys[i] != NULL; i++)
			if ((s = config_setting_get_member(g, tls_keys[i])) !=
			    NULL)
				conf_error(ctx, s, "backend.%s: only used with "
				    "TLS remote control (control on TCP, or "
				    "control-use-cert = true)", tls_keys[i]);
	}

	rc = conf_strings(ctx, g, "backend", "zones", CONF_ELEM_DNAME, 0, 1,
	    &conf->backend_zones, &conf->n_backend_zones);
	if (rc == 0) {
		if ((conf->backend_zones = conf_calloc(ctx, 1,
		    sizeof(char *))) == NULL)
			return;
		conf->n_backend_zones = 1;
		conf->backend_zones[0] = conf_strdup(ctx, ".");
	} else if (rc > 0 && conf->n_backend_zones == 0)
		conf_error(ctx, config_setting_get_member(g, "zones"),
		    "backend.zones: at least one zone is needed");
	for (i = 0; rc > 0 && i < conf->n_backend_zones; i++)
		for (j = 0; j < i; j++)
			if (conf->backend_zones[i] != NULL &&
			    conf->backend_zones[j] != NULL &&
			    strcasecmp(conf->backend_zones[i],
			    conf->backend_zones[j]) == 0) {
				conf_error(ctx, config_setting_get_elem(
				    config_setting_get_member(g, "zones"),
				    (unsigned int)i), "backend.zones[%zu]: "
				    "zone %s is listed twice", i,
				    conf_quote(conf->backend_zones[i], q,
				    sizeof(q)));
				break;
			}

	conf_outfile(ctx, g, "backend", "rpz-file", NULL,
	    &conf->backend_rpz_file);
	if (conf_dname(ctx, g, "backend", "rpz-zone",
	    &conf->backend_rpz_zone) > 0) {
		s = config_setting_get_member(g, "rpz-zone");
		if (strcmp(conf->backend_rpz_zone, ".") == 0)
			conf_error(ctx, s, "backend.rpz-zone: the root cannot "
			    "be the RPZ zone");
		else if (conf->backend_rpz_file == NULL)
			conf_error(ctx, s, "backend.rpz-zone: only used with "
			    "rpz-file");
	} else if (conf->backend_rpz_zone == NULL)
		conf->backend_rpz_zone = conf_strdup(ctx, "resguard.rpz.");

	if (conf_outfile(ctx, g, "backend", "forward-file", NULL,
	    &conf->backend_forward_file) > 0 && conf->backend_rpz_file != NULL &&
	    strcmp(conf->backend_forward_file, conf->backend_rpz_file) == 0)
		conf_error(ctx, config_setting_get_member(g, "forward-file"),
		    "backend.forward-file: the same file as rpz-file");
}

static int
conf_backend(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g, *m;
	const char *key;
	int type = 0, rc, i;

	conf->backend_control_use_cert = -1;
	if ((rc = conf_group(ctx, root, "", "backend", conf_backend_keys,
	    &g)) < 0)
		return -EINVAL;
	/* The settings of a backend we do not know are not checked. */
	if (rc > 0 && conf_enum(ctx, g, "backend", "type", "backend",
	    conf_backend_types, &type) < 0)
		return -EINVAL;
	if ((conf->backend_type = conf_strdup(ctx,
	    conf_backend_types[type])) == NULL)
		return -ENOMEM;
	for (i = 0; g != NULL &&
	    (m = config_setting_get_elem(g, (unsigned int)i)) != NULL; i++) {
		key = config_setting_name(m);
		if (strcmp(key, "type") == 0 ||
		    conf_in(conf_backend_keys, key) < 0 ||
		    conf_in(conf_backend_type_keys[type], key) >= 0)
			continue;
		conf_error(ctx, m, "backend.%s: not used by backend \"%s\"",
		    key, conf_backend_types[type]);
	}
	switch (type) {
	case 1:
		conf_backend_unbound(ctx, g, conf);
		break;
	case 2:
		conf_outfile(ctx, g, "backend", "path", "/etc/resolv.conf",
		    &conf->backend_path);
		conf_bool(ctx, g, "backend", "force", &conf->backend_force);
		break;
	}
	return 0;
}

/* An upstream of POOL with the same name as UP, defined before it. */
static const struct rg_conf_upstream *
conf_upstream_dup(const struct rg_conf *conf,
    const struct rg_conf_upstream *up)
{
	const struct rg_conf_pool *pool;
	size_t i, j;

	for (i = 0; i < conf->n_pools; i++) {
		pool = &conf->pools[i];
		for (j = 0; j < pool->n_upstreams; j++) {
			if (&pool->upstreams[j] == up)
				return NULL;
			if (pool->upstreams[j].name != NULL &&
			    strcmp(pool->upstreams[j].name, up->name) == 0)
				return &pool->upstreams[j];
		}
	}
	return NULL;
}

/* The SPKI pin of G: the base64 of a SHA-256 digest, stored in canonical
 * form because it is compared with OpenSSL's encoding of a server's key. */
static void
conf_spki(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    char **out)
{
	const config_setting_t *s;
	unsigned char pin[48], canon[45];
	const char *v;
	char q[160];
	size_t n;

	if (conf_str(ctx, g, where, "spki-pin", &s, &v) <= 0)
		return;
	n = strlen(v);
	if (n != 44 || v[42] == '=' || v[43] != '=' ||
	    EVP_DecodeBlock(pin, (const unsigned char *)v, (int)n) != 33) {
		conf_error(ctx, s, "%s.spki-pin: %s is not the base64 of a "
		    "32-byte SHA-256 digest", where,
		    conf_quote(v, q, sizeof(q)));
		return;
	}
	EVP_EncodeBlock(canon, pin, 32);
	*out = conf_strdup(ctx, (const char *)canon);
}

static int
conf_upstream(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, struct rg_conf *conf, struct rg_conf_upstream *up)
{
	const struct rg_conf_upstream *dup;
	const config_setting_t *s, *name;
	struct sockaddr_in6 *sin6;
	struct sockaddr_in *sin;
	const char *v;
	char q[160];
	uint32_t port;
	int t = RG_TRANSPORT_UDP, trc, rc;
	size_t n;

	up->line = (int)config_setting_source_line(g);
	up->transport = RG_TRANSPORT_UDP;
	conf_keys(ctx, g, where, conf_upstream_keys);
	if (conf_ident(ctx, g, where, &up->name, &name) > 0 &&
	    (dup = conf_upstream_dup(conf, up)) != NULL) {
		if (dup->transport == RG_TRANSPORT_RECURSIVE)
			conf_error(ctx, name, "%s.name: duplicate upstream name "
			    "%s (the recursive pool at line %d has an upstream "
			    "of its own name)", where,
			    conf_quote(up->name, q, sizeof(q)), dup->line);
		else
			conf_error(ctx, name, "%s.name: duplicate upstream name "
			    "%s (first defined at line %d)", where,
			    conf_quote(up->name, q, sizeof(q)), dup->line);
	}

	if ((rc = conf_str(ctx, g, where, "address", &s, &v)) == 0)
		conf_missing(ctx, g, where, "address");
	else if (rc > 0) {
		sin = (struct sockaddr_in *)&up->addr;
		sin6 = (struct sockaddr_in6 *)&up->addr;
		if (inet_pton(AF_INET, v, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			up->addrlen = sizeof(*sin);
		} else if (inet_pton(AF_INET6, v, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			up->addrlen = sizeof(*sin6);
		} else
			conf_error(ctx, s, "%s.address: %s is not a numeric "
			    "IPv4 or IPv6 address", where,
			    conf_quote(v, q, sizeof(q)));
		up->address = conf_strdup(ctx, v);
	}

	if ((trc = conf_enum(ctx, g, where, "transport", "transport",
	    conf_transports, &t)) > 0)
		up->transport = (enum rg_transport)t;
	port = up->transport == RG_TRANSPORT_TLS ? 853 : 53;
	conf_int(ctx, g, where, "port", 1, 65535, &port);
	up->port = (uint16_t)port;
	if (up->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&up->addr)->sin_port = htons(up->port);
	else if (up->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&up->addr)->sin6_port =
		    htons(up->port);

	if ((rc = conf_str(ctx, g, where, "tls-name", &s, &v)) > 0) {
		char *norm;

		if ((rc = conf_dname_norm(v, &norm)) == -ENOMEM)
			conf_nomem(ctx);
		else if (rc < 0 || strcmp(norm, ".") == 0)
			conf_error(ctx, s, "%s.tls-name: %s is not a valid "
			    "host name", where, conf_quote(v, q, sizeof(q)));
		free(norm);
		/* Certificates name hosts without the trailing dot. */
		up->tls_name = conf_strdup(ctx, v);
		if (up->tls_name != NULL && (n = strlen(up->tls_name)) > 1 &&
		    up->tls_name[n - 1] == '.')
			up->tls_name[n - 1] = '\0';
	} else if (rc == 0 && up->transport == RG_TRANSPORT_TLS)
		conf_error(ctx, g, "%s.tls-name: required with transport "
		    "\"tls\" (DNS over TLS without a name check is refused)",
		    where);
	conf_file(ctx, g, where, "ca-file", &up->ca_file);
	conf_spki(ctx, g, where, &up->spki_pin);
	/* With a transport we do not know, these would be noise. */
	if (trc >= 0 && up->transport != RG_TRANSPORT_TLS) {
		static const char *const tls_only[] = {
			"tls-name", "ca-file", "spki-pin", NULL
		};
		size_t i;

		for (i = 0; tls_only[i] != NULL; i++)
			if ((s = config_setting_get_member(g, tls_only[i])) !=
			    NULL)
				conf_error(ctx, s, "%s.%s: only allowed with "
				    "transport \"tls\"", where, tls_only[i]);
	}
	return 0;
}

static int
conf_checks(struct conf_ctx *ctx, const config_setting_t *pg,
    const char *pwhere, struct rg_conf_checks *c)
{
	const config_setting_t *g, *e, *d;
	char where[64], ew[96], dw[96];

	snprintf(where, sizeof(where), "%s.checks", pwhere);
	c->expect_type = LDNS_RR_TYPE_A;
	if (conf_group(ctx, pg, pwhere, "checks", conf_checks_keys, &g) <= 0)
		return 0;
	snprintf(ew, sizeof(ew), "%s.expect", where);
	if (conf_group(ctx, g, where, "expect", conf_expect_keys, &e) > 0) {
		if (conf_dname(ctx, e, ew, "name", &c->expect_name) == 0)
			conf_missing(ctx, e, ew, "name");
		/* Answers are read as data of the type: no type, no check. */
		if (conf_rrtype(ctx, e, ew, "type", &c->expect_type) >= 0) {
			if (conf_strings(ctx, e, ew, "answer", CONF_ELEM_RDATA,
			    c->expect_type, 1, &c->expect_answers,
			    &c->n_expect_answers) == 0)
				conf_missing(ctx, e, ew, "answer");
			else if (c->expect_answers != NULL &&
			    c->n_expect_answers == 0)
				conf_error(ctx, config_setting_get_member(e,
				    "answer"), "%s.answer: at least one answer "
				    "is required", ew);
		}
	}
	conf_dname(ctx, g, where, "nxdomain-zone", &c->nxdomain_zone);
	snprintf(dw, sizeof(dw), "%s.dnssec", where);
	if (conf_group(ctx, g, where, "dnssec", conf_dnssec_keys, &d) > 0) {
		conf_dname(ctx, d, dw, "signed", &c->dnssec_signed);
		conf_dname(ctx, d, dw, "bogus", &c->dnssec_bogus);
	}
	conf_int(ctx, g, where, "max-latency-ms", 0, 60000,
	    &c->max_latency_ms);
	return 0;
}

/* Pool number I; *ROLE_OK tells whether its role is known. */
static int
conf_pool(struct conf_ctx *ctx, const config_setting_t *g, size_t i,
    struct rg_conf *conf, struct rg_conf_pool *pool, int *role_ok)
{
	static const char *const recursive_only[] = {
		"root-hints", "root-addresses", "trust-anchor-file", NULL
	};
	const config_setting_t *s, *list, *name;
	struct rg_conf_upstream *up;
	const struct rg_conf_upstream *dup;
	char where[32], uw[64], q[160];
	size_t j, n;
	int role = RG_ROLE_FALLBACK, type = 0, rc;

	snprintf(where, sizeof(where), "pools[%zu]", i);
	pool->line = (int)config_setting_source_line(g);
	conf_keys(ctx, g, where, conf_pool_keys);
	if (conf_ident(ctx, g, where, &pool->name, &name) > 0) {
		if (strcmp(pool->name, "auto") == 0)
			conf_error(ctx, name, "%s.name: \"auto\" is reserved "
			    "(\"resguardctl failover auto\")", where);
		for (j = 0; j < i; j++)
			if (conf->pools[j].name != NULL &&
			    strcmp(conf->pools[j].name, pool->name) == 0) {
				conf_error(ctx, name, "%s.name: duplicate pool "
				    "name %s (first defined at line %d)", where,
				    conf_quote(pool->name, q, sizeof(q)),
				    conf->pools[j].line);
				break;
			}
	}
	if ((rc = conf_enum(ctx, g, where, "role", "role", rg_role_str,
	    &role)) == 0)
		conf_missing(ctx, g, where, "role");
	*role_ok = rc > 0;
	pool->role = (enum rg_pool_role)role;
	conf_enum(ctx, g, where, "type", "pool type", conf_pool_types, &type);
	pool->recursive = type == 1;

	snprintf(uw, sizeof(uw), "%s.upstreams", where);
	if (pool->recursive) {
		if ((s = config_setting_get_member(g, "upstreams")) != NULL)
			conf_error(ctx, s, "%s: not allowed in a recursive pool",
			    uw);
		if ((pool->upstreams = conf_calloc(ctx, 1,
		    sizeof(*up))) == NULL)
			return -ENOMEM;
		pool->n_upstreams = 1;
		up = &pool->upstreams[0];
		up->line = pool->line;
		up->transport = RG_TRANSPORT_RECURSIVE;
		up->address = conf_strdup(ctx, "recursion");
		if (pool->name != NULL) {
			up->name = conf_strdup(ctx, pool->name);
			if (up->name != NULL &&
			    (dup = conf_upstream_dup(conf, up)) != NULL)
				conf_error(ctx, name, "%s.name: a recursive "
				    "pool has an upstream of its own name, and "
				    "upstream %s is defined at line %d", where,
				    conf_quote(up->name, q, sizeof(q)),
				    dup->line);
		}
	} else {
		rc = conf_list(ctx, g, where, "upstreams", &list);
		if (rc == 0)
			conf_error(ctx, g, "%s: required setting is missing "
			    "(a forward pool needs at least one upstream)", uw);
		else if (list != NULL && config_setting_length(list) == 0)
			conf_error(ctx, list, "%s: a forward pool needs at "
			    "least one upstream", uw);
		if (rc > 0 && (n = (size_t)config_setting_length(list)) > 0) {
			if ((pool->upstreams = conf_calloc(ctx, n,
			    sizeof(*up))) == NULL)
				return -ENOMEM;
			pool->n_upstreams = n;
			for (j = 0; j < n; j++) {
				const config_setting_t *e;
				char w[96];

				e = config_setting_get_elem(list,
				    (unsigned int)j);
				if (!config_setting_is_group(e))
					continue;
				snprintf(w, sizeof(w), "%s[%zu]", uw, j);
				conf_upstream(ctx, e, w, conf,
				    &pool->upstreams[j]);
			}
		}
		for (j = 0; recursive_only[j] != NULL; j++)
			if ((s = config_setting_get_member(g,
			    recursive_only[j])) != NULL)
				conf_error(ctx, s, "%s.%s: only allowed in a "
				    "recursive pool (type = \"recursive\")",
				    where, recursive_only[j]);
	}

	conf_checks(ctx, g, where, &pool->checks);
	if (pool->recursive) {
		conf_file(ctx, g, where, "root-hints", &pool->root_hints);
		conf_strings(ctx, g, where, "root-addresses", CONF_ELEM_ADDR,
		    53, 0, &pool->root_addrs, &pool->n_root_addrs);
		conf_file(ctx, g, where, "trust-anchor-file",
		    &pool->trust_anchor_file);
	}
	return 0;
}

static int
conf_pools(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *list, *first = NULL;
	size_t i, n, primary = 0;
	int rc, role_ok, roles_ok = 1;
	char q[160];

	if ((rc = conf_list(ctx, root, "", "pools", &list)) == 0) {
		conf_error_file(ctx, "pools: required setting is missing "
		    "(exactly one pool with role \"primary\" is needed)");
		return -EINVAL;
	}
	if (rc < 0)
		return rc;
	n = (size_t)config_setting_length(list);
	if ((conf->pools = conf_calloc(ctx, n, sizeof(*conf->pools))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list,
		    (unsigned int)i);

		conf->n_pools = i + 1;
		if (!config_setting_is_group(g)) {
			roles_ok = 0;
			continue;
		}
		conf_pool(ctx, g, i, conf, &conf->pools[i], &role_ok);
		roles_ok &= role_ok;
		if (!role_ok || conf->pools[i].role != RG_ROLE_PRIMARY)
			continue;
		if (first == NULL) {
			first = g;
			primary = i;
			continue;
		}
		conf_error(ctx, config_setting_get_member(g, "role"),
		    "pools[%zu].role: a second primary pool (pools[%zu] %s "
		    "at line %d is primary; exactly one is allowed)", i,
		    primary, conf_quote(conf->pools[primary].name != NULL ?
		    conf->pools[primary].name : "", q, sizeof(q)),
		    conf->pools[primary].line);
	}
	/* A role that did not parse may have been meant as "primary". */
	if (first == NULL && roles_ok)
		conf_error(ctx, list, "pools: no pool has role \"primary\" "
		    "(exactly one is needed)");
	return 0;
}

static int
conf_health(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g, *p, *s;
	int rc;

	if (conf_group(ctx, root, "", "health", conf_health_keys, &g) < 0)
		return -EINVAL;
	conf_int(ctx, g, "health", "interval-ms", 100, 3600000,
	    &conf->interval_ms);
	conf_int(ctx, g, "health", "timeout-ms", 50, 60000, &conf->timeout_ms);
	conf_int(ctx, g, "health", "fall", 1, 100, &conf->fall);
	conf_int(ctx, g, "health", "rise", 1, 100, &conf->rise);
	rc = conf_int(ctx, g, "health", "backoff-max-ms", 100, 86400000,
	    &conf->backoff_max_ms);
	if (rc > 0 && conf->backoff_max_ms < conf->interval_ms) {
		s = config_setting_get_member(g, "backoff-max-ms");
		conf_error(ctx, s, "health.backoff-max-ms: %u is less than "
		    "health.interval-ms (%u)", conf->backoff_max_ms,
		    conf->interval_ms);
	} else if (rc == 0 && conf->backoff_max_ms < conf->interval_ms)
		conf->backoff_max_ms = conf->interval_ms;
	if (conf_group(ctx, g, "health", "probe", conf_probe_keys, &p) > 0) {
		conf_dname(ctx, p, "health.probe", "name", &conf->probe_name);
		conf_rrtype(ctx, p, "health.probe", "type", &conf->probe_type);
	}
	return 0;
}

static int
conf_failover(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g;
	int fb = RG_FAILBACK_AUTO;

	if (conf_group(ctx, root, "", "failover", conf_failover_keys, &g) < 0)
		return -EINVAL;
	if (conf_enum(ctx, g, "failover", "failback", "failback mode",
	    conf_failbacks, &fb) > 0)
		conf->failback = (enum rg_failback)fb;
	conf_int(ctx, g, "failover", "failback-hold-s", 0, 86400,
	    &conf->failback_hold_s);
	return 0;
}

static int
conf_journal(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g;

	if (conf_group(ctx, root, "", "journal", conf_journal_keys, &g) < 0)
		return -EINVAL;
	conf_int(ctx, g, "journal", "ring", 10, 1000000, &conf->journal_ring);
	return 0;
}

/* The string KEY of G must start with one of SCHEMES and go on after it. */
static int
conf_url(struct conf_ctx *ctx, const config_setting_t *g, const char *where,
    const char *key, const char *const schemes[], char **out)
{
	const config_setting_t *s;
	const char *v;
	char q[160], all[128];
	size_t i, n;
	int rc;

	if ((rc = conf_str(ctx, g, where, key, &s, &v)) <= 0)
		return rc;
	for (i = 0; schemes[i] != NULL; i++) {
		n = strlen(schemes[i]);
		if (strncmp(v, schemes[i], n) == 0 && v[n] != '\0')
			break;
	}
	if (schemes[i] == NULL) {
		conf_error(ctx, s, "%s.%s: %s is not a URL starting with %s",
		    where, key, conf_quote(v, q, sizeof(q)),
		    conf_join(schemes, all, sizeof(all)));
		return -EINVAL;
	}
	if ((*out = conf_strdup(ctx, v)) == NULL)
		return -ENOMEM;
	return 1;
}

/*
 * The proxy of a feed or reporter: a URL, or "none" for none at all (not
 * even the environment's), kept as "" (libcurl's word for it).  Not set:
 * libcurl's choice from the environment (https_proxy, http_proxy,
 * no_proxy).
 */
static void
conf_proxy(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, char **out)
{
	const config_setting_t *s;
	const char *v;

	if (conf_str(ctx, g, where, "proxy", &s, &v) <= 0)
		return;
	if (strcmp(v, "none") == 0)
		*out = conf_strdup(ctx, "");
	else
		(void)conf_url(ctx, g, where, "proxy", conf_proxy_schemes,
		    out);
}

/*
 * A secret (KEY, or NULL for none) sent to URL through PROXY: not over
 * plain HTTP unless it stays on this host (a loopback URL, directly or
 * through a loopback proxy); it would cross the network in clear.
 * WHAT names the URL's setting when it is not the main one.
 */
static void
conf_cleartext(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, const char *url, const char *proxy, const char *key,
    const char *what)
{
	if (key == NULL || url == NULL)
		return;
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "taxii+http://", 13) != 0)
		return;
	if (rg_url_local(url, proxy))
		return;
	conf_error(ctx, g, "%s.%s: sent to %s over %.*s://%s, the secret "
	    "would cross the network in clear; use https://", where, key,
	    what != NULL ? what : "the source", (int)(strstr(url, "://") - url),
	    url, rg_url_loopback(url) ? " through a proxy off this host" : "");
}

/* The source of feed F: a URL, or "push" for a feed that hubs push. */
static void
conf_feed_source(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, struct rg_conf_feed *f)
{
	const config_setting_t *s;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *v, *slash;
	char q[160], addr[128];
	int rc;

	if ((rc = conf_str(ctx, g, where, "source", &s, &v)) < 0)
		return;
	if (rc == 0) {
		conf_missing(ctx, g, where, "source");
		return;
	}
	if (strcmp(v, "push") == 0) {
		f->source = conf_strdup(ctx, v);
		return;
	}
	if (conf_url(ctx, g, where, "source", conf_feed_schemes,
	    &f->source) <= 0)
		return;
	if (strncmp(v, "axfr://", 7) != 0)
		return;
	/* axfr://ADDR[@PORT]/ZONE */
	v += 7;
	if ((slash = strchr(v, '/')) == NULL || slash[1] == '\0' ||
	    (size_t)(slash - v) >= sizeof(addr)) {
		conf_error(ctx, s, "%s.source: %s is not axfr://ADDRESS[@PORT]"
		    "/ZONE", where, conf_quote(f->source, q, sizeof(q)));
		return;
	}
	memcpy(addr, v, (size_t)(slash - v));
	addr[slash - v] = '\0';
	if (rg_conf_parse_addr(addr, 53, &ss, &sl) < 0)
		conf_error(ctx, s, "%s.source: %s is not an IP address with "
		    "an optional @port", where, conf_quote(addr, q, sizeof(q)));
	else if (conf_dname_norm(slash + 1, &f->zone) < 0)
		conf_error(ctx, s, "%s.source: %s is not a zone name", where,
		    conf_quote(slash + 1, q, sizeof(q)));
	else
		for (char *c = f->zone; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
}

/* What a feed's transport and format may use, checked together. */
static void
conf_feed_options(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, struct rg_conf_feed *f)
{
	static const char *const web_keys[] = {
		"ca-file", "client-cert-file", "client-key-file", "spki-pin",
		"token-file", "username", "password-file", "proxy", NULL
	};
	static const char *const tsig_keys[] = {
		"tsig-name", "tsig-algorithm", "tsig-secret", NULL
	};
	static const char *const stix_keys[] = {
		"min-confidence", "default-lifetime-s", NULL
	};
	const config_setting_t *s;
	const char *fmt = f->format != NULL ? f->format : "";
	int web = 0, taxii = 0, axfr = 0;
	unsigned char secret[512];
	uint32_t u;
	const char *v;
	size_t i, n;
	int action;

	if (f->source != NULL) {
		taxii = strncmp(f->source, "taxii+", 6) == 0;
		axfr = strncmp(f->source, "axfr://", 7) == 0;
		web = taxii || strncmp(f->source, "https://", 8) == 0 ||
		    strncmp(f->source, "http://", 7) == 0;
	}
	if (conf_enum(ctx, g, where, "action", "action", conf_actions,
	    &action) > 0)
		f->action = conf_strdup(ctx, conf_actions[action]);
	conf_bool(ctx, g, where, "subdomains", &f->subdomains);
	u = 0;
	conf_int(ctx, g, where, "min-confidence", 0, 100, &u);
	f->min_confidence = (int)u;
	u = 90 * 86400;
	conf_int(ctx, g, where, "default-lifetime-s", 0, 3650LL * 86400, &u);
	f->default_lifetime_s = u;
	f->timeout_ms = 30000;
	conf_int(ctx, g, where, "timeout-ms", 100, 600000, &f->timeout_ms);
	u = 64 * 1024 * 1024;
	conf_int(ctx, g, where, "max-bytes", 1024, 1024LL * 1024 * 1024, &u);
	f->max_bytes = u;
	u = 10000000;
	conf_int(ctx, g, where, "max-rules", 1, 100000000, &u);
	f->max_rules = u;
	f->max_drop_percent = 50;
	conf_int(ctx, g, where, "max-drop-percent", 1, 100,
	    &f->max_drop_percent);
	if (conf_int(ctx, g, where, "stale-after-s", 0, 365 * 86400,
	    &f->stale_after_s) > 0 && f->stale_after_s != 0 &&
	    f->stale_after_s <= f->refresh_s && f->source != NULL &&
	    strcmp(f->source, "push") != 0)
		conf_error(ctx, config_setting_get_member(g, "stale-after-s"),
		    "%s.stale-after-s: %u is not longer than refresh-s (%u): "
		    "the feed would be stale between two checks", where,
		    (unsigned)f->stale_after_s, (unsigned)f->refresh_s);
	conf_file(ctx, g, where, "ca-file", &f->ca_file);
	conf_file(ctx, g, where, "client-cert-file", &f->client_cert_file);
	conf_file(ctx, g, where, "client-key-file", &f->client_key_file);
	if ((f->client_cert_file == NULL) != (f->client_key_file == NULL))
		conf_error(ctx, g, "%s: client-cert-file and client-key-file "
		    "go together", where);
	conf_spki(ctx, g, where, &f->spki_pin);
	conf_file(ctx, g, where, "token-file", &f->token_file);
	conf_strcopy(ctx, g, where, "username", &f->username);
	conf_file(ctx, g, where, "password-file", &f->password_file);
	if ((f->username == NULL) != (f->password_file == NULL))
		conf_error(ctx, g, "%s: username and password-file go "
		    "together", where);
	if (f->username != NULL && f->token_file != NULL)
		conf_error(ctx, g, "%s: token-file and username are two ways "
		    "to authenticate; give one", where);
	conf_proxy(ctx, g, where, &f->proxy);
	conf_cleartext(ctx, g, where, f->source, f->proxy,
	    f->token_file != NULL ? "token-file" : f->username != NULL ?
	    "password-file" : NULL, NULL);
	conf_file(ctx, g, where, "hub-key-file", &f->hub_key_file);
	conf_strcopy(ctx, g, where, "signature", &f->signature);
	/* The signature is asked for with the feed's credentials. */
	conf_cleartext(ctx, g, where, f->signature, f->proxy,
	    f->token_file != NULL ? "token-file" : f->username != NULL ?
	    "password-file" : NULL, "the signature");
	if (f->signature != NULL && f->hub_key_file == NULL)
		conf_error(ctx, g, "%s.signature: needs hub-key-file, the key "
		    "it is checked with", where);
	if (f->hub_key_file == NULL && strcmp(fmt, "directive") == 0)
		conf_error(ctx, g, "%s.hub-key-file: required with format "
		    "\"directive\": a hub directive is taken only signed",
		    where);
	if (f->hub_key_file != NULL && (taxii || axfr))
		conf_error(ctx, g, "%s.hub-key-file: signatures apply to "
		    "documents from file://, https:// or a push; %s is "
		    "authenticated by %s", where, taxii ? "TAXII" : "a transfer",
		    taxii ? "TLS" : "TSIG");
	if (!web)
		for (i = 0; web_keys[i] != NULL; i++)
			if ((s = config_setting_get_member(g, web_keys[i])) !=
			    NULL)
				conf_error(ctx, s, "%s.%s: used only with "
				    "https:// and TAXII sources", where,
				    web_keys[i]);
	if (taxii && strcmp(fmt, "stix2") != 0 && f->format != NULL)
		conf_error(ctx, g, "%s.source: TAXII collections carry STIX "
		    "2.1; the format must be \"stix2\"", where);
	if (axfr && strcmp(fmt, "rpz") != 0 && f->format != NULL)
		conf_error(ctx, g, "%s.source: a zone transfer carries an RPZ "
		    "zone; the format must be \"rpz\"", where);
	if (strcmp(fmt, "stix2") != 0 && f->format != NULL)
		for (i = 0; stix_keys[i] != NULL; i++)
			if ((s = config_setting_get_member(g, stix_keys[i])) !=
			    NULL)
				conf_error(ctx, s, "%s.%s: used only with "
				    "format \"stix2\"", where, stix_keys[i]);
	if ((s = config_setting_get_member(g, "subdomains")) != NULL &&
	    f->format != NULL && strcmp(fmt, "stix2") != 0 &&
	    strcmp(fmt, "misp") != 0)
		conf_error(ctx, s, "%s.subdomains: used only with formats "
		    "\"stix2\" and \"misp\" (the others say it rule by rule)",
		    where);
	if ((s = config_setting_get_member(g, "zone")) != NULL) {
		if (strcmp(fmt, "rpz") != 0 || axfr)
			conf_error(ctx, s, "%s.zone: used only with format "
			    "\"rpz\" from a file, https:// or a push (a "
			    "transfer names its zone in the source)", where);
		else
			conf_dname(ctx, g, where, "zone", &f->zone);
	}
	if (!axfr) {
		for (i = 0; tsig_keys[i] != NULL; i++)
			if ((s = config_setting_get_member(g, tsig_keys[i])) !=
			    NULL)
				conf_error(ctx, s, "%s.%s: used only with "
				    "axfr:// sources", where, tsig_keys[i]);
		return;
	}
	conf_dname(ctx, g, where, "tsig-name", &f->tsig_name);
	action = 2;	/* hmac-sha256 */
	conf_enum(ctx, g, where, "tsig-algorithm", "TSIG algorithm",
	    conf_tsig_algorithms, &action);
	f->tsig_algorithm = conf_strdup(ctx, conf_tsig_algorithms[action]);
	if (conf_str(ctx, g, where, "tsig-secret", &s, &v) > 0) {
		n = strlen(v);
		if (n == 0 || n % 4 != 0 || n > 680 ||
		    EVP_DecodeBlock(secret, (const unsigned char *)v,
		    (int)n) < 0)
			conf_error(ctx, s, "%s.tsig-secret: not base64", where);
		else
			f->tsig_secret = conf_strdup(ctx, v);
	}
	if ((f->tsig_name == NULL) != (f->tsig_secret == NULL))
		conf_error(ctx, g, "%s: tsig-name and tsig-secret go together",
		    where);
}

static int
conf_feeds(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *list, *g, *name;
	struct rg_conf_feed *f;
	char where[32], q[160];
	size_t i, j, n;
	int fmt, rc;

	if (conf_list(ctx, root, "", "feeds", &list) <= 0)
		return 0;
	if ((n = (size_t)config_setting_length(list)) == 0)
		return 0;
	if ((conf->feeds = conf_calloc(ctx, n, sizeof(*f))) == NULL)
		return -ENOMEM;
	conf->n_feeds = n;
	for (i = 0; i < n; i++) {
		f = &conf->feeds[i];
		g = config_setting_get_elem(list, (unsigned int)i);
		if (!config_setting_is_group(g))
			continue;
		snprintf(where, sizeof(where), "feeds[%zu]", i);
		f->line = (int)config_setting_source_line(g);
		f->refresh_s = 300;
		conf_keys(ctx, g, where, conf_feed_keys);
		if (conf_ident(ctx, g, where, &f->name, &name) > 0)
			for (j = 0; j < i; j++)
				if (conf->feeds[j].name != NULL &&
				    strcmp(conf->feeds[j].name, f->name) == 0) {
					conf_error(ctx, name, "%s.name: "
					    "duplicate feed name %s (first "
					    "defined at line %d)", where,
					    conf_quote(f->name, q, sizeof(q)),
					    conf->feeds[j].line);
					break;
				}
		if ((rc = conf_enum(ctx, g, where, "format", "feed format",
		    conf_feed_formats, &fmt)) == 0)
			conf_missing(ctx, g, where, "format");
		else if (rc > 0)
			f->format = conf_strdup(ctx, conf_feed_formats[fmt]);
		conf_feed_source(ctx, g, where, f);
		conf_int(ctx, g, where, "refresh-s", 10, 604800,
		    &f->refresh_s);
		conf_feed_options(ctx, g, where, f);
	}
	return 0;
}

static int
conf_policy(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *g, *s;
	const char *v;
	char q[160];
	int action;

	if (conf_group(ctx, root, "", "policy", conf_policy_keys, &g) < 0)
		return -EINVAL;
	if (conf_enum(ctx, g, "policy", "action", "action", conf_actions,
	    &action) > 0)
		conf->policy_action = conf_strdup(ctx, conf_actions[action]);
	conf_strings(ctx, g, "policy", "allowlist", CONF_ELEM_DNAME, 0, 0,
	    &conf->allowlist, &conf->n_allowlist);
	if (conf_str(ctx, g, "policy", "sinkhole-a", &s, &v) > 0 &&
	    inet_pton(AF_INET, v, conf->sinkhole_a) != 1)
		conf_error(ctx, s, "policy.sinkhole-a: %s is not an IPv4 "
		    "address", conf_quote(v, q, sizeof(q)));
	if (conf_str(ctx, g, "policy", "sinkhole-aaaa", &s, &v) > 0 &&
	    inet_pton(AF_INET6, v, conf->sinkhole_aaaa) != 1)
		conf_error(ctx, s, "policy.sinkhole-aaaa: %s is not an IPv6 "
		    "address", conf_quote(v, q, sizeof(q)));
	return 0;
}

/* The settings of reporter R that depend on its type. */
static void
conf_report_options(struct conf_ctx *ctx, const config_setting_t *g,
    const char *where, struct rg_conf_report *r)
{
	static const char *const web_keys[] = {
		"url", "ca-file", "client-cert-file", "client-key-file",
		"token-file", "proxy", NULL
	};
	const config_setting_t *s;
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *v;
	char q[160];
	size_t i;

	if (strcmp(r->type, "syslog") == 0) {
		for (i = 0; web_keys[i] != NULL; i++)
			if ((s = config_setting_get_member(g, web_keys[i])) !=
			    NULL)
				conf_error(ctx, s, "%s.%s: not used by type "
				    "\"syslog\"", where, web_keys[i]);
		if (conf_str(ctx, g, where, "socket", &s, &v) > 0) {
			if (strncmp(v, "udp:", 4) == 0) {
				if (rg_conf_parse_addr(v + 4, 514, &ss,
				    &sl) < 0)
					conf_error(ctx, s, "%s.socket: %s is "
					    "not udp:ADDRESS[@PORT]", where,
					    conf_quote(v, q, sizeof(q)));
				r->socket = conf_strdup(ctx, v);
			} else
				r->socket = conf_abspath(ctx, v);
		}
	} else {
		if ((s = config_setting_get_member(g, "socket")) != NULL)
			conf_error(ctx, s, "%s.socket: used only by type "
			    "\"syslog\"", where);
		if (conf_url(ctx, g, where, "url", conf_url_schemes,
		    &r->url) == 0)
			conf_error(ctx, g, "%s.url: required for type \"%s\"",
			    where, r->type);
		conf_file(ctx, g, where, "ca-file", &r->ca_file);
		conf_file(ctx, g, where, "client-cert-file",
		    &r->client_cert_file);
		conf_file(ctx, g, where, "client-key-file",
		    &r->client_key_file);
		if ((r->client_cert_file == NULL) !=
		    (r->client_key_file == NULL))
			conf_error(ctx, g, "%s: client-cert-file and "
			    "client-key-file go together", where);
		conf_file(ctx, g, where, "token-file", &r->token_file);
		conf_proxy(ctx, g, where, &r->proxy);
		conf_cleartext(ctx, g, where, r->url, r->proxy,
		    r->token_file != NULL ? "token-file" : NULL, "the url");
	}
	if (strcmp(r->type, "matrix") == 0) {
		if (conf_str(ctx, g, where, "room", &s, &v) > 0) {
			if (v[0] != '!' || strchr(v, ':') == NULL)
				conf_error(ctx, s, "%s.room: %s is not a room "
				    "id (\"!opaque:server\")", where,
				    conf_quote(v, q, sizeof(q)));
			r->room = conf_strdup(ctx, v);
		} else
			conf_error(ctx, g, "%s.room: required for type "
			    "\"matrix\"", where);
		if (r->token_file == NULL &&
		    config_setting_get_member(g, "token-file") == NULL)
			conf_error(ctx, g, "%s.token-file: required for type "
			    "\"matrix\" (the access token)", where);
	} else if ((s = config_setting_get_member(g, "room")) != NULL)
		conf_error(ctx, s, "%s.room: used only by type \"matrix\"",
		    where);
}

static int
conf_reports(struct conf_ctx *ctx, const config_setting_t *root,
    struct rg_conf *conf)
{
	const config_setting_t *list, *g, *name;
	struct rg_conf_report *r;
	char where[32], q[160];
	size_t i, j, n;
	uint32_t u;
	int type, rc;

	if (conf_list(ctx, root, "", "report", &list) <= 0)
		return 0;
	if ((n = (size_t)config_setting_length(list)) == 0)
		return 0;
	if ((conf->reports = conf_calloc(ctx, n, sizeof(*r))) == NULL)
		return -ENOMEM;
	conf->n_reports = n;
	for (i = 0; i < n; i++) {
		r = &conf->reports[i];
		g = config_setting_get_elem(list, (unsigned int)i);
		if (!config_setting_is_group(g))
			continue;
		snprintf(where, sizeof(where), "report[%zu]", i);
		r->line = (int)config_setting_source_line(g);
		r->interval_s = 60;
		type = -1;
		conf_keys(ctx, g, where, conf_report_keys);
		if (conf_ident(ctx, g, where, &r->name, &name) > 0)
			for (j = 0; j < i; j++)
				if (conf->reports[j].name != NULL &&
				    strcmp(conf->reports[j].name,
				    r->name) == 0) {
					conf_error(ctx, name, "%s.name: "
					    "duplicate report name %s (first "
					    "defined at line %d)", where,
					    conf_quote(r->name, q, sizeof(q)),
					    conf->reports[j].line);
					break;
				}
		rc = conf_enum(ctx, g, where, "type", "report type",
		    conf_report_types, &type);
		if (rc == 0)
			conf_missing(ctx, g, where, "type");
		else if (rc > 0)
			r->type = conf_strdup(ctx, conf_report_types[type]);
		if (rc > 0)
			conf_report_options(ctx, g, where, r);
		conf_int(ctx, g, where, "interval-s", 1, 86400,
		    &r->interval_s);
		r->timeout_ms = 10000;
		conf_int(ctx, g, where, "timeout-ms", 100, 600000,
		    &r->timeout_ms);
		u = 64 * 1024 * 1024;
		conf_int(ctx, g, where, "queue-limit-bytes", 65536,
		    4LL * 1024 * 1024 * 1024 - 1, &u);
		r->queue_limit_bytes = u;
		r->sightings = 1;
		conf_bool(ctx, g, where, "sightings", &r->sightings);
		conf_bool(ctx, g, where, "client-addresses",
		    &r->client_addresses);
		/* A room gets events only: asking it for sightings is a
		 * mistake to say, not a wish to ignore. */
		if (r->type != NULL && strcmp(r->type, "matrix") == 0) {
			const config_setting_t *b;
			const char *k[] = { "sightings", "client-addresses" };
			size_t ki;

			for (ki = 0; ki < 2; ki++)
				if ((b = config_setting_get_member(g, k[ki])) !=
				    NULL && config_setting_type(b) ==
				    CONFIG_TYPE_BOOL &&
				    config_setting_get_bool(b))
					conf_error(ctx, b, "%s.%s: type "
					    "\"matrix\" sends events only, not "
					    "sightings", where, k[ki]);
			r->sightings = 0;
		}
	}
	return 0;
}

/* Strings whose default is not NULL. */
static int
conf_defaults(struct conf_ctx *ctx, struct rg_conf *conf)
{
	char host[256];

	if (conf->control_socket == NULL)
		conf->control_socket = conf_strdup(ctx,
		    "/run/resguard/control.sock");
	if (conf->state_dir == NULL)
		conf->state_dir = conf_strdup(ctx, "/var/lib/resguard");
	if (conf->agent_id == NULL) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		conf->agent_id = conf_strdup(ctx, host);
	}
	if (conf->probe_name == NULL)
		conf->probe_name = conf_strdup(ctx, ".");
	if (conf->policy_action == NULL)
		conf->policy_action = conf_strdup(ctx, "nxdomain");
	return ctx->oom ? -ENOMEM : 0;
}

/*
 * libconfig 1.5 reads an @include with stdio, and when reading fails (the
 * name is a directory, or empty) its scanner calls exit(): a reload would
 * end the daemon.  So every @include is looked at first, found the way the
 * scanner finds them (at the start of a line, outside comments and
 * strings) and resolved the way it resolves them (below the directory of
 * the file, a leading "/" dropped), in the included files as well; a name
 * that exists but is not a regular file is an error.  A missing file is
 * left to libconfig, which reports it.  FILE is NULL for the file itself.
 * Returns the number of errors.
 */
#define CONF_INCLUDE_DEPTH	10	/* libconfig's own limit */

static int
conf_includes(struct conf_ctx *ctx, const char *file, const char *text,
    int depth)
{
	const char *p, *s;
	char *name = NULL, *path = NULL, *sub, q[160];
	unsigned int line = 1;
	int errors = 0, state = 0, rc;	/* state: 0 code, 1 comment, 2 string */
	size_t n;
	FILE *f;
	long size;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		if (state == 1) {
			if (p[0] == '*' && p[1] == '/') {
				state = 0;
				p++;
			}
			continue;
		}
		if (state == 2) {
			if (*p == '\\' && p[1] != '\0' && *++p == '\n')
				line++;
			else if (*p == '"')
				state = 0;
			continue;
		}
		if (*p == '"')
			state = 2;
		else if (p[0] == '/' && p[1] == '*') {
			state = 1;
			p++;
		}
		else if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n") - 1;
		if (state != 0 || (p != text && p[-1] != '\n'))
			continue;
		s = p + strspn(p, " \t");
		if (strncmp(s, "@include", 8) != 0 ||
		    (s[8] != ' ' && s[8] != '\t'))
			continue;
		s += 8 + strspn(s + 8, " \t");
		if (*s != '"')
			continue;
		if ((name = malloc(strlen(s))) == NULL) {
			conf_nomem(ctx);
			return errors + 1;
		}
		/* As the scanner does: \\ and \" are escapes, a lone
		 * backslash is dropped, a newline is part of the name. */
		for (s++, n = 0; *s != '\0' && *s != '"'; s++) {
			if (*s == '\n')
				line++;
			if (*s == '\\' && s[1] != '\\' && s[1] != '"')
				continue;
			if (*s == '\\')
				s++;
			name[n++] = *s;
		}
		name[n] = '\0';
		p = *s == '"' ? s : s - 1;
		if ((path = conf_printf("%s/%s", ctx->dir,
		    name + (name[0] == '/'))) == NULL) {
			conf_nomem(ctx);
			free(name);
			return errors + 1;
		}
		rc = conf_readable(path);
		if (rc == -EISDIR || rc == -EINVAL) {
			conf_error_at(ctx, file, line, "@include %s: %s",
			    conf_quote(name, q, sizeof(q)), rc == -EISDIR ?
			    "a directory, not a file" : "not a regular file");
			errors++;
		} else if (rc == 0 && depth + 1 < CONF_INCLUDE_DEPTH &&
		    (f = fopen(path, "re")) != NULL) {
			if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
			    size <= CONF_MAX_SIZE && fseek(f, 0, SEEK_SET) == 0 &&
			    (sub = calloc(1, (size_t)size + 1)) != NULL) {
				if (fread(sub, 1, (size_t)size, f) == (size_t)size)
					errors += conf_includes(ctx, name, sub,
					    depth + 1);
				free(sub);
			}
			fclose(f);
		}
		free(path);
		free(name);
	}
	return errors;
}

/* Read the whole file into ctx->text; "cannot read" when we cannot. */
static int
conf_read(struct conf_ctx *ctx)
{
	struct stat st;
	char *dir = NULL, *slash, *text = NULL;
	size_t off = 0;
	ssize_t n;
	int fd = -1, rc;

	if ((fd = open(ctx->path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (st.st_size > CONF_MAX_SIZE) {
		rc = -EFBIG;
		goto out;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, text + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	text[off] = '\0';

	if ((dir = strdup(ctx->path)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((ctx->dir = realpath(dir, NULL)) == NULL) {
		rc = -errno;
		goto out;
	}
	ctx->text = text;
	text = NULL;
	rc = 0;
out:
	if (rc < 0)
		conf_error_file(ctx, "cannot read: %s", strerror(-rc));
	if (fd >= 0)
		close(fd);
	free(text);
	free(dir);
	return rc;
}

int
rg_conf_load(const char *path, struct rg_conf **out, rg_conf_error_cb *cb,
    void *arg)
{
	struct conf_ctx ctx;
	struct rg_conf *conf = NULL;
	const config_setting_t *root;
	config_t cfg;

	memset(&ctx, 0, sizeof(ctx));
	ctx.path = path;
	ctx.cb = cb;
	ctx.arg = arg;
	config_init(&cfg);
	if (conf_read(&ctx) < 0)
		goto out;
	/* libconfig resolves a relative @include against this. */
	config_set_include_dir(&cfg, ctx.dir);
	if (conf_includes(&ctx, NULL, ctx.text, 0) > 0)
		goto out;
	if (!config_read_string(&cfg, ctx.text)) {
		conf_error_at(&ctx, config_error_file(&cfg),
		    (unsigned int)config_error_line(&cfg), "%s",
		    config_error_text(&cfg));
		goto out;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->path = strdup(path)) == NULL) {
		conf_nomem(&ctx);
		goto out;
	}
	conf->interval_ms = 1000;
	conf->timeout_ms = 800;
	conf->udp_size = 1232;
	conf->client_timeout_ms = 3000;
	conf->hedge_max_ms = 50;
	conf->tcp_idle_timeout_ms = 10000;
	conf->stale_cache = 10000;
	conf->fall = 3;
	conf->rise = 3;
	conf->backoff_max_ms = 30000;
	conf->probe_type = LDNS_RR_TYPE_SOA;
	conf->failback = RG_FAILBACK_AUTO;
	conf->failback_hold_s = 120;
	conf->journal_ring = 1000;

	root = config_root_setting(&cfg);
	conf_keys(&ctx, root, "", conf_root_keys);
	conf_server(&ctx, root, conf);
	conf_http(&ctx, root, conf);
	conf_backend(&ctx, root, conf);
	conf_pools(&ctx, root, conf);
	conf_health(&ctx, root, conf);
	conf_failover(&ctx, root, conf);
	conf_journal(&ctx, root, conf);
	conf_feeds(&ctx, root, conf);
	conf_policy(&ctx, root, conf);
	conf_reports(&ctx, root, conf);
	conf_defaults(&ctx, conf);
out:
	conf_msg_flush(&ctx);
	config_destroy(&cfg);
	free(ctx.text);
	free(ctx.dir);
	if (ctx.nerr == 0 && conf != NULL) {
		*out = conf;
		return 0;
	}
	rg_conf_free(conf);
	return ctx.nerr > 0 ? -ctx.nerr : -1;
}

static void
conf_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
rg_conf_free(struct rg_conf *conf)
{
	struct rg_conf_pool *pool;
	struct rg_conf_upstream *up;
	size_t i, j;

	if (conf == NULL)
		return;
	free(conf->path);
	conf_strv_free(conf->listen, conf->n_listen);
	conf_strv_free(conf->access_control, conf->n_access_control);
	free(conf->control_socket);
	free(conf->control_group);
	free(conf->state_dir);
	free(conf->user);
	free(conf->agent_id);
	conf_strv_free(conf->http_listen, conf->n_http_listen);
	free(conf->http_tls_cert_file);
	free(conf->http_tls_key_file);
	free(conf->push_token_file);
	free(conf->push_client_ca_file);
	conf_strv_free(conf->notify_listen, conf->n_notify_listen);
	free(conf->backend_type);
	free(conf->backend_control);
	free(conf->backend_control_key_file);
	free(conf->backend_control_cert_file);
	free(conf->backend_server_cert_file);
	conf_strv_free(conf->backend_zones, conf->n_backend_zones);
	free(conf->backend_rpz_file);
	free(conf->backend_rpz_zone);
	free(conf->backend_forward_file);
	free(conf->backend_path);
	for (i = 0; i < conf->n_pools; i++) {
		pool = &conf->pools[i];
		free(pool->name);
		for (j = 0; j < pool->n_upstreams; j++) {
			up = &pool->upstreams[j];
			free(up->name);
			free(up->address);
			free(up->tls_name);
			free(up->ca_file);
			free(up->spki_pin);
		}
		free(pool->upstreams);
		free(pool->checks.expect_name);
		conf_strv_free(pool->checks.expect_answers,
		    pool->checks.n_expect_answers);
		free(pool->checks.nxdomain_zone);
		free(pool->checks.dnssec_signed);
		free(pool->checks.dnssec_bogus);
		free(pool->root_hints);
		conf_strv_free(pool->root_addrs, pool->n_root_addrs);
		free(pool->trust_anchor_file);
	}
	free(conf->pools);
	free(conf->probe_name);
	for (i = 0; i < conf->n_feeds; i++) {
		struct rg_conf_feed *f = &conf->feeds[i];

		free(f->name);
		free(f->format);
		free(f->source);
		free(f->action);
		free(f->ca_file);
		free(f->proxy);
		free(f->client_cert_file);
		free(f->client_key_file);
		free(f->spki_pin);
		free(f->token_file);
		free(f->username);
		free(f->password_file);
		free(f->hub_key_file);
		free(f->signature);
		free(f->zone);
		free(f->tsig_name);
		free(f->tsig_algorithm);
		free(f->tsig_secret);
	}
	free(conf->feeds);
	free(conf->policy_action);
	conf_strv_free(conf->allowlist, conf->n_allowlist);
	for (i = 0; i < conf->n_reports; i++) {
		free(conf->reports[i].name);
		free(conf->reports[i].type);
		free(conf->reports[i].url);
		free(conf->reports[i].ca_file);
		free(conf->reports[i].proxy);
		free(conf->reports[i].client_cert_file);
		free(conf->reports[i].client_key_file);
		free(conf->reports[i].token_file);
		free(conf->reports[i].room);
		free(conf->reports[i].socket);
	}
	free(conf->reports);
	free(conf);
}

const struct rg_conf_pool *
rg_conf_pool_find(const struct rg_conf *conf, const char *name)
{
	size_t i;

	if (conf == NULL || name == NULL)
		return NULL;
	for (i = 0; i < conf->n_pools; i++)
		if (conf->pools[i].name != NULL &&
		    strcmp(conf->pools[i].name, name) == 0)
			return &conf->pools[i];
	return NULL;
}
