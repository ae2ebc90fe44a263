/*
 * backend-unbound -- the sidecar backend for a local Unbound.
 *
 * It speaks Unbound's remote-control protocol itself: one connection per
 * command (a UNIX socket, plain TCP, or TCP with TLS and the control key
 * and certificate, as unbound-control does), the line "UBCT1 COMMAND", and
 * the answer read to the end.  Forwarders are set with "forward_add" for
 * each configured zone (which replaces the zone's forwarders in one step)
 * and read back with "list_forwards"; the last resort removes them, so that
 * Unbound resolves from its root hints.  DNS over TLS upstreams are used
 * with "forward_add +t" when Unbound knows it (1.20 and later).  An older
 * Unbound cannot be told by remote control to forward over TLS, only by its
 * configuration: with a forward-file, the forward zones are written there
 * as forward-zone clauses (Unbound includes the file), and Unbound is asked
 * to reload, keeping its cache when it can; without one it gets the pool's
 * plain-DNS upstreams.  The forward-file always holds what was applied last,
 * so that a restarted Unbound comes back with it.  The blocklist is an RPZ
 * zone file, written next to its final name and renamed over it, then
 * loaded with "auth_zone_reload".  "status" tells whether Unbound is alive.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../plugin.h"

#define UB_CONNECT_MS	3000
#define UB_IO_S		10		/* an answer; a frozen Unbound */
#define UB_RELOAD_S	120		/* an RPZ zone of millions of rules */
#define UB_SETTLE_MS	5000		/* a reload to show its forwarders */
#define UB_POLL_MS	200
#define UB_ANSWER_MAX	(16 * 1024 * 1024)
#define UB_ADDR_MAX	64		/* forwarders of one zone we track */

/* An address, compared in binary form. */
struct ub_addr {
	int family;
	unsigned char a[16];
};


struct ub {
	char *control;
	int unix_socket;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int use_tls;
	char *key_file, *cert_file, *server_cert_file;
	char **zones;
	size_t n_zones;
	/* What we set, to read it back and to notice drift. */
	int expected;			/* the three below are what we set */
	int forwarded;			/* 0: no forwarders (last resort) */
	struct ub_addr addrs[UB_ADDR_MAX];
	size_t n_addrs;
	char *rpz_file, *rpz_zone;
	char *forward_file;
	char version[32];		/* from "status", "" unknown */
	int no_tls_forward;		/* learnt: no "forward_add +t" */
	int no_keep_cache;		/* learnt: no "reload_keep_cache" */
	int reloaded;			/* apply() made Unbound reload */
};

static void ub_close(void *);

