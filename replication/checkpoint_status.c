/* Checkpointing's statistics and protect-status (checkpoint.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/checkpoint.h"
#include "vmm/control.h"

const char *checkpoint__state_name(enum checkpoint_state s)
{
	switch (s) {
	case CKPT_NONE: return "none";
	case CKPT_SYNCING: return "syncing";
	case CKPT_PROTECTED: return "protected";
	case CKPT_DEGRADED: return "degraded";
	case CKPT_PAUSED: return "paused";
	case CKPT_FAILED: return "failed";
	case CKPT_STANDBY: return "standby";
	case CKPT_LOST: return "lost";
	case CKPT_ACTIVATED: return "activated";
	case CKPT_ENDED: return "ended";
	}
	return "unknown";
}

/* Called with ck->lock held. */
void checkpoint__record_pause(struct checkpoint *ck, uint64_t ns)
{
	ck->st.pause_samples[(ck->st.epochs - 1) % CHECKPOINT_PAUSE_SAMPLES] = ns;
	ck->st.pause_ns_sum += ns;
	if (ns > ck->st.pause_ns_max)
		ck->st.pause_ns_max = ns;
}

/* Called with ck->lock held, after st.epochs counted the commit (0: the sync). */
void checkpoint__record_commit(struct checkpoint *ck, uint64_t now_ns)
{
	ck->st.last_commit_ns = now_ns;
	if (ck->st.epochs)
		ck->st.commit_ns[(ck->st.epochs - 1) % CHECKPOINT_RATE_SAMPLES] = now_ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The 99th percentile of the pause samples (sorted in a scratch copy), and
 * the median in *p50.
 */
static uint64_t pause_p99(const struct checkpoint_stats *st, uint64_t *p50)
{
	uint64_t n = st->epochs < CHECKPOINT_PAUSE_SAMPLES ? st->epochs : CHECKPOINT_PAUSE_SAMPLES;
	uint64_t *sorted, p99;

	*p50 = 0;
	if (!n || !(sorted = malloc(n * sizeof(uint64_t))))
		return 0;
	memcpy(sorted, st->pause_samples, n * sizeof(uint64_t));
	qsort(sorted, n, sizeof(uint64_t), cmp_u64);
	p99 = sorted[(n * 99 + 99) / 100 - 1];
	*p50 = sorted[(n + 1) / 2 - 1];
	free(sorted);
	return p99;
}

/*
 * Commits in the last second.  When the ring holds less than the second
 * (more than CHECKPOINT_RATE_SAMPLES commits in it), over what it holds.
 */
static double epochs_per_s(const struct checkpoint_stats *st, uint64_t now)
{
	uint64_t n = st->epochs < CHECKPOINT_RATE_SAMPLES ? st->epochs : CHECKPOINT_RATE_SAMPLES;
	uint64_t count = 0, oldest = now;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = st->commit_ns[(st->epochs - 1 - i) % CHECKPOINT_RATE_SAMPLES];

		if (now - t > 1000000000ULL)
			return (double)count;
		count++;
		oldest = t;
	}
	if (n < CHECKPOINT_RATE_SAMPLES || now == oldest)
		return (double)count;
	return (double)count * 1e9 / (double)(now - oldest);
}

struct status_view {
	struct checkpoint_stats *st;
	enum checkpoint_state state;
	long long age_ms, peer;
	double rate;
	bool standby;
};

/* Copy what the status shows, under the lock; 0, or -1 out of memory. */
static int take_view(struct checkpoint *ck, struct status_view *v, char *error)
{
	uint64_t now = migrate__now_ns();

	v->st = malloc(sizeof(*v->st));
	if (!v->st)
		return -1;
	pthread_mutex_lock(&ck->lock);
	*v->st = ck->st;
	v->state = ck->state;
	snprintf(error, CONTROL_CK_ERROR_LEN, "%s", ck->error);
	pthread_mutex_unlock(&ck->lock);
	v->standby = v->state == CKPT_STANDBY || v->state == CKPT_LOST;
	v->age_ms = v->st->last_commit_ns ? (long long)((now - v->st->last_commit_ns) / 1000000) : -1;
	v->rate = epochs_per_s(v->st, now);
	/* The token this side checks the other's against; -1: none. */
	v->peer = v->standby || v->state == CKPT_ACTIVATED ?
		  (ck->fence.check_peer ? (long long)ck->fence.peer_generation : -1) :
		  (ck->p.check_peer_generation ? (long long)ck->p.peer_generation : -1);
	return 0;
}

