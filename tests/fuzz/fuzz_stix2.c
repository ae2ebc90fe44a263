/*
 * fuzz_stix2.c -- libFuzzer target: the "stix2" feed format plugin.
 *
 * The input is used twice: as a whole document, as a feed server may send
 * it, and, when it is UTF-8, as the pattern of one indicator in a bundle
 * made here (so that the pattern parser is reached without the JSON
 * around it).  The settings come from the input's length.  Checked for
 * every parse (in feedfuzz.c): each rule is well formed (a lowercase name
 * of at most 255 characters, or an address or prefix that inet_pton
 * takes, a known TLP word, the policy action); the count returned, the
 * rules handed over and the stats agree; what is skipped is described, in
 * printable ASCII; the same input gives the same result again; and a
 * callback that fails halfway stops the parse with its own error after
 * exactly that call.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feedfuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_feed_settings s;
	json_t *b, *pat;
	char *doc;

	memset(&s, 0, sizeof(s));
	s.name = "fuzz";
	s.format = "stix2";
	s.subdomains = size & 1;
	s.min_confidence = (int)(size % 3) * 40;
	s.default_lifetime_s = size % 5 == 0 ? 0 : (uint64_t)(size % 7) *
	    86400 * 365;
	s.now = 1700000000;

	rg_fuzz_policy_parse(&s, (const char *)data, size);

	/* The input as a pattern. */
	if ((pat = json_stringn((const char *)data, size)) == NULL)
		return 0;
	b = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:o, s:[s]}]}",
	    "type", "bundle", "objects", "type", "indicator", "id",
	    "indicator--f", "valid_from", "2023-01-01T00:00:00Z", "modified",
	    "2023-01-01T00:00:00Z", "pattern_type", "stix", "pattern", pat,
	    "object_marking_refs",
	    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421");
	if (b == NULL)
		return 0;
	if ((doc = json_dumps(b, 0)) != NULL)
		rg_fuzz_policy_parse(&s, doc, strlen(doc));
	free(doc);
	json_decref(b);
	return 0;
}