/* Parse "addr[@port]" (default port 8953). */
static int
ub_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char addr[INET6_ADDRSTRLEN];
	const char *at = strchr(s, '@');
	unsigned long port = 8953;
	size_t n = at != NULL ? (size_t)(at - s) : strlen(s);
	char *end;

	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (at != NULL) {
		errno = 0;
		port = strtoul(at + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else
		return -EINVAL;
	return 0;
}

static char *
ub_strdup(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

static int
ub_open(const struct rg_backend_settings *s, void **state, char *msg,
    size_t len)
{
	struct sockaddr_un *sun;
	struct ub *ub;
	size_t i;
	int fail = 0;

	if ((ub = calloc(1, sizeof(*ub))) == NULL)
		goto nomem;
	*state = ub;
	ub->control = ub_strdup(s->control != NULL ? s->control :
	    "127.0.0.1@8953", &fail);
	if (fail)
		goto nomem;
	if (ub->control[0] == '/') {
		ub->unix_socket = 1;
		sun = (struct sockaddr_un *)&ub->ss;
		if (strlen(ub->control) >= sizeof(sun->sun_path)) {
			snprintf(msg, len, "control %s: path too long for a "
			    "UNIX socket", ub->control);
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, ub->control, strlen(ub->control) + 1);
		ub->sslen = sizeof(*sun);
	} else if (ub_parse_addr(ub->control, &ub->ss, &ub->sslen) < 0) {
		snprintf(msg, len, "control \"%s\" is neither ADDRESS[@PORT] "
		    "nor the path of a UNIX socket", ub->control);
		goto fail;
	}
	ub->use_tls = s->control_use_cert > 0 ||
	    (s->control_use_cert < 0 && !ub->unix_socket);
	if (ub->use_tls && (s->control_key_file == NULL ||
	    s->control_cert_file == NULL || s->server_cert_file == NULL)) {
		snprintf(msg, len, "TLS remote control needs control-key-file, "
		    "control-cert-file and server-cert-file");
		goto fail;
	}
	ub->key_file = ub_strdup(s->control_key_file, &fail);
	ub->cert_file = ub_strdup(s->control_cert_file, &fail);
	ub->server_cert_file = ub_strdup(s->server_cert_file, &fail);
	ub->rpz_file = ub_strdup(s->rpz_file, &fail);
	ub->rpz_zone = ub_strdup(s->rpz_zone != NULL ? s->rpz_zone :
	    "resguard.rpz.", &fail);
	ub->forward_file = ub_strdup(s->forward_file, &fail);
	if (s->n_zones > 0 &&
	    (ub->zones = calloc(s->n_zones, sizeof(*ub->zones))) == NULL)
		fail = 1;
	else
		ub->n_zones = s->n_zones;
	for (i = 0; i < ub->n_zones; i++)
		ub->zones[i] = ub_strdup(s->zones[i], &fail);
	if (ub->n_zones == 0 && !fail) {
		if ((ub->zones = calloc(1, sizeof(*ub->zones))) == NULL)
			fail = 1;
		else {
			ub->n_zones = 1;
			ub->zones[0] = ub_strdup(".", &fail);
		}
	}
	if (fail)
		goto nomem;
	return 0;
nomem:
	snprintf(msg, len, "out of memory");
	ub_close(ub);
	*state = NULL;
	return -ENOMEM;
fail:
	ub_close(ub);
	*state = NULL;
	return -EINVAL;
}

static void
ub_close(void *state)
{
	struct ub *ub = state;
	size_t i;

	if (ub == NULL)
		return;
	free(ub->control);
	free(ub->key_file);
	free(ub->cert_file);
	free(ub->server_cert_file);
	for (i = 0; i < ub->n_zones; i++)
		free(ub->zones[i]);
	free(ub->zones);
	free(ub->rpz_file);
	free(ub->rpz_zone);
	free(ub->forward_file);
	free(ub);
}

/* The last OpenSSL error as text, or WHAT. */
static const char *
ub_ssl_error(const char *what, char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		return what;
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Connect to the control within UB_CONNECT_MS; blocking with I/O time-outs
 * afterwards. */
static int
ub_connect(struct ub *ub, time_t io_s, char *msg, size_t len)
{
	struct timeval tv = { io_s, 0 };
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, rc, soerr = 0;

	if ((fd = socket(ub->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0) {
		rc = -errno;
		snprintf(msg, len, "control %s: socket: %s", ub->control,
		    strerror(errno));
		return rc;
	}
	if (connect(fd, (struct sockaddr *)&ub->ss, ub->sslen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			soerr = errno;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, UB_CONNECT_MS);
		if (rc == 0) {
			soerr = ETIMEDOUT;
			goto fail;
		}
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &sl) < 0)
			soerr = errno;
		if (soerr != 0)
			goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		soerr = errno;
		goto fail;
	}
	return fd;
fail:
	snprintf(msg, len, "control %s: connect: %s", ub->control,
	    strerror(soerr));
	close(fd);
	return -soerr;
}

static SSL_CTX *
ub_tls_ctx(struct ub *ub, char *msg, size_t len)
{
	char e[256];
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(msg, len, "control %s: %s", ub->control,
		    ub_ssl_error("cannot make a TLS context", e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (SSL_CTX_use_certificate_chain_file(ctx, ub->cert_file) != 1) {
		snprintf(msg, len, "control-cert-file %s: %s", ub->cert_file,
		    ub_ssl_error("cannot load", e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, ub->key_file,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(msg, len, "control-key-file %s: %s", ub->key_file,
		    ub_ssl_error("cannot load, or does not match the "
		    "certificate", e, sizeof(e)));
		goto fail;
	}
	/* Unbound's certificate is self-signed: it is its own anchor. */
	if (SSL_CTX_load_verify_locations(ctx, ub->server_cert_file,
	    NULL) != 1) {
		snprintf(msg, len, "server-cert-file %s: %s",
		    ub->server_cert_file, ub_ssl_error("cannot load", e,
		    sizeof(e)));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * Run COMMAND, waiting up to IO_S seconds for each read; the whole answer,
 * NUL-terminated, in *OUT (to be freed).  Returns 0, or a negative errno
 * code with the reason in MSG.
 */
static int
ub_command_io(struct ub *ub, const char *command, time_t io_s, char **out,
    char *msg, size_t len)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char *buf = NULL, *line = NULL, e[256];
	size_t n = 0, cap = 0, llen;
	ssize_t r;
	int fd, rc = -EIO, err;
	void *p;

	*out = NULL;
	if ((fd = ub_connect(ub, io_s, msg, len)) < 0)
		return fd;
	llen = strlen(command) + 7;
	if ((line = malloc(llen + 1)) == NULL) {
		rc = -ENOMEM;
		snprintf(msg, len, "out of memory");
		goto out;
	}
	snprintf(line, llen + 1, "UBCT1 %s\n", command);
	if (ub->use_tls) {
		if ((ctx = ub_tls_ctx(ub, msg, len)) == NULL) {
			rc = -EINVAL;
			goto out;
		}
		if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
			snprintf(msg, len, "control %s: %s", ub->control,
			    ub_ssl_error("TLS setup failed", e, sizeof(e)));
			goto out;
		}
		if (SSL_connect(ssl) != 1) {
			snprintf(msg, len, "control %s: TLS handshake: %s "
			    "(do control-key-file, control-cert-file and "
			    "server-cert-file belong to this Unbound?)",
			    ub->control, ub_ssl_error("failed", e, sizeof(e)));
			rc = -EPROTO;
			goto out;
		}
		if (SSL_write(ssl, line, (int)llen) != (int)llen) {
			snprintf(msg, len, "control %s: %s", ub->control,
			    ub_ssl_error("TLS write failed", e, sizeof(e)));
			goto out;
		}
	} else {
		for (n = 0; n < llen; n += (size_t)r)
			if ((r = send(fd, line + n, llen - n, MSG_NOSIGNAL)) <=
			    0) {
				rc = r < 0 ? -errno : -EIO;
				snprintf(msg, len, "control %s: send: %s",
				    ub->control, r < 0 ? strerror(errno) :
				    "nothing sent");
				goto out;
			}
		n = 0;
	}
	for (;;) {
		if (cap - n < 4096) {
			cap = cap > 0 ? cap * 2 : 8192;
			if (cap > UB_ANSWER_MAX) {
				snprintf(msg, len, "control %s: answer to "
				    "\"%s\" larger than %d bytes",
				    ub->control, command, UB_ANSWER_MAX);
				goto out;
			}
			if ((p = realloc(buf, cap)) == NULL) {
				rc = -ENOMEM;
				snprintf(msg, len, "out of memory");
				goto out;
			}
			buf = p;
		}
		if (ssl != NULL) {
			r = SSL_read(ssl, buf + n, (int)(cap - n - 1));
			if (r <= 0) {
				err = SSL_get_error(ssl, (int)r);
				if (err == SSL_ERROR_ZERO_RETURN ||
				    (err == SSL_ERROR_SYSCALL && errno == 0))
					break;
				snprintf(msg, len, "control %s: reading the "
				    "answer to \"%s\": %s", ub->control,
				    command, err == SSL_ERROR_SYSCALL ?
				    (errno == EAGAIN ? "timed out" :
				    strerror(errno)) : ub_ssl_error("TLS error",
				    e, sizeof(e)));
				rc = err == SSL_ERROR_SYSCALL && errno != 0 ?
				    -errno : -EIO;
				goto out;
			}
		} else {
			r = recv(fd, buf + n, cap - n - 1, 0);
			if (r == 0)
				break;
			if (r < 0) {
				if (errno == EINTR)
					continue;
				rc = -errno;
				snprintf(msg, len, "control %s: reading the "
				    "answer to \"%s\": %s", ub->control,
				    command, errno == EAGAIN ? "timed out" :
				    strerror(errno));
				goto out;
			}
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	SSL_CTX_free(ctx);
	close(fd);
	free(line);
	free(buf);
	return rc;
}

static int
ub_command(struct ub *ub, const char *command, char **out, char *msg,
    size_t len)
{
	return ub_command_io(ub, command, strncmp(command, "auth_zone_reload",
	    16) == 0 ? UB_RELOAD_S : UB_IO_S, out, msg, len);
}

/* The first line of TEXT, for a message. */
static const char *
ub_first_line(const char *text, char *buf, size_t len)
{
	size_t n = strcspn(text, "\n");

	if (n >= len)
		n = len - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
	return buf;
}

/* Run COMMAND, which must answer "ok". */
static int
ub_command_ok(struct ub *ub, const char *command, char *msg, size_t len)
{
	char *ans, first[200];
	int rc;

	if ((rc = ub_command(ub, command, &ans, msg, len)) < 0)
		return rc;
	if (strncmp(ans, "ok", 2) != 0) {
		snprintf(msg, len, "Unbound refused \"%s\": %s", command,
		    ub_first_line(ans, first, sizeof(first)));
		free(ans);
		return -EPROTO;
	}
	free(ans);
	return 0;
}

static int
ub_addr_parse(const char *s, struct ub_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->a) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int
ub_addr_in(const struct ub_addr *a, const struct ub_addr *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i].family == a->family &&
		    memcmp(set[i].a, a->a, sizeof(a->a)) == 0)
			return 1;
	return 0;
}

/*
 * Compare what "list_forwards" says (LIST) with what we set.  Lines read
 * "ZONE IN forward [+FLAGS] ADDR ..." (ports and TLS names not shown).
 * Returns 0 when every zone is as set, else 1 with the first difference
 * in MSG.
 */
static int
ub_forwards_differ(const struct ub *ub, const char *list, char *msg,
    size_t len)
{
	struct ub_addr seen[UB_ADDR_MAX], a;
	const char *line, *nl, *zone;
	char buf[2048], *tok, *save, *name;
	size_t i, j, n;
	int found;

	for (i = 0; i < ub->n_zones; i++) {
		zone = ub->zones[i];
		found = 0;
		n = 0;
		for (line = list; *line != '\0'; line = *nl ? nl + 1 : nl) {
			nl = line + strcspn(line, "\n");
			if ((size_t)(nl - line) >= sizeof(buf))
				continue;
			memcpy(buf, line, (size_t)(nl - line));
			buf[nl - line] = '\0';
			if ((name = strtok_r(buf, " \t", &save)) == NULL ||
			    strcasecmp(name, zone) != 0 ||
			    strtok_r(NULL, " \t", &save) == NULL ||
			    (tok = strtok_r(NULL, " \t", &save)) == NULL ||
			    strcmp(tok, "forward") != 0)
				continue;
			found = 1;
			while ((tok = strtok_r(NULL, " \t", &save)) != NULL)
				if (tok[0] != '+' &&
				    ub_addr_parse(tok, &a) == 0 &&
				    n < UB_ADDR_MAX && !ub_addr_in(&a, seen, n))
					seen[n++] = a;
		}
		if (!ub->forwarded && found) {
			snprintf(msg, len, "zone %s has forwarders", zone);
			return 1;
		}
		if (!ub->forwarded)
			continue;
		if (!found) {
			snprintf(msg, len, "zone %s has no forwarders", zone);
			return 1;
		}
		for (j = 0; j < n; j++)
			if (!ub_addr_in(&seen[j], ub->addrs, ub->n_addrs))
				break;
		if (j == n)
			for (j = 0; j < ub->n_addrs; j++)
				if (!ub_addr_in(&ub->addrs[j], seen, n))
					break;
		if (j < n || j < ub->n_addrs) {
			snprintf(msg, len, "zone %s forwards to other "
			    "addresses than were set", zone);
			return 1;
		}
	}
	return 0;
}

/* Read the forwarders back: the check of apply() and of check(). */
static int
ub_verify(struct ub *ub, char *msg, size_t len)
{
	char *list;
	int rc;

	if ((rc = ub_command(ub, "list_forwards", &list, msg, len)) < 0)
		return rc;
	rc = ub_forwards_differ(ub, list, msg, len);
	free(list);
	return rc;
}

static uint64_t
ub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * ub_verify() after a reload.  Unbound takes remote control again once it
 * has read its whole configuration (an RPZ zone of millions of rules takes
 * a while): a connection refused is tried again for up to UB_RELOAD_S, and
 * forwarders not yet as written for up to UB_SETTLE_MS.
 */
static int
ub_verify_reloaded(struct ub *ub, char *msg, size_t len)
{
	struct timespec pause = { 0, UB_POLL_MS * 1000000L };
	uint64_t start = ub_now_ms();
	char *list;
	int rc;

	for (;;) {
		rc = ub_command_io(ub, "list_forwards", UB_RELOAD_S, &list,
		    msg, len);
		if (rc == 0) {
			rc = ub_forwards_differ(ub, list, msg, len);
			free(list);
			if (rc == 0 || ub_now_ms() - start >= UB_SETTLE_MS)
				return rc;
		} else if ((rc != -ECONNREFUSED && rc != -ENOENT &&
		    rc != -ECONNRESET && rc != -EPIPE) ||
		    ub_now_ms() - start >= UB_RELOAD_S * 1000)
			return rc;
		nanosleep(&pause, NULL);
	}
}

/* "Unbound 1.17.1", or "this Unbound" before "status" has told. */
static const char *
ub_who(const struct ub *ub, char *buf, size_t len)
{
	if (ub->version[0] == '\0')
		return "this Unbound";
	snprintf(buf, len, "Unbound %s", ub->version);
	return buf;
}

/* Server S goes to Unbound when it forwards over TLS (TLS) or not. */
static int
ub_server_used(const struct rg_backend_server *s, int tls)
{
	struct ub_addr a;

	return !s->tls == !tls && s->port > 0 && s->port <= 65535 &&
	    ub_addr_parse(s->address, &a) == 0;
}

/* Append " addr@port[#name]" of the servers with TLS == TLS to LINE, and
 * note their addresses. */
static int
ub_servers(struct ub *ub, const struct rg_backend_target *t, int tls,
    char *line, size_t len)
{
	size_t i, n = strlen(line);
	struct ub_addr a;

	ub->n_addrs = 0;
	for (i = 0; i < t->n_servers; i++) {
		const struct rg_backend_server *s = &t->servers[i];

		if (!ub_server_used(s, tls))
			continue;
		ub_addr_parse(s->address, &a);
		n += (size_t)snprintf(line + n, n < len ? len - n : 0,
		    " %s@%u%s%s", s->address, s->port,
		    s->tls_name != NULL ? "#" : "",
		    s->tls_name != NULL ? s->tls_name : "");
		if (ub->n_addrs < UB_ADDR_MAX &&
		    !ub_addr_in(&a, ub->addrs, ub->n_addrs))
			ub->addrs[ub->n_addrs++] = a;
	}
	return n < len ? 0 : -ENAMETOOLONG;
}

/* Set the forwarders of every zone: the servers of T with TLS == TLS. */
static int
ub_forward_add(struct ub *ub, const struct rg_backend_target *t, int tls,
    char *msg, size_t len)
{
	char line[8192];
	size_t i;
	int rc;

	for (i = 0; i < ub->n_zones; i++) {
		snprintf(line, sizeof(line), "forward_add%s %s",
		    tls ? " +t" : "", ub->zones[i]);
		if (ub_servers(ub, t, tls, line, sizeof(line)) < 0) {
			snprintf(msg, len, "pool \"%s\": too many upstreams "
			    "for one command", t->pool);
			return -ENAMETOOLONG;
		}
		if ((rc = ub_command_ok(ub, line, msg, len)) < 0)
			return rc;
	}
	return 0;
}

/*
 * 0 when Unbound has nothing to authenticate DNS over TLS upstreams with
 * (neither tls-cert-bundle nor tls-win-cert), so that every query to an
 * upstream with a TLS name would fail; 1 when it has, or cannot say.
 */
static int
ub_tls_anchors(struct ub *ub)
{
	char *ans, m[256];
	int has;

	if (ub_command(ub, "get_option tls-cert-bundle", &ans, m,
	    sizeof(m)) < 0)
		return 1;
	has = strncmp(ans, "error", 5) == 0 ||
	    ans[strspn(ans, " \t\r\n")] != '\0';
	free(ans);
	if (has)
		return 1;
	if (ub_command(ub, "get_option tls-win-cert", &ans, m, sizeof(m)) < 0)
		return 1;
	has = strncmp(ans, "error", 5) == 0 || strncmp(ans, "yes", 3) == 0;
	free(ans);
	return has;
}

static int
ub_fsync_dir(const char *file)
{
	char dir[PATH_MAX], *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * A new file beside PATH, named in TMP, to be renamed over PATH by
 * ub_file_commit(); KEY is the setting, for messages.  NULL with *RC set
 * on failure.
 */
static FILE *
ub_file_new(const char *key, const char *path, char *tmp, size_t tmplen,
    int *rc, char *msg, size_t len)
{
	FILE *fp;
	int fd;

	if ((size_t)snprintf(tmp, tmplen, "%s.tmp.XXXXXX", path) >= tmplen) {
		snprintf(msg, len, "%s %s: name too long", key, path);
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	if ((fd = mkstemp(tmp)) < 0 || (fp = fdopen(fd, "w")) == NULL) {
		*rc = -errno;
		snprintf(msg, len, "%s %s: cannot create %s: %s", key, path,
		    tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return NULL;
	}
	return fp;
}

/* Make TMP, written through FP, readable by Unbound, sync it and rename
 * it over PATH; FP is closed. */
static int
ub_file_commit(const char *key, const char *path, const char *tmp, FILE *fp,
    char *msg, size_t len)
{
	int rc;

	errno = 0;
	if (fflush(fp) != 0 || ferror(fp) || fchmod(fileno(fp), 0644) < 0 ||
	    fsync(fileno(fp)) < 0) {
		rc = errno != 0 ? -errno : -EIO;
		snprintf(msg, len, "%s %s: writing %s: %s", key, path, tmp,
		    strerror(-rc));
		fclose(fp);
		unlink(tmp);
		return rc;
	}
	if (fclose(fp) != 0) {
		rc = -errno;
		snprintf(msg, len, "%s %s: closing %s: %s", key, path, tmp,
		    strerror(errno));
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		snprintf(msg, len, "%s %s: cannot rename %s over it: %s", key,
		    path, tmp, strerror(errno));
		unlink(tmp);
		return rc;
	}
	ub_fsync_dir(path);
	return 0;
}

/* S goes into unbound.conf as it is: a domain name or a numeric address,
 * nothing that could end a string or start a comment. */
static int
ub_conf_safe(const char *s)
{
	const unsigned char *p;

	if (s == NULL || *s == '\0')
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (!isalnum(*p) && *p != '.' && *p != '-' && *p != '_' &&
		    *p != ':')
			return 0;
	return 1;
}

/* S in a comment of unbound.conf: one line, printable. */
static void
ub_comment(FILE *fp, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		fputc(isprint((unsigned char)*s) ? *s : '?', fp);
}

/*
 * Write the forward zones to the forward-file: each zone to the servers of
 * T with TLS == TLS, or no zone at all when T is recursive.
 */
static int
ub_write_forwards(struct ub *ub, const struct rg_backend_target *t, int tls,
    char *msg, size_t len)
{
	const struct rg_backend_server *s;
	char tmp[PATH_MAX];
	size_t i, j;
	FILE *fp;
	int rc;

	/* Unbound stops when a reload finds an error in its configuration:
	 * write only what it surely reads. */
	for (i = 0; i < ub->n_zones; i++)
		if (!ub_conf_safe(ub->zones[i])) {
			snprintf(msg, len, "forward-file %s: zone %.200s cannot "
			    "be written there", ub->forward_file, ub->zones[i]);
			return -EINVAL;
		}
	for (j = 0; !t->recursive && j < t->n_servers; j++) {
		s = &t->servers[j];
		if (ub_server_used(s, tls) && tls && s->tls_name != NULL &&
		    !ub_conf_safe(s->tls_name)) {
			snprintf(msg, len, "forward-file %s: TLS name %.200s of "
			    "upstream %.100s cannot be written there",
			    ub->forward_file, s->tls_name,
			    s->name != NULL ? s->name : s->address);
			return -EINVAL;
		}
	}
	if ((fp = ub_file_new("forward-file", ub->forward_file, tmp,
	    sizeof(tmp), &rc, msg, len)) == NULL)
		return rc;
	fputs("# resguard forward zones: written by resguardd on every change "
	    "of the\n# failover decision, for Unbound to include.  Pool ", fp);
	ub_comment(fp, t->pool);
	fputs(", mode ", fp);
	ub_comment(fp, t->mode);
	fputs(".\n", fp);
	if (t->recursive)
		fputs("# No forwarders: Unbound resolves from the root "
		    "itself.\n", fp);
	for (i = 0; !t->recursive && i < ub->n_zones; i++) {
		fprintf(fp, "forward-zone:\n\tname: \"%s\"\n", ub->zones[i]);
		if (tls)
			fputs("\tforward-tls-upstream: yes\n", fp);
		for (j = 0; j < t->n_servers; j++) {
			s = &t->servers[j];
			if (!ub_server_used(s, tls))
				continue;
			fprintf(fp, "\tforward-addr: %s@%u%s%s\n", s->address,
			    s->port, tls && s->tls_name != NULL ? "#" : "",
			    tls && s->tls_name != NULL ? s->tls_name : "");
		}
	}
	return ub_file_commit("forward-file", ub->forward_file, tmp, fp, msg,
	    len);
}

/*
 * Have Unbound read its configuration again, keeping its cache when it
 * can ("reload_keep_cache", Unbound 1.17.1 and later; "reload" drops it);
 * *KEPT says which.
 */
static int
ub_reload(struct ub *ub, int *kept, char *msg, size_t len)
{
	int rc;

	*kept = 0;
	if (!ub->no_keep_cache) {
		if ((rc = ub_command_ok(ub, "reload_keep_cache", msg, len)) ==
		    0) {
			*kept = 1;
			return 0;
		}
		if (rc != -EPROTO || strstr(msg, "unknown command") == NULL)
			return rc;
		ub->no_keep_cache = 1;
	}
	return ub_command_ok(ub, "reload", msg, len);
}

static int
ub_apply(void *state, const struct rg_backend_target *t, char *msg,
    size_t len)
{
	struct ub *ub = state;
	char line[8192], what[1024], why[300] = "", zones[512], d[400];
	char v[48], m[256];
	size_t i, n, n_tls = 0, n_plain = 0;
	int rc, tls = 0, named = 0, kept;

	ub->expected = 0;
	ub->reloaded = 0;
	for (i = 0; i < t->n_servers; i++) {
		if (t->servers[i].tls) {
			n_tls++;
			named |= t->servers[i].tls_name != NULL;
		} else
			n_plain++;
	}
	if (t->recursive) {
		for (i = 0; i < ub->n_zones; i++) {
			snprintf(line, sizeof(line), "forward_remove %s",
			    ub->zones[i]);
			if ((rc = ub_command_ok(ub, line, msg, len)) < 0)
				return rc;
		}
		ub->forwarded = 0;
		ub->n_addrs = 0;
		snprintf(what, sizeof(what), "forwarders removed, Unbound "
		    "resolves from the root itself");
		goto file;
	}
	if (n_tls + n_plain == 0) {
		snprintf(msg, len, "pool \"%s\" has no upstream to forward to",
		    t->pool);
		return -EINVAL;
	}
	tls = n_tls > 0;
	/* Without anchors every TLS handshake with a named upstream fails:
	 * worse than plain DNS. */
	if (tls && named && !ub_tls_anchors(ub)) {
		if (n_plain == 0) {
			snprintf(msg, len, "pool \"%s\" has only DNS over TLS "
			    "upstreams, and Unbound has no tls-cert-bundle to "
			    "authenticate them (unbound.conf needs one; Unbound "
			    "reads it when it starts)", t->pool);
			return -ENOTSUP;
		}
		tls = 0;
		snprintf(why, sizeof(why), " (plain DNS: Unbound has no "
		    "tls-cert-bundle to authenticate DNS over TLS upstreams)");
	}
	if (tls && !ub->no_tls_forward) {
		if ((rc = ub_forward_add(ub, t, 1, msg, len)) == 0)
			goto added;
		if (rc != -EPROTO || strstr(msg, "unknown option") == NULL)
			return rc;
		/* Before 1.20; nothing was changed. */
		ub->no_tls_forward = 1;
	}
	if (tls && ub->forward_file != NULL) {
		line[0] = '\0';
		if (ub_servers(ub, t, 1, line, sizeof(line)) < 0)
			line[0] = '\0';
		if ((rc = ub_write_forwards(ub, t, 1, msg, len)) < 0)
			return rc;
		if ((rc = ub_reload(ub, &kept, msg, len)) < 0)
			return rc;
		ub->reloaded = 1;
		ub->forwarded = 1;
		snprintf(what, sizeof(what), "forwarding to%.600s over TLS, "
		    "from forward-file %.200s loaded by %s (%s cannot forward "
		    "over TLS by remote control), %s", line, ub->forward_file,
		    kept ? "reload_keep_cache" : "reload",
		    ub_who(ub, v, sizeof(v)), kept ? "cache kept" :
		    "cache dropped");
		goto verify;
	}
	if (tls) {
		if (n_plain == 0) {
			snprintf(msg, len, "pool \"%s\" has only DNS over TLS "
			    "upstreams, and %s cannot forward over TLS when told "
			    "by remote control (forward_add +t needs Unbound "
			    "1.20 or later); set backend.forward-file to do it "
			    "through Unbound's configuration", t->pool,
			    ub_who(ub, v, sizeof(v)));
			return -ENOTSUP;
		}
		tls = 0;
		snprintf(why, sizeof(why), " (plain DNS: %s cannot forward "
		    "over TLS by remote control, 1.20 and later can; "
		    "backend.forward-file would do it through its "
		    "configuration)", ub_who(ub, v, sizeof(v)));
	}
	if ((rc = ub_forward_add(ub, t, tls, msg, len)) < 0)
		return rc;
added:
	ub->forwarded = 1;
	line[0] = '\0';
	ub_servers(ub, t, tls, line, sizeof(line));
	snprintf(what, sizeof(what), "forwarding to%.600s%s%s", line,
	    tls ? " over TLS" : "", why);
file:
	/* A restarted or reloaded Unbound reads the forward-file: it must
	 * say what was just set by remote control. */
	if (ub->forward_file != NULL &&
	    (rc = ub_write_forwards(ub, t, tls, m, sizeof(m))) < 0) {
		snprintf(msg, len, "%s by remote control, but not written "
		    "(Unbound would go back to the old ones when it reloads "
		    "or restarts): %s", t->recursive ? "forwarders removed" :
		    "forwarders set", m);
		return rc;
	}
verify:
	ub->expected = 1;
	rc = ub->reloaded ? ub_verify_reloaded(ub, msg, len) :
	    ub_verify(ub, msg, len);
	if (rc != 0) {
		ub->expected = 0;
		if (rc < 0)
			return rc;
		snprintf(d, sizeof(d), "%s", msg);
		if (!ub->reloaded) {
			snprintf(msg, len, "list_forwards after setting them: "
			    "%s", d);
			return -EPROTO;
		}
		/* The file is not included, most likely: the reload took the
		 * forwarders; keep Unbound forwarding if the pool can. */
		m[0] = '\0';
		if (n_plain > 0 && ub_forward_add(ub, t, 0, m, sizeof(m)) == 0)
			snprintf(m, sizeof(m), "; its plain-DNS upstreams set "
			    "by remote control meanwhile");
		else
			m[0] = '\0';
		snprintf(msg, len, "list_forwards after the reload: %s (does "
		    "unbound.conf include %s?)%s", d, ub->forward_file, m);
		return -EPROTO;
	}
	zones[0] = '\0';
	for (i = n = 0; i < ub->n_zones && n < sizeof(zones); i++)
		n += (size_t)snprintf(zones + n, sizeof(zones) - n, "%s%s",
		    i > 0 ? " " : "", ub->zones[i]);
	snprintf(msg, len, "Unbound zone%s %s: %s (pool \"%s\", mode %s); "
	    "confirmed by list_forwards", ub->n_zones > 1 ? "s" : "", zones,
	    what, t->pool, t->mode);
	return 0;
}

static int
ub_check(void *state, const struct rg_backend_target *applied, char *msg,
    size_t len)
{
	struct ub *ub = state;
	char *ans, *p, version[sizeof(ub->version)] = "", d[256];
	int rc;

	if ((rc = ub_command(ub, "status", &ans, msg, len)) < 0)
		return rc;
	if (strstr(ans, "is running") == NULL) {
		snprintf(msg, len, "control %s: \"status\" does not say "
		    "Unbound is running: %s", ub->control,
		    ub_first_line(ans, d, sizeof(d)));
		free(ans);
		return -EPROTO;
	}
	if ((p = strstr(ans, "version: ")) != NULL)
		ub_first_line(p + 9, version, sizeof(version));
	free(ans);
	/* Another Unbound (an upgrade): learn again what it can do. */
	if (strcmp(version, ub->version) != 0) {
		ub->no_tls_forward = 0;
		ub->no_keep_cache = 0;
		memcpy(ub->version, version, sizeof(version));
	}
	snprintf(msg, len, "Unbound %s is running (control %s)",
	    version[0] != '\0' ? version : "", ub->control);
	if (applied == NULL)
		return 0;
	if (!ub->expected)
		return RG_BACKEND_DRIFT;
	if ((rc = ub_verify(ub, d, sizeof(d))) < 0) {
		snprintf(msg, len, "%s", d);
		return rc;
	}
	if (rc > 0) {
		snprintf(msg, len, "Unbound %s is running, but %s",
		    version, d);
		return RG_BACKEND_DRIFT;
	}
	return 0;
}

/* 1 when Unbound has the RPZ zone, 0 (MSG says what to add) when not. */
static int
ub_has_zone(struct ub *ub, char *msg, size_t len)
{
	const char *line, *nl;
	char *list;
	size_t n = strlen(ub->rpz_zone);
	int rc;

	if ((rc = ub_command(ub, "list_auth_zones", &list, msg, len)) < 0)
		return rc;
	for (line = list; *line != '\0'; line = *nl ? nl + 1 : nl) {
		nl = line + strcspn(line, "\n");
		if ((size_t)(nl - line) > n &&
		    strncasecmp(line, ub->rpz_zone, n) == 0 &&
		    (line[n] == '\t' || line[n] == ' ')) {
			free(list);
			return 1;
		}
	}
	free(list);
	snprintf(msg, len, "Unbound has no auth-zone %s: unbound.conf needs "
	    "\"rpz: name: %s zonefile: %s\"; %s left as it was",
	    ub->rpz_zone, ub->rpz_zone, ub->rpz_file, ub->rpz_file);
	return 0;
}

static int
ub_blocklist(void *state, const struct rg_backend_rules *r, char *msg,
    size_t len)
{
	struct ub *ub = state;
	char tmp[PATH_MAX], cmd[600];
	FILE *fp;
	int rc;

	if (ub->rpz_file == NULL)
		return 0;
	/* A zone Unbound does not have: leave the file as it is. */
	if ((rc = ub_has_zone(ub, msg, len)) <= 0)
		return rc < 0 ? rc : -ENOENT;
	if ((fp = ub_file_new("rpz-file", ub->rpz_file, tmp, sizeof(tmp), &rc,
	    msg, len)) == NULL)
		return rc;
	fwrite(r->zone, 1, r->len, fp);
	if ((rc = ub_file_commit("rpz-file", ub->rpz_file, tmp, fp, msg,
	    len)) < 0)
		return rc;
	snprintf(cmd, sizeof(cmd), "auth_zone_reload %s", ub->rpz_zone);
	if ((rc = ub_command_ok(ub, cmd, msg, len)) < 0)
		return rc;
	snprintf(msg, len, "RPZ zone %s written to %s (%zu rules, serial %u) "
	    "and reloaded by Unbound", ub->rpz_zone, ub->rpz_file, r->n_rules,
	    (unsigned)r->serial);
	return 0;
}

static const struct rg_backend_ops ub_ops = {
	.open = ub_open,
	.close = ub_close,
	.apply = ub_apply,
	.blocklist = ub_blocklist,
	.check = ub_check,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "unbound",
	.kind = RG_PLUGIN_BACKEND,
	.backend = &ub_ops,
};
