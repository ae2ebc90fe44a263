/*
 * tls.h -- what the probes and the forwarder share of DNS over TLS: the
 * client context, the checks put on a connection, and the SPKI pin.  One
 * copy, so that a fix to certificate checking reaches both.
 */
#ifndef RG_TLS_H
#define RG_TLS_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

/**
 * A client context: TLS 1.2 at least, peer verification against CA_FILE,
 * or the system store when CA_FILE is NULL.  NULL on failure.
 */
SSL_CTX *rg_tls_ctx_new(const char *ca_file);

/**
 * Put the checks on SSL, a client connection to ADDR: with TLS_NAME, SNI
 * and the name on the certificate; without, the certificate must carry
 * ADDR's address.  Returns 0 or -EINVAL.
 */
int rg_tls_prepare(SSL *ssl, const char *tls_name,
    const struct sockaddr_storage *addr);

/**
 * Base64 of the SHA-256 of the peer's SubjectPublicKeyInfo into OUT (at
 * least 45 bytes), as spki-pin is written.  Returns 0 or -1.
 */
int rg_tls_spki_pin(SSL *ssl, char *out, size_t outlen);

#endif
