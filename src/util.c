/*
 * util.c -- small helpers the parts of the agent share.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

char *
rg_strdup_opt(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

int
rg_read_secret(const char *file, char *buf, size_t len, char *err,
    size_t err_len)
{
	char tmp[8192];
	size_t used = 0, n;
	ssize_t r;
	int fd, rc = 0;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", file, strerror(errno));
		return rc;
	}
	while (used < sizeof(tmp) - 1) {
		if ((r = read(fd, tmp + used, sizeof(tmp) - 1 - used)) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			snprintf(err, err_len, "%s: %s", file, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	tmp[used] = '\0';
	n = strcspn(tmp, "\r\n");
	if (n == 0 || n >= len) {
		rc = -EINVAL;
		snprintf(err, err_len, "%s: %s", file, n == 0 ?
		    "no secret on its first line" :
		    "longer than a secret should be");
		goto out;
	}
	memcpy(buf, tmp, n);
	buf[n] = '\0';
out:
	explicit_bzero(tmp, sizeof(tmp));
	close(fd);
	return rc;
}

int
rg_url_loopback(const char *url)
{
	const char *a = strstr(url, "://"), *end, *at, *h;
	unsigned char buf[16];
	char host[256];
	size_t n;

	if (a == NULL)
		return 0;
	a += 3;
	end = a + strcspn(a, "/?#");
	if (strncmp(url, "axfr://", 7) == 0) {
		/* axfr://ADDRESS[@PORT]/ZONE: '@' is the port. */
		h = a;
		n = strcspn(a, "@/");
	} else {
		/* [USERINFO@]HOST[:PORT] */
		for (h = a, at = a; at < end; at++)
			if (*at == '@')
				h = at + 1;
		if (*h == '[') {
			h++;
			n = strcspn(h, "]");
			if (h[n] != ']')
				return 0;
		} else
			n = strcspn(h, ":/?#");
	}
	if (h + n > end || n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, buf) == 1)
		return buf[0] == 127;
	if (inet_pton(AF_INET6, host, buf) == 1)
		return memcmp(buf, in6addr_loopback.s6_addr, 16) == 0;
	return 0;
}

int
rg_url_local(const char *url, const char *proxy)
{
	return rg_url_loopback(url) && (proxy == NULL || proxy[0] == '\0' ||
	    rg_url_loopback(proxy));
}

const char *
rg_proxy_for(const char *url, const char *proxy)
{
	if (proxy == NULL && url != NULL && rg_url_loopback(url))
		return "";
	return proxy;
}
