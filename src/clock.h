/*
 * clock.h -- the two clocks of the agent.
 *
 * rg_clock_ms() is monotonic and drives every timer (probe intervals,
 * back-off, fail-back hold); rg_clock_wall_ms() is the wall clock stamped on
 * events.  The scenario tests link a fake clock with the same symbols.
 */
#ifndef RG_CLOCK_H
#define RG_CLOCK_H

#include <stdint.h>

/** Monotonic milliseconds (arbitrary origin). */
uint64_t rg_clock_ms(void);
/** Milliseconds since the epoch, UTC. */
uint64_t rg_clock_wall_ms(void);

#endif
