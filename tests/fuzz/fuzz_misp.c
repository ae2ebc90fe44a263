/*
 * fuzz_misp.c -- libFuzzer target: the "misp" feed format plugin.
 *
 * The input is used twice: as a whole document, as a feed server may send
 * it, and, when it is UTF-8, as the value of one attribute of each type
 * used, in an event made here (so that the value parsers are reached
 * without the JSON around them).  The settings come from the input's
 * length.  Checked for every parse (in feedfuzz.c): each rule is well
 * formed (a lowercase name of at most 255 characters, or an address or
 * prefix that inet_pton takes, a known TLP word, the policy action); the
 * count returned, the rules handed over and the stats agree, and no
 * STIX-only counter moves; what is skipped is described, in printable
 * ASCII; the same input gives the same result again; and a callback that
 * fails halfway stops the parse with its own error after exactly that
 * call.
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
	static const char *const types[] = { "domain", "hostname",
	    "domain|ip", "url", "ip-dst", "ip-src", "ip-dst|port",
	    "ip-src|port" };
	struct rg_feed_settings s;
	json_t *ev, *attrs, *v;
	char *doc;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.name = "fuzz";
	s.format = "misp";
	s.subdomains = size & 1;
	s.now = 1700000000;

	rg_fuzz_policy_parse(&s, (const char *)data, size);

	/* The input as the value of every type. */
	if ((v = json_stringn((const char *)data, size)) == NULL)
		return 0;
	attrs = json_array();
	for (i = 0; attrs != NULL && i < sizeof(types) / sizeof(types[0]);
	    i++)
		json_array_append_new(attrs, json_pack("{s:s, s:O, s:s, s:i}",
		    "type", types[i], "value", v, "to_ids", "1", "id",
		    (int)i));
	json_decref(v);
	ev = json_pack("{s:{s:s, s:[{s:s}], s:o}}", "Event", "uuid", "ev",
	    "Tag", "name", "tlp:amber", "Attribute", attrs);
	if (ev == NULL)
		return 0;
	if ((doc = json_dumps(ev, 0)) != NULL)
		rg_fuzz_policy_parse(&s, doc, strlen(doc));
	free(doc);
	json_decref(ev);
	return 0;
}
