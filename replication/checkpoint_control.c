/* Checkpointing's statistics and control commands (checkpoint.h). */
#include "config.h"

#include <errno.h>
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void checkpoint__format_status(struct checkpoint *ck, bool json, char *out, size_t len)
{
	static uint64_t sorted[CHECKPOINT_PAUSE_SAMPLES];   /* main thread only */
	struct checkpoint_stats *st;
	uint64_t n, p99 = 0, held, released;
	enum checkpoint_state state;
	char error[256];
	long long peer;
	bool standby;

	st = malloc(sizeof(*st));
	if (!st) {
		snprintf(out, len, "out of memory");
		return;
	}
	pthread_mutex_lock(&ck->lock);
	*st = ck->st;
	state = ck->state;
	snprintf(error, sizeof(error), "%s", ck->error);
	pthread_mutex_unlock(&ck->lock);
	standby = state == CKPT_STANDBY || state == CKPT_LOST;
	/* The token this side checks the other's against; -1: none. */
	peer = standby || state == CKPT_ACTIVATED ? (ck->fence.check_peer ? (long long)ck->fence.peer_generation : -1) :
	       (ck->p.check_peer_generation ? (long long)ck->p.peer_generation : -1);
	n = st->epochs < CHECKPOINT_PAUSE_SAMPLES ? st->epochs : CHECKPOINT_PAUSE_SAMPLES;
	if (n && !standby) {
		memcpy(sorted, st->pause_samples, n * sizeof(uint64_t));
		qsort(sorted, n, sizeof(uint64_t), cmp_u64);
		p99 = sorted[(n * 99 + 99) / 100 - 1];
	}
	held = outbuf__held(&ck->ob);
	released = atomic_load(&ck->ob.released_bytes);
	for (char *c = error; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = '\'';
#define US(x) ((double)(x) / 1000.0)
	if (json)
		snprintf(out, len, "{\"state\":\"%s\",\"role\":\"%s\",\"generation\":%llu,"
			 "\"peer_generation\":%lld,\"epochs\":%llu,\"committed_epoch\":%llu,\"refused\":%llu,"
			 "\"pause_us_mean\":%.1f,\"pause_us_p99\":%.1f,\"pause_us_max\":%.1f,"
			 "\"pages_per_epoch\":%.1f,\"bytes_per_epoch\":%.1f,"
			 "\"pages_last\":%llu,\"bytes_last\":%llu,"
			 "\"ack_us_mean\":%.1f,\"ack_us_max\":%.1f,"
			 "\"output_held_bytes\":%llu,\"output_released_bytes\":%llu,"
			 "\"error\":\"%s\"}\n",
			 checkpoint__state_name(state), standby ? "standby" : "primary",
			 (unsigned long long)ck->generation, peer, (unsigned long long)st->epochs,
			 (unsigned long long)st->committed_epoch, (unsigned long long)st->refused,
			 st->epochs ? US(st->pause_ns_sum / st->epochs) : 0, US(p99),
			 US(st->pause_ns_max),
			 st->epochs ? (double)st->pages_sum / (double)st->epochs : 0,
			 st->epochs ? (double)st->bytes_sum / (double)st->epochs : 0,
			 (unsigned long long)st->pages_last, (unsigned long long)st->bytes_last,
			 st->epochs ? US(st->ack_ns_sum / st->epochs) : 0, US(st->ack_ns_max),
			 (unsigned long long)held, (unsigned long long)released, error);
	else
		snprintf(out, len,
			 "state:            %s (%s)\n"
			 "generation:       %llu (peer %lld)\n"
			 "epochs:           %llu (committed %llu, refused %llu)\n"
			 "pause per epoch:  mean %.1f us, p99 %.1f us, max %.1f us\n"
			 "per epoch:        %.1f pages, %.1f bytes (last %llu pages, %llu bytes)\n"
			 "ack latency:      mean %.1f us, max %.1f us\n"
			 "output:           %llu bytes held, %llu bytes released\n"
			 "%s%s%s",
			 checkpoint__state_name(state), standby ? "standby" : "primary",
			 (unsigned long long)ck->generation, peer, (unsigned long long)st->epochs,
			 (unsigned long long)st->committed_epoch, (unsigned long long)st->refused,
			 st->epochs ? US(st->pause_ns_sum / st->epochs) : 0, US(p99),
			 US(st->pause_ns_max),
			 st->epochs ? (double)st->pages_sum / (double)st->epochs : 0,
			 st->epochs ? (double)st->bytes_sum / (double)st->epochs : 0,
			 (unsigned long long)st->pages_last, (unsigned long long)st->bytes_last,
			 st->epochs ? US(st->ack_ns_sum / st->epochs) : 0, US(st->ack_ns_max),
			 (unsigned long long)held, (unsigned long long)released,
			 error[0] ? "error:            " : "", error, error[0] ? "\n" : "");
#undef US
	free(st);
}

static int copy(char *dst, size_t len, const char *src, char *err, size_t errlen)
{
	if (strlen(src) >= len) {
		snprintf(err, errlen, "'%s' is too long", src);
		return -ENAMETOOLONG;
	}
	strcpy(dst, src);
	return 0;
}

/* A generation: a decimal number, 0 to 2^64-1. */
static int parse_generation(const char *opt, const char *v, uint64_t *out, char *err,
			    size_t errlen)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end || !*v || *v == '-' || *v == '+' || *v == ' ') {
		snprintf(err, errlen, "bad %s '%s': want a number", opt, v);
		return -EINVAL;
	}
	return 0;
}

