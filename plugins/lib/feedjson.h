/*
 * feedjson.h -- reading the JSON documents of the feed formats that hubs
 * serve as JSON (STIX bundles and TAXII envelopes, MISP events), with the
 * same limits and the same error lines in each.
 *
 * Compiled into each feed plugin that uses it, beside feedutil.c.
 */
#ifndef RG_FEEDJSON_H
#define RG_FEEDJSON_H

#include <stddef.h>

#include <jansson.h>

/** A larger document is not a feed but a mistake (or an attack). */
#define RG_JSON_MAX_BYTES	(256 * 1024 * 1024)
/** Deeper nesting than any feed needs is refused before parsing, whatever
 *  the JSON library's own limit. */
#define RG_JSON_MAX_NESTING	100

/**
 * Parse document DATA (LEN bytes, not NUL-terminated, a UTF-8 byte order
 * mark allowed) into *ROOT, to be freed with json_decref().  0, or -EFBIG,
 * -EINVAL or -ENOMEM with one line in MSG (MSGLEN bytes, may be NULL).
 */
int rg_json_load(const char *data, size_t len, json_t **root, char *msg,
    size_t msglen);

#endif
