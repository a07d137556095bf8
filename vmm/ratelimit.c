/* See ratelimit.h. */
#include "config.h"

#include <time.h>

#include "vmm/ratelimit.h"

void ratelimit__init(struct ratelimit *rl, unsigned burst, unsigned per_sec)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->cost_ns = 1000000000ULL / (per_sec ? per_sec : 1);
	rl->cap_ns = rl->cost_ns * (burst ? burst : 1);
	rl->budget_ns = rl->cap_ns;
	rl->last_ns = 0;
	rl->suppressed = 0;
}

void ratelimit__destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool ratelimit__allow_at(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
	bool ok;

	pthread_mutex_lock(&rl->lock);
	if (rl->last_ns && now_ns > rl->last_ns) {
		uint64_t room = rl->cap_ns - rl->budget_ns;
		uint64_t add = now_ns - rl->last_ns;

		rl->budget_ns += add < room ? add : room;
	}
	if (!rl->last_ns || now_ns > rl->last_ns)
		rl->last_ns = now_ns;
	ok = rl->budget_ns >= rl->cost_ns;
	if (ok) {
		rl->budget_ns -= rl->cost_ns;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

bool ratelimit__allow(struct ratelimit *rl, uint64_t *suppressed)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ratelimit__allow_at(rl, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec,
				   suppressed);
}
