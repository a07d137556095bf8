/* Checkpointing's statistics and protect-status (checkpoint.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/checkpoint.h"
#include "vmm/vm.h"

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

/* The 99th percentile of the pause samples (sorted in a scratch copy). */
static uint64_t pause_p99(const struct checkpoint_stats *st)
{
	uint64_t n = st->epochs < CHECKPOINT_PAUSE_SAMPLES ? st->epochs : CHECKPOINT_PAUSE_SAMPLES;
	uint64_t *sorted, p99;

	if (!n || !(sorted = malloc(n * sizeof(uint64_t))))
		return 0;
	memcpy(sorted, st->pause_samples, n * sizeof(uint64_t));
	qsort(sorted, n, sizeof(uint64_t), cmp_u64);
	p99 = sorted[(n * 99 + 99) / 100 - 1];
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
	char error[256];
	uint64_t p99, held, released, dropped, net_held, net_released;
	struct net_counters net;
	long long age_ms, peer;
	double rate;
	bool standby;
	char digest[65];              /* hex; "" without --verify-disk */
};

/* Copy what the status shows, under the lock; 0, or -1 out of memory. */
static int take_view(struct checkpoint *ck, struct status_view *v)
{
	uint64_t now = migrate__now_ns();

	v->st = malloc(sizeof(*v->st));
	if (!v->st)
		return -1;
	pthread_mutex_lock(&ck->lock);
	*v->st = ck->st;
	v->state = ck->state;
	snprintf(v->error, sizeof(v->error), "%s", ck->error);
	pthread_mutex_unlock(&ck->lock);
	v->standby = v->state == CKPT_STANDBY || v->state == CKPT_LOST;
	v->p99 = v->standby ? 0 : pause_p99(v->st);
	v->held = outbuf__held(&ck->ob, OUTBUF_SERIAL);
	v->released = outbuf__released(&ck->ob, OUTBUF_SERIAL);
	v->dropped = ck->vm->serial ? serial__held_dropped(ck->vm->serial) : 0;
	v->net_held = outbuf__held(&ck->ob, OUTBUF_NET);
	v->net_released = outbuf__released(&ck->ob, OUTBUF_NET);
	memset(&v->net, 0, sizeof(v->net));
	if (ck->vm->net)
		virtio_net__counters(ck->vm->net, &v->net);
	v->age_ms = v->st->last_commit_ns ? (long long)((now - v->st->last_commit_ns) / 1000000) : -1;
	v->rate = epochs_per_s(v->st, now);
	v->digest[0] = '\0';
	for (unsigned i = 0; v->st->disk_digest_valid && i < sizeof(v->st->disk_digest); i++)
		snprintf(v->digest + 2 * i, 3, "%02x", v->st->disk_digest[i]);
	/* The token this side checks the other's against; -1: none. */
	v->peer = v->standby || v->state == CKPT_ACTIVATED ?
		  (ck->fence.check_peer ? (long long)ck->fence.peer_generation : -1) :
		  (ck->p.check_peer_generation ? (long long)ck->p.peer_generation : -1);
	for (char *c = v->error; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '\'';
	return 0;
}

#define US(x) ((double)(x) / 1000.0)
#define MEAN(sum, n) ((n) ? (double)(sum) / (double)(n) : 0.0)

static void format_json(struct checkpoint *ck, const struct status_view *v, char *out,
			size_t len)
{
	const struct checkpoint_stats *st = v->st;

	snprintf(out, len, "{\"state\":\"%s\",\"role\":\"%s\",\"generation\":%llu,"
		 "\"peer_generation\":%lld,\"epochs\":%llu,\"committed_epoch\":%llu,"
		 "\"refused\":%llu,\"last_commit_age_ms\":%lld,\"epochs_per_s\":%.1f,"
		 "\"pause_us_mean\":%.1f,\"pause_us_p99\":%.1f,\"pause_us_max\":%.1f,"
		 "\"pages_per_epoch\":%.1f,\"bytes_per_epoch\":%.1f,"
		 "\"pages_last\":%llu,\"bytes_last\":%llu,"
		 "\"ack_us_mean\":%.1f,\"ack_us_max\":%.1f,"
		 "\"output_held_bytes\":%llu,\"output_released_bytes\":%llu,"
		 "\"output_dropped_bytes\":%llu,"
		 "\"net_output_held_frames\":%llu,\"net_output_released_frames\":%llu,"
		 "\"net_output_dropped_frames\":%llu,"
		 "\"disk_blocks_last\":%llu,\"disk_bytes_per_epoch\":%.1f,"
		 "\"disk_digest\":\"%s\",\"error\":\"%s\"}\n",
		 checkpoint__state_name(v->state), v->standby ? "standby" : "primary",
		 (unsigned long long)ck->generation, v->peer, (unsigned long long)st->epochs,
		 (unsigned long long)st->committed_epoch, (unsigned long long)st->refused,
		 v->age_ms, v->rate, US(MEAN(st->pause_ns_sum, st->epochs)),
		 US(v->p99), US(st->pause_ns_max), MEAN(st->pages_sum, st->epochs),
		 MEAN(st->bytes_sum, st->epochs), (unsigned long long)st->pages_last,
		 (unsigned long long)st->bytes_last, US(MEAN(st->ack_ns_sum, st->epochs)),
		 US(st->ack_ns_max), (unsigned long long)v->held, (unsigned long long)v->released,
		 (unsigned long long)v->dropped,
		 (unsigned long long)v->net_held, (unsigned long long)v->net_released,
		 (unsigned long long)v->net.hold_dropped,
		 (unsigned long long)st->disk_blocks_last, MEAN(st->disk_bytes_sum, st->epochs),
		 v->digest, v->error);
}

static void format_text(struct checkpoint *ck, const struct status_view *v, char *out,
			size_t len)
{
	const struct checkpoint_stats *st = v->st;
	char peer[32] = "-", age[32] = "none yet";

	if (v->peer >= 0)
		snprintf(peer, sizeof(peer), "%lld", v->peer);
	if (v->age_ms >= 0)
		snprintf(age, sizeof(age), "%lld ms ago", v->age_ms);
	snprintf(out, len,
		 "state:            %s (%s)\n"
		 "generation:       %llu (peer %s)\n"
		 "epochs:           %llu (committed %llu, refused %llu)\n"
		 "last commit:      %s; %.1f epochs/s over the last second\n"
		 "pause per epoch:  mean %.1f us, p99 %.1f us, max %.1f us\n"
		 "per epoch:        %.1f pages, %.1f bytes (last %llu pages, %llu bytes)\n"
		 "ack latency:      mean %.1f us, max %.1f us\n"
		 "output:           %llu bytes held, %llu bytes released, %llu held bytes dropped (buffer full)\n"
		 "net output:       %llu frames held, %llu released, %llu dropped\n"
		 "disk per epoch:   %.1f bytes (last %llu blocks)\n"
		 "disk digest:      %s\n"
		 "%s%s%s",
		 checkpoint__state_name(v->state), v->standby ? "standby" : "primary",
		 (unsigned long long)ck->generation, peer, (unsigned long long)st->epochs,
		 (unsigned long long)st->committed_epoch, (unsigned long long)st->refused, age,
		 v->rate, US(MEAN(st->pause_ns_sum, st->epochs)), US(v->p99),
		 US(st->pause_ns_max), MEAN(st->pages_sum, st->epochs),
		 MEAN(st->bytes_sum, st->epochs), (unsigned long long)st->pages_last,
		 (unsigned long long)st->bytes_last, US(MEAN(st->ack_ns_sum, st->epochs)),
		 US(st->ack_ns_max), (unsigned long long)v->held, (unsigned long long)v->released,
		 (unsigned long long)v->dropped,
		 (unsigned long long)v->net_held, (unsigned long long)v->net_released,
		 (unsigned long long)v->net.hold_dropped,
		 MEAN(st->disk_bytes_sum, st->epochs), (unsigned long long)st->disk_blocks_last,
		 v->digest[0] ? v->digest : "-",
		 v->error[0] ? "error:            " : "", v->error, v->error[0] ? "\n" : "");
}

void checkpoint__format_status(struct checkpoint *ck, bool json, char *out, size_t len)
{
	struct status_view v;

	if (take_view(ck, &v)) {
		snprintf(out, len, "out of memory");
		return;
	}
	if (json)
		format_json(ck, &v, out, len);
	else
		format_text(ck, &v, out, len);
	free(v.st);
}