static int protect_cmd(struct checkpoint *ck, size_t argc, char **argv, char *err,
		       size_t errlen)
{
	struct checkpoint_params p;

	memset(&p, 0, sizeof(p));
	if (argc < 2) {
		snprintf(err, errlen, "usage: protect tcp:HOST:PORT [--interval MS] "
			 "[--on-standby-loss degrade|pause] [--peer-generation P] "
			 "{TLS files | --tls-none}");
		return -EINVAL;
	}
	if (copy(p.mp.uri, sizeof(p.mp.uri), argv[1], err, errlen))
		return -EINVAL;
	for (size_t i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--tls-none")) {
			p.mp.tls_none = true;
			continue;
		}
		if (!v) {
			snprintf(err, errlen, "option %s needs a value, or is unknown", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--interval")) {
			unsigned long ms = strtoul(v, &end, 10);

			if (*end || !ms || ms > 60000) {
				snprintf(err, errlen, "bad --interval '%s': 1 to 60000 ms", v);
				return -EINVAL;
			}
			p.interval_ms = (uint32_t)ms;
		} else if (!strcmp(a, "--on-standby-loss")) {
			if (strcmp(v, "degrade") && strcmp(v, "pause")) {
				snprintf(err, errlen, "--on-standby-loss wants degrade or pause");
				return -EINVAL;
			}
			p.pause_on_loss = !strcmp(v, "pause");
		} else if (!strcmp(a, "--peer-generation")) {
			if (parse_generation(a, v, &p.peer_generation, err, errlen))
				return -EINVAL;
			p.check_peer_generation = true;
		} else if (!strcmp(a, "--tls-ca")) {
			if (copy(p.mp.tls_ca, sizeof(p.mp.tls_ca), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-cert")) {
			if (copy(p.mp.tls_cert, sizeof(p.mp.tls_cert), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-key")) {
			if (copy(p.mp.tls_key, sizeof(p.mp.tls_key), v, err, errlen))
				return -EINVAL;
		} else {
			snprintf(err, errlen, "unknown option %s", a);
			return -EINVAL;
		}
	}
	return checkpoint__protect(ck, &p, err, errlen);
}

/* activate [--generation N] [--json] */
static int activate_cmd(struct checkpoint *ck, size_t argc, char **argv, char *err,
			size_t errlen)
{
	bool set_gen = false;
	uint64_t gen = 0;

	for (size_t i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		if (strcmp(argv[i], "--generation") || i + 1 >= argc) {
			snprintf(err, errlen, "usage: activate [--generation N] [--json]");
			return -EINVAL;
		}
		if (parse_generation(argv[i], argv[i + 1], &gen, err, errlen))
			return -EINVAL;
		set_gen = true;
		i++;
	}
	return checkpoint__activate(ck, set_gen, gen, err, errlen);
}

/* A command without options but --json. */
static int no_options(size_t argc, char **argv, char *err, size_t errlen)
{
	for (size_t i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json")) {
			snprintf(err, errlen, "unexpected argument '%s'", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int checkpoint__control(struct checkpoint *ck, size_t argc, char **argv, char *text,
			size_t textlen, char *err, size_t errlen)
{
	int ret;

	if (!strcmp(argv[0], "protect"))
		ret = protect_cmd(ck, argc, argv, err, errlen);
	else if (!strcmp(argv[0], "activate"))
		ret = activate_cmd(ck, argc, argv, err, errlen);
	else if (!strcmp(argv[0], "unprotect"))
		ret = no_options(argc, argv, err, errlen) ?: checkpoint__unprotect(ck, err, errlen);
	else if (!strcmp(argv[0], "protect-status"))
		ret = no_options(argc, argv, err, errlen);
	else {
		snprintf(err, errlen, "unknown checkpoint command");
		return -EINVAL;
	}
	if (!ret)
		checkpoint__format_status(ck, argc > 1 && !strcmp(argv[argc - 1], "--json"), text,
					  textlen);
	return ret;
}