#define US(x) ((double)(x) / 1000.0)
#define MEAN(sum, n) ((n) ? (double)(sum) / (double)(n) : 0.0)

static void fill_stats(const struct checkpoint_stats *st, uint64_t p99,
		       Vmm__Control__ProtectStatus *ps)
{
	ps->epochs = st->epochs;
	ps->epochs_by_output = st->epochs_output;
	ps->epochs_by_time = st->epochs_time;
	ps->disk_read_blocks = st->disk_read_blocks;
	ps->capture = (char *)(st->capture ? st->capture : "");
	ps->epochs_copied = st->epochs_copied;
	ps->committed_epoch = st->committed_epoch;
	ps->refused = st->refused;
	ps->pause_us_mean = US(MEAN(st->pause_ns_sum, st->epochs));
	ps->pause_us_p99 = US(p99);
	ps->pause_us_max = US(st->pause_ns_max);
	ps->pages_per_epoch = MEAN(st->pages_sum, st->epochs);
	ps->bytes_per_epoch = MEAN(st->bytes_sum, st->epochs);
	ps->pages_last = st->pages_last;
	ps->bytes_last = st->bytes_last;
	ps->ack_us_mean = US(MEAN(st->ack_ns_sum, st->epochs));
	ps->ack_us_max = US(st->ack_ns_max);
	ps->disk_blocks_last = st->disk_blocks_last;
	ps->disk_bytes_per_epoch = MEAN(st->disk_bytes_sum, st->epochs);
	ps->disk_digest[0] = '\0';
	for (unsigned i = 0; st->disk_digest_valid && i < sizeof(st->disk_digest); i++)
		snprintf(ps->disk_digest + 2 * i, 3, "%02x", st->disk_digest[i]);
}

static void fill_output(struct checkpoint *ck, Vmm__Control__ProtectStatus *ps)
{
	ps->output_held_bytes = outbuf__held(&ck->ob, OUTBUF_SERIAL);
	ps->output_released_bytes = outbuf__released(&ck->ob, OUTBUF_SERIAL);
	ps->output_dropped_bytes = outbuf__dropped(&ck->port, OUTBUF_SERIAL);
	ps->net_output_held_frames = outbuf__held(&ck->ob, OUTBUF_NET);
	ps->net_output_released_frames = outbuf__released(&ck->ob, OUTBUF_NET);
	ps->net_output_dropped_frames = outbuf__dropped(&ck->port, OUTBUF_NET);
}

void checkpoint__fill_status(struct checkpoint *ck, Vmm__Control__ProtectStatus *ps)
{
	struct status_view v;
	uint64_t p50 = 0;

	if (take_view(ck, &v, ps->error)) {
		ps->state = (char *)"unknown";
		snprintf(ps->error, CONTROL_CK_ERROR_LEN, "out of memory");
		return;
	}
	ps->state = (char *)checkpoint__state_name(v.state);
	ps->role = (char *)(v.standby ? "standby" : "primary");
	ps->generation = ck->generation;
	ps->peer_generation = v.peer;
	ps->last_commit_age_ms = v.age_ms;
	ps->epochs_per_s = v.rate;
	fill_stats(v.st, v.standby ? 0 : pause_p99(v.st, &p50), ps);
	ps->pause_us_p50 = US(p50);
	if (!v.standby) {
		ps->ack_timeout_ms = ck->p.mp.ack_timeout_ms ? ck->p.mp.ack_timeout_ms :
				     MIGRATE_DEFAULT_TIMEOUT_MS;
		ps->min_interval_us = ck->p.no_output_epochs ? 0 :
				      checkpoint__min_interval_us(&ck->p);
	} else if (ck->sc) {
		ps->silence_limit_ms = (uint32_t)ck->sc->timeout_ms;
	}
	fill_output(ck, ps);
	free(v.st);
}
