/*
 * fetch-check.c -- one rg_fetch() from the command line, as the feeds part
 * would make it, printing what came back.  With -s STATE, what a good
 * fetch leaves for the next one (validators, TAXII bundle) is read from
 * and written to files STATE.*, so that two runs are two polls.
 *
 *   fetch-check [options] URL
 *   fetch-check verify KEY-FILE DATA-FILE SIG-FILE
 *
 * Options: -f format, -t time-out ms, -m max bytes, -C CA file, -c client
 * certificate, -k client key, -p SPKI pin, -b bearer token, -u user, -P
 * password, -K hub key, -S signature URL, -s state prefix, -o file for the
 * document.
 *
 * Prints "result: new|not-modified|error", "code: N NAME", "error: ...",
 * "http: N" and what is kept.  Exit 0 new, 3 not modified, 1 error, 2 bad
 * usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fetch.h"

static const struct {
	int code;
	const char *name;
} codes[] = {
	{ EPROTONOSUPPORT, "EPROTONOSUPPORT" }, { ETIMEDOUT, "ETIMEDOUT" },
	{ EFBIG, "EFBIG" }, { EBADMSG, "EBADMSG" }, { EIO, "EIO" },
	{ EACCES, "EACCES" }, { EINVAL, "EINVAL" }, { ENOENT, "ENOENT" },
	{ EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" },
};

static const char *
code_name(int rc)
{
	size_t i;

	if (rc >= 0)
		return "OK";
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == -rc)
			return codes[i].name;
	return "OTHER";
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fetch-check [-f format] [-t ms] [-m bytes] [-C ca] "
	    "[-c cert] [-k key]\n"
	    "           [-p pin] [-b token] [-u user] [-P password] "
	    "[-K hub-key] [-S sig-url]\n"
	    "           [-s state] [-o out] URL\n"
	    "       fetch-check verify key-file data-file sig-file\n");
	exit(2);
}

/* The whole file PATH, or NULL when there is none. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp;
	char *buf = NULL, *nb;
	size_t cap = 0, n;

	*len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
		}
		if ((n = fread(buf + *len, 1, 4096, fp)) == 0)
			break;
		*len += n;
	}
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

static int
spill(const char *path, const char *data, size_t len)
{
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(path, "wb")) == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, fp) != len)
		rc = -1;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

static char *
state_path(const char *prefix, const char *what)
{
	static char path[4][1024];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s.%s", prefix, what);
	return path[i];
}

static char *
state_read(const char *prefix, const char *what)
{
	size_t len;

	return prefix != NULL ? slurp(state_path(prefix, what), &len) : NULL;
}

static void
state_write(const char *prefix, const char *what, const char *v)
{
	if (v != NULL)
		spill(state_path(prefix, what), v, strlen(v));
	else
		unlink(state_path(prefix, what));
}

static int
verify(int argc, char **argv)
{
	char *data, *sig, err[512] = "";
	size_t dlen, slen;
	int rc;

	if (argc != 5)
		usage();
	if ((data = slurp(argv[3], &dlen)) == NULL ||
	    (sig = slurp(argv[4], &slen)) == NULL) {
		fprintf(stderr, "fetch-check: cannot read %s or %s\n", argv[3],
		    argv[4]);
		return 2;
	}
	rc = rg_sig_verify(argv[2], data, dlen, sig, slen, err, sizeof(err));
	printf("code: %d %s\n", rc, code_name(rc));
	if (rc < 0)
		printf("error: %s\n", err);
	free(data);
	free(sig);
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct rg_fetch_req req;
	struct rg_fetch_res res;
	const char *state = NULL, *out = NULL;
	char *etag, *lm, *added, *stamp, *old;
	int c, rc;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return verify(argc, argv);
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	req.timeout_ms = 5000;
	req.max_bytes = 1024 * 1024;
	while ((c = getopt(argc, argv, "b:C:c:f:K:k:m:o:P:p:S:s:t:u:x:")) != -1)
		switch (c) {
		case 'b': req.bearer_token = optarg; break;
		case 'C': req.ca_file = optarg; break;
		case 'c': req.client_cert_file = optarg; break;
		case 'f': req.format = optarg; break;
		case 'K': req.hub_key_file = optarg; break;
		case 'k': req.client_key_file = optarg; break;
		case 'm': req.max_bytes = strtoull(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		case 'P': req.password = optarg; break;
		case 'p': req.spki_pin = optarg; break;
		case 'S': req.signature_url = optarg; break;
		case 's': state = optarg; break;
		case 't': req.timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'u': req.username = optarg; break;
		case 'x': req.proxy = optarg; break;
		default: usage();
		}
	if (optind != argc - 1)
		usage();
	req.url = argv[optind];
	req.etag = etag = state_read(state, "etag");
	req.last_modified = lm = state_read(state, "last-modified");
	req.taxii_added_last = added = state_read(state, "added-last");
	req.file_stamp = stamp = state_read(state, "stamp");
	req.old_data = old = state != NULL ?
	    slurp(state_path(state, "data"), &req.old_len) : NULL;
	if (rg_fetch_global_init() < 0) {
		fprintf(stderr, "fetch-check: curl_global_init failed\n");
		return 2;
	}

	rc = rg_fetch(&req, &res);
	printf("result: %s\n", rc == RG_FETCH_NEW ? "new" :
	    rc == RG_FETCH_NOT_MODIFIED ? "not-modified" : "error");
	printf("code: %d %s\n", rc, code_name(rc));
	if (rc < 0)
		printf("error: %s\n", res.error);
	printf("http: %ld\n", res.http_status);
	printf("data: %s\n", res.data != NULL ? "set" : "none");
	if (res.data != NULL)
		printf("length: %zu\n", res.len);
	printf("objects-new: %llu\n", (unsigned long long)res.objects_new);
	if (res.etag != NULL)
		printf("etag: %s\n", res.etag);
	if (res.last_modified != NULL)
		printf("last-modified: %s\n", res.last_modified);
	if (res.taxii_added_last != NULL)
		printf("added-last: %s\n", res.taxii_added_last);
	if (res.file_stamp != NULL)
		printf("stamp: %s\n", res.file_stamp);
	if (rc >= 0 && state != NULL) {
		state_write(state, "etag", res.etag);
		state_write(state, "last-modified", res.last_modified);
		state_write(state, "added-last", res.taxii_added_last);
		state_write(state, "stamp", res.file_stamp);
		if (rc == RG_FETCH_NEW)
			spill(state_path(state, "data"), res.data, res.len);
	}
	if (rc == RG_FETCH_NEW && out != NULL &&
	    spill(out, res.data, res.len) < 0) {
		fprintf(stderr, "fetch-check: cannot write %s\n", out);
		rc = -EIO;
	}
	if (rc == RG_FETCH_NEW && res.data[res.len] != '\0') {
		printf("FAIL: the document is not NUL-terminated\n");
		rc = -EINVAL;
	}
	rg_fetch_res_clear(&res);
	free(etag);
	free(lm);
	free(added);
	free(stamp);
	free(old);
	curl_global_cleanup();
	return rc == RG_FETCH_NEW ? 0 : rc == RG_FETCH_NOT_MODIFIED ? 3 : 1;
}
