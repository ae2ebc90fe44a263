/*
 * resguardctl.c -- the command-line client of the resguardd control socket.
 *
 * One run is one request: the command line becomes one JSON object on one
 * line, sent over the UNIX socket, and the daemon's one-line JSON reply is
 * printed as text for people or, with --json, as JSON for scripts.  The
 * whole exchange is bounded by one deadline.  The exit status follows the
 * monitoring-plugin convention, so that "resguardctl status" is a ready-made
 * Nagios or Icinga check: 0 OK, 1 WARNING, 2 CRITICAL, and 3 UNKNOWN, which
 * every command also uses when the daemon cannot be reached.  Everything
 * that comes from the daemon is treated as untrusted text: control bytes
 * are never written to the terminal.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libconfig.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define CTL_DEFAULT_SOCKET	"/run/resguard/control.sock"
#define CTL_SOCKET_ENV		"RESGUARD_SOCKET"
#define CTL_DEFAULT_TIMEOUT_MS	10000
#define CTL_MAX_TIMEOUT_S	86400.0
#define CTL_REPLY_MAX		(16 * 1024 * 1024)
/* "feeds export" replies with a whole zone, some 40 bytes a rule, built
 * and encoded while the daemon waits: a million rules take seconds. */
#define CTL_EXPORT_REPLY_MAX	((size_t)1024 * 1024 * 1024)
#define CTL_EXPORT_TIMEOUT_MS	120000

/* Exit statuses, in monitoring-plugin terms. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,	/* ok:false; WARNING for status */
	CTL_EXIT_USAGE = 2,	/* CRITICAL for status */
	CTL_EXIT_UNKNOWN = 3,	/* daemon unreachable; usage error of status */
};

#define CTL_COMMANDS(X)							\
	X(STATUS,	"status")					\
	X(UPSTREAMS,	"upstreams")					\
	X(FAILOVER,	"failover")					\
	X(FAILBACK,	"failback")					\
	X(CHECK,	"check")					\
	X(EVENTS,	"events")					\
	X(FEEDS,	"feeds")					\
	X(RELOAD,	"reload")

enum ctl_cmd {
#define X(n, s) CTL_CMD_##n,
	CTL_COMMANDS(X)
#undef X
	CTL_CMD_COUNT
};

static const char *const ctl_cmd_str[] = {
#define X(n, s) s,
	CTL_COMMANDS(X)
#undef X
};

struct ctl_opts {
	const char *socket;		/* -s */
	const char *conf;		/* -c */
	int json;			/* --json */
	int timeout_ms;			/* -t */
	int has_limit;			/* events --limit given */
	json_int_t limit;
	int rpz;			/* feeds export --rpz */
	const char *zone;		/* feeds export --zone */
	enum ctl_cmd cmd;
	char **args;			/* command arguments */
	int nargs;
};

static const char *const ctl_health_str[] = { "OK", "WARNING", "CRITICAL" };

/*
 * Allocation failures end the run: a client that cannot allocate a few
 * bytes has nothing better to do, and it keeps the printing code plain.
 */
static void *
xrealloc(void *p, size_t size)
{
	void *q;

	q = realloc(p, size ? size : 1);
	if (q == NULL) {
		fprintf(stderr, "resguardctl: out of memory\n");
		exit(CTL_EXIT_UNKNOWN);
	}
	return q;
}

static void *
xmalloc(size_t size)
{
	void *p;

	p = malloc(size ? size : 1);
	if (p == NULL) {
		fprintf(stderr, "resguardctl: out of memory\n");
		exit(CTL_EXIT_UNKNOWN);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t len = strlen(s) + 1;

	return memcpy(xmalloc(len), s, len);
}

static char *xprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0) {
		fprintf(stderr, "resguardctl: out of memory\n");
		exit(CTL_EXIT_UNKNOWN);
	}
	s = xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* A copy of S with control bytes replaced, safe to print on a terminal. */
static char *
clean_dup(const char *s)
{
	char *c, *p;

	c = xstrdup(s);
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

static void
clean_print(FILE *fp, const char *s)
{
	char *c;

	c = clean_dup(s);
	fputs(c, fp);
	free(c);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: resguardctl [-s SOCKET | -c FILE] [-t SECONDS] [--json] "
	    "COMMAND [ARG...]\n"
	    "       resguardctl -h | -V\n"
	    "\n"
	    "commands:\n"
	    "  status                 mode, pools, upstreams, feeds; exits 0 OK,\n"
	    "                         1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
	    "  upstreams              one row per upstream with its last error\n"
	    "  failover POOL|auto     pin POOL, or return to automatic\n"
	    "  failback               return to the primary pool now\n"
	    "  check NAME             would NAME be blocked, and by what\n"
	    "  events [--limit N]     the event journal, oldest first "
	    "(0 = all)\n"
	    "  feeds                  feed state\n"
	    "  feeds refresh [NAME]   fetch one feed or all now\n"
	    "  feeds accept NAME      apply the version of NAME held back\n"
	    "  feeds export --rpz [--zone NAME]\n"
	    "                         the blocklist as an RPZ zone on stdout\n"
	    "                         (zone resguard.rpz. unless NAME)\n"
	    "  reload                 re-read the configuration\n"
	    "\n"
	    "options:\n"
	    "  -s, --socket SOCKET    control socket (default $%s, else %s)\n"
	    "  -c, --config FILE      take the socket from FILE's "
	    "server.control-socket\n"
	    "  -t, --timeout SECONDS  bound on the whole request "
	    "(default %d)\n"
	    "  -j, --json             print the result as JSON\n"
	    "  -h, --help             print this help\n"
	    "  -V, --version          print the version\n",
	    CTL_SOCKET_ENV, CTL_DEFAULT_SOCKET, CTL_DEFAULT_TIMEOUT_MS / 1000);
}

