/*
 * feedfuzz.h -- what the libFuzzer targets of the feed formats share: the
 * checks on the rules a parse hands over and on what it says, and the
 * run of a JSON format (stix2, misp) that checks them all.  The plugin's
 * feed.c is compiled into the target, so rg_plugin is the format fuzzed.
 */
#ifndef RG_FEEDFUZZ_H
#define RG_FEEDFUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"

/** An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

extern const struct rg_plugin rg_plugin;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** S (LEN bytes) holds a NUL, and before it printable ASCII only. */
void rg_fuzz_check_text(const char *s, size_t len);

/**
 * NAME is a rule's name: lowercase labels of letters, digits, '-' and
 * '_', 1 to 63 bytes each, at most 253 bytes, no final dot, "*." only in
 * front.
 */
void rg_fuzz_check_name(const char *name);

/**
 * Name S (N bytes) through rg_name_norm(), with RG_NAME_NUMERIC and
 * without: a name taken is a rule's name, the same both ways when both
 * take it, and taken again unchanged; a name refused has a reason in
 * printable ASCII.
 */
void rg_fuzz_check_name_norm(const char *s, size_t n);

/**
 * What every parse of a line-based format (rpz, adblock) says: RC, ST
 * and MSG (MSGLEN bytes) agree, and a skip is described at its line.
 */
void rg_fuzz_check_lines(long rc, const struct rg_feed_stats *st,
    const char *msg, size_t msglen);

/**
 * Parse DOC (LEN bytes) of a JSON format with settings S, and check it:
 * each rule is the policy's, with a name, or an address or a prefix in
 * canonical form, and a known TLP word; the count returned, the rules and
 * the stats agree, and a format other than stix2 moves none of the
 * counters that only STIX has; what is skipped is described in printable
 * ASCII; the same input gives the same result again; and a callback that
 * fails halfway stops the parse with its own error after that call.
 */
void rg_fuzz_policy_parse(const struct rg_feed_settings *s, const char *doc,
    size_t len);

#endif
