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

/** Takes element number IDX of an array; 0, or a negative code to stop. */
typedef int rg_json_each_cb(void *arg, json_t *elem, size_t idx);

/**
 * Hand every element of the array of document DATA (LEN bytes, as
 * rg_json_load() takes it) to CB, each parsed alone and freed after the
 * call, so that a large document is never whole in memory as JSON values:
 * the elements of a document that is an array, or those of the array that
 * is member KEY of a document that is an object.  Returns 0 when every
 * element was handed over, the negative code of CB, or 1 when the document
 * is of another shape or does not read (CB may have been called): the
 * caller then undoes what CB did and loads the document whole with
 * rg_json_load(), which says what is wrong with it.
 */
int rg_json_each(const char *data, size_t len, const char *key,
    rg_json_each_cb *cb, void *arg);

#endif