static int usage_error(const struct ctl_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A usage error exits 2, except for status, where 2 already means CRITICAL
 * to a monitoring system: there it is 3, UNKNOWN.
 */
static int
usage_error(const struct ctl_opts *o, const char *fmt, ...)
{
	va_list ap;

	fputs("resguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	usage(stderr);
	return o->cmd == CTL_CMD_STATUS ? CTL_EXIT_UNKNOWN : CTL_EXIT_USAGE;
}

static int
cmd_lookup(const char *word, enum ctl_cmd *cmd)
{
	int i;

	for (i = 0; i < CTL_CMD_COUNT; i++)
		if (strcmp(word, ctl_cmd_str[i]) == 0) {
			*cmd = (enum ctl_cmd)i;
			return 0;
		}
	return -ENOENT;
}

static int
timeout_parse(const char *s, int *ms)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(d > 0) ||
	    d > CTL_MAX_TIMEOUT_S)
		return -EINVAL;
	*ms = (int)(d * 1000 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

static int
limit_parse(const char *s, json_int_t *limit)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*limit = (json_int_t)v;
	return 0;
}

/*
 * Parse the command line into O.  Returns -1 to go on, or an exit status.
 * Options may follow the command ("resguardctl events --limit 5 --json").
 */
static int
opts_parse(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "config",	required_argument,	NULL, 'c' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "limit",	required_argument,	NULL, 'l' },
		{ "rpz",	no_argument,		NULL, 'R' },
		{ "zone",	required_argument,	NULL, 'Z' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	const char *limit = NULL, *timeout = NULL;
	char *bad = NULL;
	int ch, help = 0, version = 0, i, rc;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
	o->cmd = CTL_CMD_COUNT;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:c:t:jhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 'c':
			o->conf = optarg;
			break;
		case 't':
			timeout = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'l':
			limit = optarg;
			break;
		case 'R':
			o->rpz = 1;
			break;
		case 'Z':
			o->zone = optarg;
			break;
		case 'h':
			help = 1;
			break;
		case 'V':
			version = 1;
			break;
		case ':':
			if (bad == NULL)
				bad = xprintf("option %s needs an argument",
				    argv[optind - 1]);
			break;
		default:
			if (bad == NULL && optopt != 0)
				bad = xprintf("unknown option -%c", optopt);
			else if (bad == NULL)
				bad = xprintf("unknown option %s",
				    argv[optind - 1]);
			break;
		}
	}
	if (help) {
		free(bad);
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (version) {
		free(bad);
		printf("resguardctl %s\n", PACKAGE_VERSION);
		return CTL_EXIT_OK;
	}

	/* Known first, so that a usage error of status exits UNKNOWN. */
	if (optind < argc)
		(void)cmd_lookup(argv[optind], &o->cmd);
	if (bad != NULL) {
		rc = usage_error(o, "%s", bad);
		free(bad);
		return rc;
	}
	if (optind >= argc)
		return usage_error(o, "no command given");
	if (o->cmd == CTL_CMD_COUNT)
		return usage_error(o, "unknown command \"%s\"", argv[optind]);
	o->args = argv + optind + 1;
	o->nargs = argc - optind - 1;

	if (o->socket != NULL && o->conf != NULL)
		return usage_error(o, "-s and -c exclude each other");
	if (o->socket != NULL && o->socket[0] == '\0')
		return usage_error(o, "-s needs a socket path");
	if (timeout != NULL && timeout_parse(timeout, &o->timeout_ms) != 0)
		return usage_error(o, "bad time-out \"%s\": seconds, more than "
		    "0 and at most %.0f", timeout, CTL_MAX_TIMEOUT_S);
	if (limit != NULL && o->cmd != CTL_CMD_EVENTS)
		return usage_error(o, "--limit is for the events command");
	if (limit != NULL) {
		if (limit_parse(limit, &o->limit) != 0)
			return usage_error(o, "bad --limit \"%s\": a number, "
			    "0 for all", limit);
		o->has_limit = 1;
	}
	if ((o->rpz || o->zone != NULL) && (o->cmd != CTL_CMD_FEEDS ||
	    o->nargs == 0 || strcmp(o->args[0], "export") != 0))
		return usage_error(o, "--rpz and --zone are for feeds export");
	if (o->zone != NULL && o->zone[0] == '\0')
		return usage_error(o, "--zone needs a zone name");
	if (o->rpz && timeout == NULL)
		o->timeout_ms = CTL_EXPORT_TIMEOUT_MS;

	switch (o->cmd) {
	case CTL_CMD_FAILOVER:
		if (o->nargs != 1)
			return usage_error(o, "failover needs one POOL, or "
			    "\"auto\"");
		break;
	case CTL_CMD_CHECK:
		if (o->nargs != 1)
			return usage_error(o, "check needs one NAME");
		break;
	case CTL_CMD_FEEDS:
		if (o->nargs == 0)
			break;
		if (strcmp(o->args[0], "accept") == 0) {
			if (o->nargs != 2)
				return usage_error(o, "feeds accept needs one "
				    "NAME");
			break;
		}
		if (strcmp(o->args[0], "export") == 0) {
			if (o->nargs != 1)
				return usage_error(o, "feeds export takes no "
				    "argument but its options");
			if (!o->rpz)
				return usage_error(o, "feeds export needs a "
				    "format: --rpz");
			break;
		}
		if (strcmp(o->args[0], "refresh") != 0)
			return usage_error(o, "unknown feeds argument \"%s\"",
			    o->args[0]);
		if (o->nargs > 2)
			return usage_error(o, "feeds refresh takes at most "
			    "one NAME");
		break;
	case CTL_CMD_STATUS:
	case CTL_CMD_UPSTREAMS:
	case CTL_CMD_FAILBACK:
	case CTL_CMD_EVENTS:
	case CTL_CMD_RELOAD:
	case CTL_CMD_COUNT:
		if (o->nargs != 0)
			return usage_error(o, "%s takes no argument",
			    ctl_cmd_str[o->cmd]);
		break;
	}
	for (i = 0; i < o->nargs; i++)
		if (o->args[i][0] == '\0')
			return usage_error(o, "empty argument");
	return -1;
}

