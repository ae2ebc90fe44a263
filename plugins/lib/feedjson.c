/*
 * feedjson.c -- reading a feed's JSON document: the size and the nesting
 * are checked before the JSON library sees it, a byte order mark is
 * skipped, and a syntax error says where it is.  A large document is read
 * one element of its array at a time: the JSON library's values take ten
 * times the size of their text, and a feed has no use for the whole tree.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "feedutil.h"
#include "feedjson.h"

/* Whether JSON text S (N bytes) nests arrays and objects MAX deep at most. */
static int
nesting_ok(const char *s, size_t n, int max)
{
	size_t i;
	int depth = 0, str = 0;

	for (i = 0; i < n; i++) {
		if (str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				str = 0;
			continue;
		}
		if (s[i] == '"')
			str = 1;
		else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max)
				return 0;
		} else if (s[i] == ']' || s[i] == '}')
			depth--;
	}
	return 1;
}

int
rg_json_load(const char *data, size_t len, json_t **root, char *msg,
    size_t msglen)
{
	json_error_t je;

	*root = NULL;
	if (len > RG_JSON_MAX_BYTES) {
		rg_feed_say(msg, msglen, "document of %zu bytes, more than %d "
		    "MB", len, RG_JSON_MAX_BYTES / (1024 * 1024));
		return -EFBIG;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	if (!nesting_ok(data, len, RG_JSON_MAX_NESTING)) {
		rg_feed_say(msg, msglen, "nested more than %d levels deep",
		    RG_JSON_MAX_NESTING);
		return -EINVAL;
	}
	if ((*root = json_loadb(data, len, 0, &je)) == NULL) {
#if JANSSON_VERSION_HEX >= 0x020b00
		if (json_error_code(&je) == json_error_out_of_memory) {
			rg_feed_say(msg, msglen, "out of memory");
			return -ENOMEM;
		}
#endif
		rg_feed_say(msg, msglen, "not JSON: line %d, column %d: %s",
		    je.line, je.column, je.text);
		return -EINVAL;
	}
	return 0;
}

/* Past the white space at P (JSON's: space, tab, line feed, return). */
static const char *
js_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/*
 * The end of the JSON value at P, by its strings and brackets alone (what
 * is inside is the parser's to check); a number or a literal ends where
 * white space or punctuation starts.  NULL when it does not end before
 * END.
 */
static const char *
js_end(const char *p, const char *end)
{
	int depth = 0;

	if (p < end && *p != '{' && *p != '[' && *p != '"') {
		while (p < end && *p != ',' && *p != ']' && *p != '}' &&
		    *p != ':' && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			p++;
		return p;
	}
	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return NULL;
			if (depth == 0)
				return p + 1;
		} else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth <= 0)
			return depth == 0 ? p + 1 : NULL;
	}
	return NULL;
}

/* Whether P..E is one JSON value as the library reads it. */
static int
js_valid(const char *p, const char *e)
{
	json_error_t je;
	json_t *v;

	if ((v = json_loadb(p, (size_t)(e - p), JSON_DECODE_ANY, &je)) == NULL)
		return 0;
	json_decref(v);
	return 1;
}

/* The elements of the array at *P (its '['), to CB; *P past its ']'. */
static int
js_elements(const char **pp, const char *end, rg_json_each_cb *cb,
    void *arg)
{
	const char *p = js_ws(*pp + 1, end), *e;
	json_error_t je;
	json_t *v;
	size_t idx;
	int rc;

	if (p < end && *p == ']') {
		*pp = p + 1;
		return 0;
	}
	for (idx = 0;; idx++) {
		if ((e = js_end(p, end)) == NULL || e == p ||
		    (v = json_loadb(p, (size_t)(e - p), JSON_DECODE_ANY,
		    &je)) == NULL)
			return 1;
		rc = cb(arg, v, idx);
		json_decref(v);
		if (rc < 0)
			return rc;
		p = js_ws(e, end);
		if (p < end && *p == ',') {
			p = js_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']') {
			*pp = p + 1;
			return 0;
		}
		return 1;
	}
}

int
rg_json_each(const char *data, size_t len, const char *key,
    rg_json_each_cb *cb, void *arg)
{
	const char *p, *end, *e;
	size_t kl = strlen(key);
	int rc, found = 0, is_key;

	if (len > RG_JSON_MAX_BYTES)
		return 1;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	if (!nesting_ok(data, len, RG_JSON_MAX_NESTING))
		return 1;
	end = data + len;
	p = js_ws(data, end);
	if (p < end && *p == '[') {
		if ((rc = js_elements(&p, end, cb, arg)) != 0)
			return rc;
	} else if (p < end && *p == '{') {
		/* The members: KEY's array element by element, the others
		 * checked whole; a KEY twice is left to the library. */
		p = js_ws(p + 1, end);
		for (;;) {
			if (p >= end || *p != '"' ||
			    (e = js_end(p, end)) == NULL)
				return 1;
			is_key = (size_t)(e - p) == kl + 2 &&
			    memcmp(p + 1, key, kl) == 0;
			if (!is_key && !js_valid(p, e))
				return 1;
			p = js_ws(e, end);
			if (p >= end || *p != ':')
				return 1;
			p = js_ws(p + 1, end);
			if (is_key) {
				if (found++ || p >= end || *p != '[')
					return 1;
				if ((rc = js_elements(&p, end, cb, arg)) != 0)
					return rc;
			} else {
				if ((e = js_end(p, end)) == NULL ||
				    !js_valid(p, e))
					return 1;
				p = e;
			}
			p = js_ws(p, end);
			if (p < end && *p == ',') {
				p = js_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == '}')
				break;
			return 1;
		}
		if (!found)
			return 1;
		p++;
	} else
		return 1;
	/* Nothing after the document but white space. */
	return js_ws(p, end) == end ? 0 : 1;
}
