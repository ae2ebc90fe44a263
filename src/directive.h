/*
 * directive.h -- hub directives: signed documents asking the agent to pin
 * a pool until a given time (a declared crisis moving operators onto EU
 * resolvers), or to release such a pin.
 *
 * A directive arrives as the document of a feed of format "directive",
 * through any feed transport or the push endpoint, and is only taken with
 * a good Ed25519 signature from the feed's hub key.  Its form:
 *
 *   { "type": "resguard-directive", "version": 1,
 *     "id": "...", "issued": "2026-11-30T10:00:00Z",
 *     "action": "pin", "pool": "eu", "until": "2026-12-02T10:00:00Z",
 *     "reason": "..." }
 *
 * or "action": "release".  A directive is refused when it is not newer
 * than the one in force, when its pin would end in the past or more than
 * 30 days ahead, or when it is issued in the future (5 minutes allowed).
 */
#ifndef RG_DIRECTIVE_H
#define RG_DIRECTIVE_H

#include <stddef.h>
#include <stdint.h>

#define RG_DIRECTIVE_MAX_S	(30 * 86400)

enum rg_directive_action {
	RG_DIRECTIVE_PIN,
	RG_DIRECTIVE_RELEASE,
};

struct rg_directive {
	char id[128];
	enum rg_directive_action action;
	char pool[64];			/**< PIN: the pool */
	int64_t issued;			/**< seconds since the epoch */
	int64_t until;			/**< PIN: end of the pin */
	char reason[256];
};

/**
 * Parse and check DATA (LEN bytes) at NOW (seconds since the epoch; -1:
 * no check of the times) into D.  Returns 0, or -EINVAL with one line in
 * ERR.
 */
int rg_directive_parse(const char *data, size_t len, int64_t now,
    struct rg_directive *d, char *err, size_t err_len);

#endif
