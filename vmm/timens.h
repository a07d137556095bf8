/*
 * A clock's time as one count of nanoseconds, for the places that store,
 * send or subtract times (saved state, pause lengths).
 */
#ifndef VMM_TIMENS_H
#define VMM_TIMENS_H

#include <stdint.h>
#include <time.h>

static inline uint64_t timens__now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
