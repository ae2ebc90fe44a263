/*
 * feedjson.c -- reading a feed's JSON document: the size and the nesting
 * are checked before the JSON library sees it, a byte order mark is
 * skipped, and a syntax error says where it is.
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
