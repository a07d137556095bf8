/*
 * A token bucket for log lines that something outside the vmm can trigger at
 * will (a guest's test calls, resets, broken virtio drivers, serial output
 * it overflows): a burst of lines passes, then a few per second; what does
 * not pass is counted, and the next line that does says how many were
 * suppressed.  Thread-safe (vCPU threads log through it).  Each source has a
 * bucket of its own, in the struct it belongs to: one guest's flood of one
 * kind does not silence another kind, nor another VM in the process.
 */
#ifndef VMM_RATELIMIT_H
#define VMM_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <qb/qblog.h>

/* Guest-triggered lines: 20 at once, then 5 a second per source. */
#define RATELIMIT_GUEST_BURST 20
#define RATELIMIT_GUEST_PER_SEC 5

struct ratelimit {
	pthread_mutex_t lock;
	uint64_t cost_ns;     /* refill time of one token (1 s / per_sec)    */
	uint64_t cap_ns;      /* burst tokens                                */
	uint64_t budget_ns;   /* tokens held, as refill time                 */
	uint64_t last_ns;     /* CLOCK_MONOTONIC of the last refill; 0: none */
	uint64_t suppressed;  /* refused since the last line that passed     */
};

void ratelimit__init(struct ratelimit *rl, unsigned burst, unsigned per_sec);
void ratelimit__destroy(struct ratelimit *rl);

/*
 * true: log this line; *suppressed is then how many were refused since the
 * previous one that passed.  _at takes the time (ns, monotonic) for tests.
 */
bool ratelimit__allow(struct ratelimit *rl, uint64_t *suppressed);
bool ratelimit__allow_at(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

/* qb_log through the bucket rl; the line after a gap says what was suppressed. */
#define ratelimit_log(rl, prio, fmt, ...)                                                \
	do {                                                                              \
		uint64_t rl_suppressed_;                                                  \
		if (!ratelimit__allow((rl), &rl_suppressed_))                             \
			break;                                                            \
		if (rl_suppressed_)                                                       \
			qb_log((prio), fmt " [rate limit: %llu such lines suppressed before]", \
			       ##__VA_ARGS__, (unsigned long long)rl_suppressed_);        \
		else                                                                      \
			qb_log((prio), fmt, ##__VA_ARGS__);                               \
	} while (0)

#endif