/*
 * The socket path from server.control-socket in FILE, or the default when
 * the setting is absent.  Returns 0, or a negative errno after a message.
 */
static int
conf_socket(const char *file, char **path)
{
	config_setting_t *s;
	const char *v, *slash;
	char *dir = NULL, *real;
	config_t cf;
	int rc;

	config_init(&cf);
	slash = strrchr(file, '/');
	if (slash != NULL) {
		dir = xprintf("%.*s", (int)(slash - file), file);
		config_set_include_dir(&cf, dir[0] != '\0' ? dir : "/");
	}
	if (config_read_file(&cf, file) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "resguardctl: %s: cannot read the "
			    "configuration\n", file);
		else
			fprintf(stderr, "resguardctl: %s:%d: error: %s\n",
			    config_error_file(&cf) ? config_error_file(&cf) :
			    file, config_error_line(&cf),
			    config_error_text(&cf));
		rc = -EINVAL;
		goto out;
	}
	s = config_lookup(&cf, "server.control-socket");
	if (s == NULL) {
		*path = xstrdup(CTL_DEFAULT_SOCKET);
		rc = 0;
		goto out;
	}
	v = config_setting_get_string(s);
	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "resguardctl: %s:%d: error: "
		    "server.control-socket must be a path\n",
		    config_setting_source_file(s) ?
		    config_setting_source_file(s) : file,
		    config_setting_source_line(s));
		rc = -EINVAL;
		goto out;
	}
	if (v[0] == '/') {
		*path = xstrdup(v);
		rc = 0;
		goto out;
	}
	/* Relative: to the file's directory, as resguardd takes it. */
	if ((real = realpath(dir != NULL ? (dir[0] != '\0' ? dir : "/") :
	    ".", NULL)) == NULL) {
		rc = -errno;
		fprintf(stderr, "resguardctl: %s: the directory of the "
		    "configuration: %s\n", file, strerror(-rc));
		goto out;
	}
	*path = xprintf("%s/%s", real, v);
	free(real);
	rc = 0;
out:
	config_destroy(&cf);
	free(dir);
	return rc;
}

static json_t *
request_build(const struct ctl_opts *o)
{
	json_t *req, *v;

	req = json_object();
	if (req == NULL)
		return NULL;
	if (json_object_set_new(req, "command",
	    json_string(ctl_cmd_str[o->cmd])) != 0)
		goto fail;
	switch (o->cmd) {
	case CTL_CMD_FAILOVER:
		v = json_string(o->args[0]);
		if (v == NULL || json_object_set_new(req, "pool", v) != 0)
			goto fail;
		break;
	case CTL_CMD_CHECK:
		v = json_string(o->args[0]);
		if (v == NULL || json_object_set_new(req, "name", v) != 0)
			goto fail;
		break;
	case CTL_CMD_EVENTS:
		if (o->has_limit && json_object_set_new(req, "limit",
		    json_integer(o->limit)) != 0)
			goto fail;
		break;
	case CTL_CMD_FEEDS:
		if (o->rpz) {
			if (json_object_set_new(req, "export",
			    json_string("rpz")) != 0)
				goto fail;
			v = o->zone != NULL ? json_string(o->zone) : NULL;
			if (o->zone != NULL && (v == NULL ||
			    json_object_set_new(req, "zone", v) != 0))
				goto fail;
			break;
		}
		if (o->nargs >= 1 && json_object_set_new(req,
		    strcmp(o->args[0], "accept") == 0 ? "accept" : "refresh",
		    json_true()) != 0)
			goto fail;
		if (o->nargs == 2) {
			v = json_string(o->args[1]);
			if (v == NULL ||
			    json_object_set_new(req, "name", v) != 0)
				goto fail;
		}
		break;
	case CTL_CMD_STATUS:
	case CTL_CMD_UPSTREAMS:
	case CTL_CMD_FAILBACK:
	case CTL_CMD_RELOAD:
	case CTL_CMD_COUNT:
		break;
	}
	return req;
fail:
	json_decref(req);
	return NULL;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
left_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for EVENTS on FD until DEADLINE: 0, -ETIMEDOUT or -errno. */
static int
fd_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd;
	int n, left;

	for (;;) {
		left = left_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -errno;
	}
}

static int
sock_connect(const char *path, uint64_t deadline, int *fdp)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = -1, rc, err, left;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The daemon's backlog is full: busy, not gone. */
			left = left_ms(deadline);
			if (left == 0) {
				rc = -ETIMEDOUT;
				goto out;
			}
			(void)poll(NULL, 0, left < 20 ? left : 20);
			continue;
		}
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out;
		}
		if ((rc = fd_wait(fd, POLLOUT, deadline)) != 0)
			goto out;
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
			rc = -errno;
			goto out;
		}
		if (err != 0) {
			rc = -err;
			goto out;
		}
		break;
	}
	*fdp = fd;
	fd = -1;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	return rc;
}

