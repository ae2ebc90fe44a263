/*
 * tls.c -- the DNS over TLS client pieces shared by the probes
 * (transport.c) and the forwarder (forward.c).
 */
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "tls.h"

SSL_CTX *
rg_tls_ctx_new(const char *ca_file)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((ca_file != NULL ?
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
rg_tls_prepare(SSL *ssl, const char *tls_name,
    const struct sockaddr_storage *addr)
{
	char host[INET6_ADDRSTRLEN];

	if (tls_name != NULL)
		return SSL_set_tlsext_host_name(ssl, tls_name) == 1 &&
		    SSL_set1_host(ssl, tls_name) == 1 ? 0 : -EINVAL;
	/* Without a name, the certificate must carry the address. */
	if (addr->ss_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)addr, host,
		    sizeof(host));
	else
		uv_ip4_name((const struct sockaddr_in *)addr, host,
		    sizeof(host));
	return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ?
	    0 : -EINVAL;
}

int
rg_tls_spki_pin(SSL *ssl, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL, *p;
	unsigned int mdlen;
	EVP_PKEY *pk;
	X509 *cert;
	int len, rc = -1;

	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (pk = X509_get0_pubkey(cert)) == NULL)
		goto out;
	if ((len = i2d_PUBKEY(pk, NULL)) <= 0 ||
	    (der = malloc((size_t)len)) == NULL)
		goto out;
	p = der;
	if (i2d_PUBKEY(pk, &p) != len ||
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
	    NULL) != 1 || outlen < 4 * ((mdlen + 2) / 3) + 1)
		goto out;
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	rc = 0;
out:
	free(der);
	return rc;
}
