/*
 * fake.h -- a fake clock and a fake network behind the symbols of clock.h
 * and transport.h, for tests that run the real health and failover code
 * in simulated time.
 *
 * Each upstream (by name) is given a behaviour and a round-trip time; an
 * exchange with it produces a reply (built with ldns from the query) or a
 * failure, due after the round-trip time or the time-out.  fake_run()
 * advances the clock event by event and calls a tick function whenever
 * the clock moves, like the daemon's timer.
 */
#ifndef RG_FAKE_H
#define RG_FAKE_H

#include <stdint.h>

enum fake_mode {
	FAKE_OK,		/* answers every probe correctly */
	FAKE_TIMEOUT,		/* never answers */
	FAKE_REFUSED_CONN,	/* fails at once (connection refused) */
	FAKE_SERVFAIL,		/* answers SERVFAIL */
	FAKE_REWRITE,		/* answers NOERROR where NXDOMAIN is due */
	FAKE_WRONG,		/* answers the expect name with another address */
	FAKE_NOAD,		/* does not validate: no AD on the signed name */
	FAKE_SLOW,		/* like OK, but after 3 x its rtt */
};

/** Set the behaviour of UPSTREAM (by name) from now on. */
void fake_upstream(const char *name, enum fake_mode mode, uint32_t rtt_ms);
/** Exchanges started with UPSTREAM so far. */
unsigned fake_sent(const char *name);
/** Set the clock (ms). */
void fake_set_now(uint64_t ms);
uint64_t fake_now(void);
/** Forget every upstream, pending reply and count; clock back to 1000 ms. */
void fake_reset(void);

/**
 * Advance the clock to UNTIL_MS: repeatedly move to the earliest of the
 * next pending reply and *NEXT_MS, deliver what is due, and call TICK(ARG)
 * (which updates *NEXT_MS).
 */
void fake_run(uint64_t until_ms, uint64_t *next_ms, void (*tick)(void *),
    void *arg);

#endif
