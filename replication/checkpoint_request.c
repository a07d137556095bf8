/*
 * The checks of the typed checkpointing requests (checkpoint.h): pure, so
 * that a unit test and a replay of bad messages run them without KVM.  The
 * request comes from another process: every refusal names the field.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replication/checkpoint.h"

#define INTERVAL_MAX_MS 60000

static int copy(char *dst, size_t len, const char *src, const char *field, char *err,
		size_t errlen)
{
	if (!src)
		src = "";
	if (strlen(src) >= len) {
		snprintf(err, errlen, "%s is too long (%zu bytes, at most %zu)", field,
			 strlen(src), len - 1);
		return -ENAMETOOLONG;
	}
	strcpy(dst, src);
	return 0;
}

static int copy_strings(const Vmm__Control__ProtectRequest *r, struct migrate_params *mp,
			char *err, size_t errlen)
{
	return copy(mp->uri, sizeof(mp->uri), r->uri, "uri", err, errlen) ?:
	       copy(mp->tls_ca, sizeof(mp->tls_ca), r->tls_ca, "tls_ca", err, errlen) ?:
	       copy(mp->tls_cert, sizeof(mp->tls_cert), r->tls_cert, "tls_cert", err, errlen) ?:
	       copy(mp->tls_key, sizeof(mp->tls_key), r->tls_key, "tls_key", err, errlen) ?:
	       copy(mp->tls_peer, sizeof(mp->tls_peer), r->tls_peer, "tls_peer", err, errlen) ?:
	       copy(mp->tls_crl, sizeof(mp->tls_crl), r->tls_crl, "tls_crl", err, errlen);
}

static int check_output_epochs(const Vmm__Control__ProtectRequest *r, char *err,
			       size_t errlen)
{
	uint32_t interval = r->interval_ms ? r->interval_ms : CHECKPOINT_DEFAULT_INTERVAL_MS;

	if (r->min_interval_ms > interval) {
		snprintf(err, errlen, "min_interval_ms %u is out of range: 1 to the interval, "
			 "%u ms (0: %u)", r->min_interval_ms, interval,
			 CHECKPOINT_DEFAULT_MIN_INTERVAL_MS);
		return -EINVAL;
	}
	if (r->min_interval_us && r->min_interval_ms) {
		snprintf(err, errlen, "min_interval_ms and min_interval_us are both given: one of "
			 "them");
		return -EINVAL;
	}
	if (r->min_interval_us && (r->min_interval_us < CHECKPOINT_MIN_INTERVAL_MIN_US ||
				   r->min_interval_us > (uint64_t)interval * 1000)) {
		snprintf(err, errlen, "min_interval_us %u is out of range: %u to the interval, "
			 "%llu us", r->min_interval_us, CHECKPOINT_MIN_INTERVAL_MIN_US,
			 (unsigned long long)interval * 1000);
		return -EINVAL;
	}
	if (r->disk_log_mib > CHECKPOINT_DISK_LOG_MIB_MAX) {
		snprintf(err, errlen, "disk_log_mib %u is out of range: 1 to %u MiB (0: %u)",
			 r->disk_log_mib, CHECKPOINT_DISK_LOG_MIB_MAX,
			 CHECKPOINT_DEFAULT_DISK_LOG_MIB);
		return -EINVAL;
	}
	if (r->ack_timeout_ms && (r->ack_timeout_ms < CHECKPOINT_ACK_TIMEOUT_MIN_MS ||
				  r->ack_timeout_ms > CHECKPOINT_ACK_TIMEOUT_MAX_MS)) {
		snprintf(err, errlen, "ack_timeout_ms %u is out of range: %u to %u ms (0: %u)",
			 r->ack_timeout_ms, CHECKPOINT_ACK_TIMEOUT_MIN_MS,
			 CHECKPOINT_ACK_TIMEOUT_MAX_MS, MIGRATE_DEFAULT_TIMEOUT_MS);
		return -EINVAL;
	}
	if (r->max_rate > CHECKPOINT_MAX_RATE_MAX) {
		snprintf(err, errlen, "max_rate %u is out of range: 1 to %u epochs/s (0: %u)",
			 r->max_rate, CHECKPOINT_MAX_RATE_MAX, CHECKPOINT_DEFAULT_MAX_RATE);
		return -EINVAL;
	}
	return 0;
}

int checkpoint_request__protect(const Vmm__Control__ProtectRequest *r,
				struct checkpoint_params *p, char *err, size_t errlen)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = copy_strings(r, &p->mp, err, errlen);
	if (ret)
		return ret;
	if (!p->mp.uri[0]) {
		snprintf(err, errlen, "uri is empty: want the standby's tcp:HOST:PORT");
		return -EINVAL;
	}
	if (r->interval_ms > INTERVAL_MAX_MS) {
		snprintf(err, errlen, "interval_ms %u is out of range: 1 to %u ms (0: %u)",
			 r->interval_ms, INTERVAL_MAX_MS, CHECKPOINT_DEFAULT_INTERVAL_MS);
		return -EINVAL;
	}
	/* protobuf-c keeps an enum value it does not know: refuse it here. */
	if (r->on_standby_loss != VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__DEGRADE &&
	    r->on_standby_loss != VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__PAUSE) {
		snprintf(err, errlen, "on_standby_loss %d is neither DEGRADE (0) nor PAUSE (1)",
			 (int)r->on_standby_loss);
		return -EINVAL;
	}
	if (!r->check_peer_generation && r->peer_generation) {
		snprintf(err, errlen, "peer_generation %llu is given without check_peer_generation",
			 (unsigned long long)r->peer_generation);
		return -EINVAL;
	}
	ret = check_output_epochs(r, err, errlen);
	if (ret)
		return ret;
	p->mp.tls_none = r->tls_none;
	p->interval_ms = r->interval_ms;
	p->no_output_epochs = r->no_output_epochs;
	p->min_interval_us = r->min_interval_us ? r->min_interval_us : r->min_interval_ms * 1000;
	p->max_rate = r->max_rate;
	p->disk_log_mib = r->disk_log_mib;
	p->mp.ack_timeout_ms = r->ack_timeout_ms;
	p->pause_on_loss = r->on_standby_loss ==
			   VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__PAUSE;
	p->check_peer_generation = r->check_peer_generation;
	p->peer_generation = r->peer_generation;
	p->verify_disk = r->verify_disk;
	return 0;
}

int checkpoint_request__activate(const Vmm__Control__ActivateRequest *r, bool *set_gen,
				 uint64_t *gen, char *err, size_t errlen)
{
	if (!r->set_generation && r->generation) {
		snprintf(err, errlen, "generation %llu is given without set_generation",
			 (unsigned long long)r->generation);
		return -EINVAL;
	}
	*set_gen = r->set_generation;
	*gen = r->generation;
	return 0;
}