static int
sock_send(int fd, const char *buf, size_t len, uint64_t deadline)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ENODATA : -errno;
		if ((rc = fd_wait(fd, POLLOUT, deadline)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Read one line, up to its newline, into a buffer that grows as the reply
 * does (a full status or a long journal is megabytes, an exported zone
 * more).  A reply that ends at the close without a newline is taken as it
 * is.  Returns 0, -ENODATA when the daemon closed without replying,
 * -EMSGSIZE past MAX bytes, -ETIMEDOUT, or -errno.
 */
static int
sock_recv_line(int fd, uint64_t deadline, size_t max, char **linep,
    size_t *lenp)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nl;
	ssize_t n;
	int rc;

	for (;;) {
		if (len == cap) {
			if (cap > max) {
				rc = -EMSGSIZE;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			if (cap > max + 1)
				cap = max + 1;
			buf = xrealloc(buf, cap + 1);
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			nl = memchr(buf + len, '\n', (size_t)n);
			len += (size_t)n;
			if (nl != NULL) {
				len = (size_t)(nl - buf);
				break;
			}
			continue;
		}
		if (n == 0) {
			if (len == 0) {
				rc = -ENODATA;
				goto out;
			}
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = errno == ECONNRESET && len == 0 ? -ENODATA :
			    -errno;
			goto out;
		}
		if ((rc = fd_wait(fd, POLLIN, deadline)) != 0)
			goto out;
	}
	if (len > max) {
		rc = -EMSGSIZE;
		goto out;
	}
	buf[len] = '\0';
	*linep = buf;
	*lenp = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

static void
unreachable(const char *path, int err, int timeout_ms, size_t max)
{
	const char *hint = "";

	fprintf(stderr, "resguardctl: cannot reach resguardd at ");
	clean_print(stderr, path);
	fputs(": ", stderr);
	switch (-err) {
	case ENOENT:
		fputs("no such file", stderr);
		hint = " (is resguardd running?)";
		break;
	case ECONNREFUSED:
		fputs("connection refused", stderr);
		hint = " (is resguardd running?)";
		break;
	case EACCES:
	case EPERM:
		fputs("permission denied", stderr);
		hint = " (run as root or as a member of the socket's group)";
		break;
	case ETIMEDOUT:
		fprintf(stderr, "no reply within %g s", timeout_ms / 1000.0);
		break;
	case ENODATA:
		fputs("connection closed without a reply", stderr);
		break;
	case EMSGSIZE:
		fprintf(stderr, "reply longer than %zu MB",
		    max / (1024 * 1024));
		break;
	case ENAMETOOLONG:
		fprintf(stderr, "socket path longer than %zu bytes",
		    sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		break;
	default:
		fputs(strerror(-err), stderr);
		break;
	}
	fprintf(stderr, "%s\n", hint);
}

/*
 * Send REQ and read the reply, of at most MAX bytes.  Returns 0, or an exit
 * status after a message.
 */
static int
exchange(const char *path, int timeout_ms, size_t max, const json_t *req,
    json_t **replyp)
{
	uint64_t deadline;
	json_error_t jerr;
	json_t *reply = NULL;
	char *out = NULL, *line = NULL, *msg;
	size_t len = 0;
	int fd = -1, rc;

	deadline = now_ms() + (uint64_t)timeout_ms;
	out = json_dumps(req, JSON_COMPACT);
	if (out == NULL) {
		fprintf(stderr, "resguardctl: out of memory\n");
		rc = CTL_EXIT_UNKNOWN;
		goto out;
	}
	msg = xprintf("%s\n", out);
	free(out);
	out = msg;
	if ((rc = sock_connect(path, deadline, &fd)) != 0 ||
	    (rc = sock_send(fd, out, strlen(out), deadline)) != 0 ||
	    (rc = sock_recv_line(fd, deadline, max, &line, &len)) != 0) {
		unreachable(path, rc, timeout_ms, max);
		rc = CTL_EXIT_UNKNOWN;
		goto out;
	}
	reply = json_loadb(line, len, 0, &jerr);
	if (reply == NULL || !json_is_object(reply) ||
	    !json_is_boolean(json_object_get(reply, "ok"))) {
		fprintf(stderr, "resguardctl: bad reply from resguardd at ");
		clean_print(stderr, path);
		if (reply == NULL) {
			fputs(": not JSON (", stderr);
			clean_print(stderr, jerr.text);
			fprintf(stderr, " at byte %zu)\n", (size_t)jerr.position);
		} else
			fputs(": not a control reply (no \"ok\")\n", stderr);
		rc = CTL_EXIT_UNKNOWN;
		goto out;
	}
	*replyp = reply;
	reply = NULL;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	json_decref(reply);
	free(line);
	free(out);
	return rc;
}

/* Members, tolerant of whatever the daemon left out. */
static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A cell: the text of a scalar member, "-" for null or absent. */
static char *
jcell(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	char *s, *c;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return clean_dup(json_string_value(v));
	case JSON_INTEGER:
		return xprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return xprintf("%g", json_real_value(v));
	case JSON_TRUE:
		return xstrdup("yes");
	case JSON_FALSE:
		return xstrdup("no");
	case JSON_OBJECT:
	case JSON_ARRAY:
		s = json_dumps(v, JSON_COMPACT);
		if (s == NULL)
			return xstrdup("?");
		c = clean_dup(s);
		free(s);
		return c;
	case JSON_NULL:
	default:
		return xstrdup("-");
	}
}

/* A table of text cells; row 0 is the header. */
struct table {
	size_t ncols;
	size_t nrows;
	char **cells;
	size_t *width;
};

static void
table_init(struct table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->width = xmalloc(ncols * sizeof(*t->width));
	memset(t->width, 0, ncols * sizeof(*t->width));
}

/* Append a row of NCOLS cells, taking ownership of them. */
static void
table_add_owned(struct table *t, char **row)
{
	size_t i, w;

	t->cells = xrealloc(t->cells,
	    (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++) {
		t->cells[t->nrows * t->ncols + i] = row[i];
		w = strlen(row[i]);
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
}

static void
table_print_row(const struct table *t, const char *indent, size_t r)
{
	const char *cell;
	size_t i;

	fputs(indent, stdout);
	for (i = 0; i < t->ncols; i++) {
		cell = t->cells[r * t->ncols + i];
		if (i + 1 == t->ncols)
			printf("%s\n", cell);
		else
			printf("%-*s  ", (int)t->width[i], cell);
	}
}

/* Print the header, then rows FROM to TO (excluded), each after INDENT. */
static void
table_print(const struct table *t, const char *indent, size_t from,
    size_t to)
{
	size_t r;

	table_print_row(t, indent, 0);
	for (r = from > 0 ? from : 1; r < to; r++)
		table_print_row(t, indent, r);
}

static void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
}

static void
table_header(struct table *t, const char *const *names)
{
	char *row[16];
	size_t i;

	for (i = 0; i < t->ncols; i++)
		row[i] = xstrdup(names[i]);
	table_add_owned(t, row);
}

/* "address@port#tls-name", as forward-addr reads in unbound.conf. */
static char *
upstream_address(const json_t *u)
{
	const char *addr = jstr(u, "address"), *tls = jstr(u, "tls_name");
	json_t *port = json_object_get(u, "port");
	char *s, *c;

	if (addr == NULL)
		return xstrdup("-");
	if (strcmp(jstr(u, "transport") ? jstr(u, "transport") : "",
	    "recursive") == 0)
		return xstrdup("(embedded recursion)");
	if (json_is_integer(port))
		s = xprintf("%s@%" JSON_INTEGER_FORMAT "%s%s", addr,
		    json_integer_value(port), tls ? "#" : "", tls ? tls : "");
	else
		s = xprintf("%s%s%s", addr, tls ? "#" : "", tls ? tls : "");
	c = clean_dup(s);
	free(s);
	return c;
}

static char *
upstream_rtt(const json_t *u)
{
	const json_t *v = json_object_get(u, "rtt_ms");

	if (!json_is_number(v))
		return xstrdup("-");
	return xprintf("%.1f ms", json_number_value(v));
}

/* The last error, preceded by its time when WITH_TIME. */
static char *
upstream_error(const json_t *u, int with_time)
{
	const char *e = jstr(u, "last_error"), *t = jstr(u, "last_error_time");
	char *s, *c;

	if (e == NULL)
		return xstrdup("-");
	if (with_time && t != NULL)
		s = xprintf("%s %s", t, e);
	else
		s = xstrdup(e);
	c = clean_dup(s);
	free(s);
	return c;
}

static void
feeds_table_print(const json_t *feeds)
{
	static const char *const hdr[] = {
		"FEED", "FORMAT", "STATE", "ENTRIES", "UPDATED", "LAST ERROR"
	};
	const json_t *f;
	struct table t;
	char *row[6];
	size_t i;

	table_init(&t, 6);
	table_header(&t, hdr);
	json_array_foreach(feeds, i, f) {
		row[0] = jcell(f, "name");
		row[1] = jcell(f, "format");
		row[2] = jcell(f, "state");
		row[3] = jcell(f, "entries");
		row[4] = jcell(f, "updated");
		row[5] = jcell(f, "last_error");
		table_add_owned(&t, row);
	}
	table_print(&t, "", 0, t.nrows);
	table_free(&t);
}

static void
reporters_table_print(const json_t *reps)
{
	static const char *const hdr[] = {
		"REPORTER", "QUEUED", "DELIVERED", "LAST ERROR"
	};
	const json_t *r;
	struct table t;
	char *row[4];
	size_t i;

	table_init(&t, 4);
	table_header(&t, hdr);
	json_array_foreach(reps, i, r) {
		row[0] = jcell(r, "name");
		row[1] = jcell(r, "queued");
		row[2] = jcell(r, "delivered");
		row[3] = jcell(r, "last_error");
		table_add_owned(&t, row);
	}
	table_print(&t, "", 0, t.nrows);
	table_free(&t);
}

static void
failback_line_print(const json_t *res)
{
	const json_t *fb = json_object_get(res, "failback");
	const json_t *healthy = json_object_get(fb, "primary_healthy_s");
	const char *pinned = jstr(res, "pinned"), *policy = jstr(fb, "policy");
	const char *mode = jstr(res, "mode"), *by = jstr(res, "pinned_by");

	if (pinned != NULL) {
		fputs("pinned to pool \"", stdout);
		clean_print(stdout, pinned);
		fputs("\"", stdout);
		if (by != NULL) {
			fputs(" by ", stdout);
			clean_print(stdout, by);
		}
		fputs(" (\"resguardctl failover auto\" unpins)", stdout);
	} else
		fputs("not pinned", stdout);
	if (!json_is_object(fb)) {
		fputs("\n", stdout);
		return;
	}
	if (policy != NULL && strcmp(policy, "manual") == 0)
		fputs("; fail-back manual", stdout);
	else if (json_is_integer(json_object_get(fb, "hold_s")))
		printf("; fail-back after %" JSON_INTEGER_FORMAT " s of "
		    "primary health", json_integer_value(json_object_get(fb,
		    "hold_s")));
	else
		fputs("; fail-back automatic", stdout);
	if (json_is_integer(healthy))
		printf("; primary healthy for %" JSON_INTEGER_FORMAT " s",
		    json_integer_value(healthy));
	else
		fputs("; primary not healthy", stdout);
	if (json_is_true(json_object_get(fb, "ready")) &&
	    (mode == NULL || strcmp(mode, "normal") != 0))
		fputs(policy != NULL && strcmp(policy, "manual") == 0 ?
		    ", ready (\"resguardctl failback\")" : ", ready", stdout);
	fputs("\n", stdout);
}

/* The verdict from the status result: 0, 1, 2, or 3 when missing. */
static int
status_code(const json_t *res)
{
	const json_t *code = json_object_get(json_object_get(res, "health"),
	    "code");
	json_int_t c;

	if (!json_is_integer(code))
		return CTL_EXIT_UNKNOWN;
	c = json_integer_value(code);
	return c >= 0 && c <= 2 ? (int)c : CTL_EXIT_UNKNOWN;
}

static json_int_t
guard_int(const json_t *g, const char *key)
{
	return json_integer_value(json_object_get(g, key));
}

/* One line on guard mode: where it answers, and what queries came to. */
static void
guard_line_print(const json_t *res)
{
	const json_t *g = json_object_get(res, "guard"), *v;
	json_int_t blocked = 0;
	const char *k;
	size_t i;

	if (json_is_null(g))
		fputs("guard: off (server.listen is empty: decisions only)\n",
		    stdout);
	if (!json_is_object(g))
		return;
	fputs("guard: ", stdout);
	json_array_foreach(json_object_get(g, "listen"), i, v) {
		if (i > 0)
			fputs(", ", stdout);
		clean_print(stdout, json_string_value(v) != NULL ?
		    json_string_value(v) : "?");
	}
	json_object_foreach((json_t *)json_object_get(g, "blocked"), k, v)
		blocked += json_integer_value(v);
	printf(" (%" JSON_INTEGER_FORMAT " workers", guard_int(g, "workers"));
	/* server.socket-affinity: the CPU of each, "-" for one without. */
	json_array_foreach(json_object_get(g, "worker_cpus"), i, v)
		if (json_is_integer(v))
			break;
	if (i < json_array_size(json_object_get(g, "worker_cpus"))) {
		fputs(" on CPUs", stdout);
		json_array_foreach(json_object_get(g, "worker_cpus"), i, v) {
			if (json_is_integer(v))
				printf("%s%" JSON_INTEGER_FORMAT, i > 0 ? ", " :
				    " ", json_integer_value(v));
			else
				printf("%s-", i > 0 ? ", " : " ");
		}
	}
	printf("): %" JSON_INTEGER_FORMAT
	    " queries, %" JSON_INTEGER_FORMAT " forwarded, %"
	    JSON_INTEGER_FORMAT " hedged, %" JSON_INTEGER_FORMAT " retried, %"
	    JSON_INTEGER_FORMAT " blocked, %" JSON_INTEGER_FORMAT
	    " stale, %" JSON_INTEGER_FORMAT " SERVFAIL, %" JSON_INTEGER_FORMAT
	    " refused by access control\n",
	    guard_int(g, "queries"),
	    guard_int(g, "forwarded"), guard_int(g, "hedged"),
	    guard_int(g, "retried"), blocked, guard_int(g, "stale"),
	    guard_int(g, "servfail"), guard_int(g, "refused_acl"));
	/* A worker held from its sockets is a latency every client felt. */
	v = json_object_get(g, "stalls");
	if (json_integer_value(json_object_get(v, "over_5ms")) > 0) {
		const json_t *m = json_object_get(g, "stall_max_ms");

		printf("guard: %" JSON_INTEGER_FORMAT " worker stalls over 5 ms"
		    " (%" JSON_INTEGER_FORMAT " of them on a CPU); longest "
		    "%.1f ms, %.1f ms on a CPU\n",
		    json_integer_value(json_object_get(v, "over_5ms")),
		    json_integer_value(json_object_get(v, "cpu_over_5ms")),
		    json_number_value(json_object_get(m, "wall")),
		    json_number_value(json_object_get(m, "cpu")));
	}
}

static void
status_print(const json_t *res)
{
	static const char *const hdr[] = {
		"UPSTREAM", "ADDRESS", "TRANSPORT", "STATE", "RTT",
		"LAST ERROR"
	};
	const json_t *pools, *pool, *ups, *u, *bl, *feeds, *reps;
	const char *active, *name, *role, *summary, *word;
	size_t i, j, *first, from;
	struct table t;
	char *row[6];
	int code;

	fputs("resguard ", stdout);
	clean_print(stdout, jstr(res, "version") ? jstr(res, "version") : "?");
	fputs(" on ", stdout);
	clean_print(stdout, jstr(res, "agent_id") ? jstr(res, "agent_id") :
	    "?");
	fputs(": mode ", stdout);
	clean_print(stdout, jstr(res, "mode") ? jstr(res, "mode") : "?");
	active = jstr(res, "active_pool");
	fputs(", active pool \"", stdout);
	clean_print(stdout, active ? active : "?");
	fputs("\"", stdout);
	if (jstr(res, "mode_since") != NULL) {
		fputs(" (since ", stdout);
		clean_print(stdout, jstr(res, "mode_since"));
		fputs(")", stdout);
	}
	fputs("\n", stdout);
	failback_line_print(res);

	/* One table for every pool, so that the columns line up across. */
	pools = json_object_get(res, "pools");
	table_init(&t, 6);
	table_header(&t, hdr);
	first = xmalloc((json_array_size(pools) + 1) * sizeof(*first));
	json_array_foreach(pools, i, pool) {
		first[i] = t.nrows;
		ups = json_object_get(pool, "upstreams");
		json_array_foreach(ups, j, u) {
			row[0] = jcell(u, "name");
			row[1] = upstream_address(u);
			row[2] = jcell(u, "transport");
			row[3] = jcell(u, "state");
			row[4] = upstream_rtt(u);
			row[5] = upstream_error(u, 0);
			table_add_owned(&t, row);
		}
	}
	first[json_array_size(pools)] = t.nrows;
	json_array_foreach(pools, i, pool) {
		name = jstr(pool, "name");
		role = jstr(pool, "role");
		fputs("\npool \"", stdout);
		clean_print(stdout, name ? name : "?");
		fputs("\" (", stdout);
		clean_print(stdout, role ? role : "?");
		printf("): %s", json_is_true(json_object_get(pool, "healthy")) ?
		    "healthy" : "not healthy");
		if (name != NULL && active != NULL && strcmp(name, active) == 0)
			fputs(", active", stdout);
		fputs("\n", stdout);
		from = first[i];
		if (from == first[i + 1])
			printf("  %s\n", role != NULL &&
			    strcmp(role, "last-resort") == 0 ?
			    "embedded recursion, no upstreams" : "no upstreams");
		else
			table_print(&t, "  ", from, first[i + 1]);
	}
	free(first);
	table_free(&t);

	fputs("\n", stdout);
	feeds = json_object_get(res, "feeds");
	if (json_array_size(feeds) > 0) {
		feeds_table_print(feeds);
		fputs("\n", stdout);
	} else
		fputs("feeds: none; ", stdout);
	bl = json_object_get(res, "blocklist");
	printf("blocklist: %" JSON_INTEGER_FORMAT " entries, %"
	    JSON_INTEGER_FORMAT " hits", json_integer_value(json_object_get(bl,
	    "entries")), json_integer_value(json_object_get(bl, "hits")));
	reps = json_object_get(res, "reporters");
	if (json_array_size(reps) > 0) {
		fputs("\n\n", stdout);
		reporters_table_print(reps);
	} else
		fputs("; reporters: none\n", stdout);
	guard_line_print(res);

	code = status_code(res);
	summary = jstr(json_object_get(res, "health"), "summary");
	word = code < 3 ? ctl_health_str[code] : "UNKNOWN";
	printf("\n%s: ", word);
	if (summary != NULL && strncmp(summary, word, strlen(word)) == 0 &&
	    summary[strlen(word)] == ':')
		summary += strlen(word) + 1 + (summary[strlen(word) + 1] == ' ');
	clean_print(stdout, summary ? summary : "no verdict in the reply");
	fputs("\n", stdout);
}

static void
upstreams_print(const json_t *res)
{
	static const char *const hdr[] = {
		"POOL", "UPSTREAM", "ADDRESS", "TRANSPORT", "STATE", "RTT",
		"PROBES", "FAILED", "LAST ERROR"
	};
	const json_t *ups = json_object_get(res, "upstreams"), *u;
	struct table t;
	char *row[9];
	size_t i;

	if (json_array_size(ups) == 0) {
		puts("no upstreams");
		return;
	}
	table_init(&t, 9);
	table_header(&t, hdr);
	json_array_foreach(ups, i, u) {
		row[0] = jcell(u, "pool");
		row[1] = jcell(u, "name");
		row[2] = upstream_address(u);
		row[3] = jcell(u, "transport");
		row[4] = jcell(u, "state");
		row[5] = upstream_rtt(u);
		row[6] = jcell(u, "probes");
		row[7] = jcell(u, "failed");
		row[8] = upstream_error(u, 1);
		table_add_owned(&t, row);
	}
	table_print(&t, "", 0, t.nrows);
	table_free(&t);
}

/* TIME TYPE SUBJECT OLD -> NEW: REASON, one line per event. */
static void
events_print(const json_t *res)
{
	const json_t *evs = json_object_get(res, "events"), *e;
	const char *old, *new_, *reason;
	size_t i, wtype = 0, wsubj = 0, w;
	char *c;

	if (json_array_size(evs) == 0) {
		puts("no events");
		return;
	}
	json_array_foreach(evs, i, e) {
		w = strlen(jstr(e, "type") ? jstr(e, "type") : "-");
		if (w > wtype)
			wtype = w;
		w = strlen(jstr(e, "subject") ? jstr(e, "subject") : "-");
		if (w > wsubj)
			wsubj = w;
	}
	json_array_foreach(evs, i, e) {
		c = jcell(e, "time");
		printf("%s ", c);
		free(c);
		c = jcell(e, "type");
		printf("%-*s ", (int)wtype, c);
		free(c);
		c = jcell(e, "subject");
		printf("%-*s", (int)wsubj, c);
		free(c);
		old = jstr(e, "old");
		new_ = jstr(e, "new");
		reason = jstr(e, "reason");
		if (old != NULL || new_ != NULL) {
			fputs(" ", stdout);
			clean_print(stdout, old ? old : "-");
			fputs(" -> ", stdout);
			clean_print(stdout, new_ ? new_ : "-");
			if (reason != NULL)
				fputs(":", stdout);
		}
		if (reason != NULL) {
			fputs(" ", stdout);
			clean_print(stdout, reason);
		}
		fputs("\n", stdout);
	}
}

/* An array of objects as a table, its keys taken from the first one. */
static void
generic_table_print(const json_t *arr)
{
	const json_t *first = json_array_get(arr, 0), *o, *v;
	const char *key;
	char **row, *h, *p;
	struct table t;
	size_t i, n;

	n = json_object_size(first);
	if (n == 0)
		return;
	table_init(&t, n);
	row = xmalloc(n * sizeof(*row));
	i = 0;
	json_object_foreach((json_t *)first, key, v) {
		h = clean_dup(key);
		for (p = h; *p != '\0'; p++)
			*p = *p == '_' ? ' ' : (char)(*p >= 'a' && *p <= 'z' ?
			    *p - 'a' + 'A' : *p);
		row[i++] = h;
	}
	table_add_owned(&t, row);
	json_array_foreach(arr, i, o) {
		n = 0;
		json_object_foreach((json_t *)first, key, v)
			row[n++] = jcell(o, key);
		table_add_owned(&t, row);
	}
	table_print(&t, "", 0, t.nrows);
	free(row);
	table_free(&t);
}

/*
 * Results with no layout of their own: "message" first, then the other
 * scalar members as "key: value", then arrays of objects as tables.
 */
static void
generic_print(const json_t *res)
{
	const char *key, *msg = jstr(res, "message");
	const json_t *v;
	char *c;

	if (msg != NULL) {
		clean_print(stdout, msg);
		fputs("\n", stdout);
	}
	json_object_foreach((json_t *)res, key, v) {
		if (strcmp(key, "message") == 0 || json_is_array(v))
			continue;
		clean_print(stdout, key);
		c = jcell(res, key);
		printf(": %s\n", c);
		free(c);
	}
	json_object_foreach((json_t *)res, key, v) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			continue;
		if (json_is_object(json_array_get(v, 0)))
			generic_table_print(v);
		else {
			clean_print(stdout, key);
			c = jcell(res, key);
			printf(": %s\n", c);
			free(c);
		}
	}
}

static void
warnings_print(const json_t *reply)
{
	const json_t *w;
	size_t i;

	json_array_foreach(json_object_get(reply, "warnings"), i, w) {
		if (!json_is_string(w))
			continue;
		fputs("resguardctl: warning: ", stderr);
		clean_print(stderr, json_string_value(w));
		fputs("\n", stderr);
	}
}

/* ok:false: the message, then every detailed error line as it came. */
static void
failure_print(const json_t *reply)
{
	const char *msg = jstr(reply, "error");
	const json_t *e;
	size_t i;

	fputs("resguardctl: ", stderr);
	clean_print(stderr, msg ? msg : "the request failed");
	fputs("\n", stderr);
	json_array_foreach(json_object_get(reply, "errors"), i, e) {
		if (!json_is_string(e))
			continue;
		clean_print(stderr, json_string_value(e));
		fputs("\n", stderr);
	}
}

/*
 * The zone of "feeds export --rpz", alone on stdout for a redirection.
 * It holds no control bytes but newlines and tabs; any other is shown as
 * "?", as everything from the daemon is.
 */
static int
zone_print(const json_t *res)
{
	const json_t *v = json_object_get(res, "rpz");
	const char *z = json_string_value(v);
	size_t i, start, n;
	unsigned char c;

	if (z == NULL) {
		fprintf(stderr, "resguardctl: bad reply from resguardd: "
		    "no \"rpz\"\n");
		return CTL_EXIT_UNKNOWN;
	}
	n = json_string_length(v);
	for (i = start = 0; i < n; i++) {
		c = (unsigned char)z[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\n' || c == '\t')
			continue;
		fwrite(z + start, 1, i - start, stdout);
		fputc('?', stdout);
		start = i + 1;
	}
	fwrite(z + start, 1, n - start, stdout);
	return CTL_EXIT_OK;
}

static int
reply_print(const struct ctl_opts *o, const json_t *reply)
{
	const json_t *res = json_object_get(reply, "result");
	char *s;
	int code;

	warnings_print(reply);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		failure_print(reply);
		return o->cmd == CTL_CMD_STATUS ? CTL_EXIT_UNKNOWN :
		    CTL_EXIT_FAILED;
	}
	if (!json_is_object(res)) {
		fprintf(stderr, "resguardctl: bad reply from resguardd: "
		    "no \"result\"\n");
		return CTL_EXIT_UNKNOWN;
	}
	code = o->cmd == CTL_CMD_STATUS ? status_code(res) : CTL_EXIT_OK;
	if (o->json) {
		s = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s == NULL) {
			fprintf(stderr, "resguardctl: out of memory\n");
			return CTL_EXIT_UNKNOWN;
		}
		puts(s);
		free(s);
		return code;
	}
	if (o->cmd == CTL_CMD_FEEDS && o->rpz)
		return zone_print(res);
	switch (o->cmd) {
	case CTL_CMD_STATUS:
		status_print(res);
		break;
	case CTL_CMD_UPSTREAMS:
		upstreams_print(res);
		break;
	case CTL_CMD_EVENTS:
		events_print(res);
		break;
	case CTL_CMD_FAILOVER:
	case CTL_CMD_FAILBACK:
	case CTL_CMD_CHECK:
	case CTL_CMD_FEEDS:
	case CTL_CMD_RELOAD:
	case CTL_CMD_COUNT:
		generic_print(res);
		break;
	}
	return code;
}

int
main(int argc, char **argv)
{
	struct ctl_opts o;
	json_t *req = NULL, *reply = NULL;
	char *path = NULL;
	const char *env;
	int rc;

	if ((rc = opts_parse(&o, argc, argv)) >= 0)
		return rc;

	if (o.socket != NULL)
		path = xstrdup(o.socket);
	else if (o.conf != NULL) {
		if (conf_socket(o.conf, &path) != 0) {
			rc = o.cmd == CTL_CMD_STATUS ? CTL_EXIT_UNKNOWN :
			    CTL_EXIT_USAGE;
			goto out;
		}
	} else if ((env = getenv(CTL_SOCKET_ENV)) != NULL && env[0] != '\0')
		path = xstrdup(env);
	else
		path = xstrdup(CTL_DEFAULT_SOCKET);

	req = request_build(&o);
	if (req == NULL) {
		rc = usage_error(&o, "arguments must be valid UTF-8");
		goto out;
	}
	if ((rc = exchange(path, o.timeout_ms, o.rpz ? CTL_EXPORT_REPLY_MAX :
	    CTL_REPLY_MAX, req, &reply)) != 0)
		goto out;
	rc = reply_print(&o, reply);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "resguardctl: cannot write the output: %s\n",
		    strerror(errno));
		rc = CTL_EXIT_UNKNOWN;
	}
out:
	json_decref(reply);
	json_decref(req);
	free(path);
	return rc;
}
