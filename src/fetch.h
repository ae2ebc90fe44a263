/*
 * fetch.h -- getting a feed's document from where it lives.
 *
 * One call fetches one feed, blocking (the feeds part runs it in libuv's
 * thread pool), bounded in time and size, and hands back the whole current
 * document in the feed's format, or says that nothing changed:
 *
 *   file:///path        the file; "not modified" when its size, mtime and
 *                       inode are those of the last good read
 *   https://, http://   one GET through libcurl: If-None-Match and
 *                       If-Modified-Since from the last good fetch, CA file,
 *                       SPKI pin, client certificate, bearer token or basic
 *                       auth, a time-out and a size limit
 *   taxii+https://host/api-root/collections/ID/
 *                       TAXII 2.1 polling of the collection's objects:
 *                       added_after from the last X-TAXII-Date-Added-Last,
 *                       pagination through "more" and "next", the
 *                       application/taxii+json;version=2.1 media type; the
 *                       new objects are merged into the previous bundle (of
 *                       several versions of one id the latest "modified"
 *                       wins) and the merged STIX bundle is the document;
 *                       a poll that brings objects is "new" even when
 *                       they change nothing (the cursor moves on), a
 *                       later poll that brings none is "not modified"
 *
 * A MISP feed (format "misp") whose source ends with "/" is a feed
 * directory: manifest.json is read, then every event file it lists
 * (UUID.json); the document is a JSON array of the events.
 *
 * When the request names a hub key, a detached Ed25519 signature of the
 * document is fetched too (from SIGNATURE_URL, default the source with
 * ".sig" appended) and checked; a document whose signature is missing or
 * does not verify is an error and nothing of it is returned.  In a MISP
 * directory every file is signed on its own: manifest.json (its signature
 * at SIGNATURE_URL, default manifest.json.sig) and each UUID.json
 * (UUID.json.sig).  TAXII collections cannot be signed (-EINVAL).
 */
#ifndef RG_FETCH_H
#define RG_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct rg_fetch_req {
	const char *url;		/**< the feed's source */
	const char *format;		/**< the feed's format */
	const char *ca_file;		/**< https: CA bundle; NULL: system's */
	const char *client_cert_file;	/**< https: client certificate (PEM) */
	const char *client_key_file;
	const char *spki_pin;		/**< https: base64 SHA-256 of the
					     server's SubjectPublicKeyInfo */
	const char *bearer_token;	/**< Authorization: Bearer, or NULL */
	const char *username;		/**< basic auth, or NULL */
	const char *password;
	const char *proxy;		/**< proxy URL; "": none; NULL: the
					     environment's (https_proxy ...) */
	const char *hub_key_file;	/**< Ed25519 public key (PEM): a
					     signature is required */
	const char *signature_url;	/**< NULL: URL + ".sig" */
	uint32_t timeout_ms;		/**< whole fetch (all requests);
					     0: 60 s */
	uint64_t max_bytes;		/**< largest document accepted (for
					     TAXII and MISP directories,
					     all replies together); 0: 512
					     MiB */

	/* What the last good fetch left (NULL when none). */
	const char *etag;
	const char *last_modified;
	const char *taxii_added_last;	/**< TAXII: X-TAXII-Date-Added-Last */
	const char *old_data;		/**< TAXII: the previous bundle */
	size_t old_len;
	const char *file_stamp;		/**< file: "size:mtime_ns:ino" */
};

enum rg_fetch_status {
	RG_FETCH_NEW = 0,		/**< DATA is the new document */
	RG_FETCH_NOT_MODIFIED = 1,	/**< keep the previous one */
};

struct rg_fetch_res {
	char *data;			/**< malloc'ed document, NUL-terminated
					     (not counted in LEN) */
	size_t len;
	/* To keep for the next fetch (malloc'ed or NULL), also when not
	 * modified: a 304 that does not repeat the ETag or Last-Modified
	 * leaves those of the request here. */
	char *etag;
	char *last_modified;
	char *taxii_added_last;
	char *file_stamp;
	uint64_t objects_new;		/**< TAXII: objects in this poll */
	long http_status;		/**< last HTTP status seen, or 0 */
	char error[512];		/**< why it failed */
};

/**
 * Fetch REQ into RES (zeroed by the caller).  Returns RG_FETCH_NEW,
 * RG_FETCH_NOT_MODIFIED, or a negative errno code with RES->error set:
 * -EPROTONOSUPPORT for a scheme not handled here, -ETIMEDOUT, -EFBIG,
 * -EBADMSG for a bad or missing signature, a malformed TAXII reply or MISP
 * manifest or event, -EIO for a failed transfer or an HTTP status other
 * than 200 or 304, -EACCES for a TAXII server's 401 or 403, -EAGAIN for a
 * file that kept changing while read, -EINVAL for a request that cannot
 * be made (a bad TAXII URL, a hub key that is not Ed25519).  Nothing but
 * ERROR and HTTP_STATUS is set on an error.
 */
int rg_fetch(const struct rg_fetch_req *req, struct rg_fetch_res *res);

/** Free what RES holds (not RES itself). */
void rg_fetch_res_clear(struct rg_fetch_res *res);

/**
 * The agent is stopping: every fetch and transfer in flight, in any
 * thread, ends at once with -ECANCELED.  For good: there is no undoing.
 */
void rg_fetch_abort_all(void);

/** 1 once rg_fetch_abort_all() was called (for the zone transfers). */
int rg_fetch_aborting(void);

/** Call once before threads start (curl_global_init). */
int rg_fetch_global_init(void);

/**
 * Check a detached Ed25519 signature SIG (64 raw bytes, or their base64
 * text, surrounding white space allowed) of DATA with the public key in
 * the PEM file KEY_FILE.  Returns 0 when it verifies, -EBADMSG when it
 * does not, another negative errno code (with ERR) when the key or the
 * signature cannot be read.
 */
int rg_sig_verify(const char *key_file, const char *data, size_t len,
    const char *sig, size_t sig_len, char *err, size_t err_len);

#endif
