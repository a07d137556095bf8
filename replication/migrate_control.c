/* The control server's migrate* and dirty-rate commands (migrate_cli.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replication/migrate.h"
#include "replication/migrate_cli.h"

static int copy(char *dst, size_t len, const char *src, const char *what, char *err,
		size_t errlen)
{
	if (!src)
		src = "";
	if (strlen(src) >= len) {
		snprintf(err, errlen, "%s is too long", what);
		return -ENAMETOOLONG;
	}
	strcpy(dst, src);
	return 0;
}

static int start(struct migrate *m, const Vmm__Control__MigrateRequest *r, char *err,
		 size_t errlen)
{
	struct migrate_params p;

	memset(&p, 0, sizeof(p));
	if (copy(p.uri, sizeof(p.uri), r->uri, "the URI", err, errlen) ||
	    copy(p.tls_ca, sizeof(p.tls_ca), r->tls_ca, "the CA path", err, errlen) ||
	    copy(p.tls_cert, sizeof(p.tls_cert), r->tls_cert, "the certificate path", err, errlen) ||
	    copy(p.tls_key, sizeof(p.tls_key), r->tls_key, "the key path", err, errlen) ||
	    copy(p.tls_peer, sizeof(p.tls_peer), r->tls_peer, "the peer name", err, errlen) ||
	    copy(p.tls_crl, sizeof(p.tls_crl), r->tls_crl, "the CRL path", err, errlen))
		return -ENAMETOOLONG;
	p.tls_none = r->tls_none;
	p.downtime_ms = r->downtime_ms;
	p.bandwidth_mibs = r->bandwidth_mibs;
	p.parallel = r->parallel;
	p.compress = r->compress;
	p.timeout_s = r->timeout_s;
	p.max_rounds = r->max_rounds;
	p.force_on_timeout = r->on_timeout == VMM__CONTROL__MIGRATE_REQUEST__ON_TIMEOUT__FORCE;
	p.auto_converge = r->auto_converge;
	p.then_pause = r->then == VMM__CONTROL__MIGRATE_REQUEST__THEN__PAUSE;
	p.postcopy = r->postcopy;
	p.postcopy_after_s = r->postcopy_after_s;
	p.copy_disk = r->copy_disk;
	return migrate__start(m, &p, err, errlen);
}

static void fill(struct migrate *m, Vmm__Control__MigrationInfo *o)
{
	struct migrate_info i;

	migrate__get_info(m, &i);
	o->state = (char *)migrate__state_name(i.state);
	snprintf(o->error, 256, "%s", i.error);
	o->elapsed_ms = i.start_ns ? (i.end_ns - i.start_ns) / 1000000 : 0;
	o->bytes_total = i.bytes_total;
	o->bytes_sent = i.bytes_sent;
	o->bytes_remaining = i.bytes_remaining;
	o->pages_sent = i.pages_sent;
	o->zero_pages = i.zero_pages;
	o->pages_per_s = i.pages_per_s;
	o->dirty_pages_per_s = i.dirty_pages_per_s;
	o->bandwidth_bps = i.bandwidth_bps;
	o->round = i.round;
	o->expected_downtime_ms = i.expected_downtime_ms;
	o->downtime_ms = i.downtime_ms;
	o->downtime_limit_ms = i.downtime_limit_ms;
	o->throttle_pct = i.throttle_pct;
	o->postcopy = i.postcopy;
	o->pages_pulled = i.pages_pulled;
	o->pages_pushed = i.pages_pushed;
	o->faults = i.faults;
	o->fault_mean_us = i.fault_mean_us;
	o->fault_p99_us = i.fault_p99_us;
	o->fault_max_us = i.fault_max_us;
	o->residence_ms = i.residence_ms;
	o->disk_bytes_sent = i.disk_bytes_sent;
}

int migrate__control(struct migrate *m, const Vmm__Control__Request *req,
		     Vmm__Control__MigrationInfo *info, Vmm__Control__DirtyRate *dr,
		     char *err, size_t errlen)
{
	struct dirtyrate_info d;
	int ret = 0;

	switch (req->command_case) {
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE:
		ret = start(m, req->migrate, err, errlen);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_CANCEL:
		ret = migrate__cancel(m);
		if (ret)
			snprintf(err, errlen, ret == -EBUSY ? "the migration is in post-copy: the "
				 "destination runs the guest, which cannot come back" :
				 "no migration is running");
		break;
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_POSTCOPY:
		ret = migrate__postcopy(m);
		if (ret)
			snprintf(err, errlen, ret == -ENOENT ? "no migration is running" :
				 "this migration was not started with --postcopy");
		break;
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_RESUME:
		ret = migrate__resume(m, req->migrate_resume->uri, err, errlen);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_SET_DOWNTIME:
		if (!req->migrate_set_downtime->downtime_ms) {
			snprintf(err, errlen, "the downtime limit must be at least 1 ms");
			return -EINVAL;
		}
		migrate__set_downtime(m, req->migrate_set_downtime->downtime_ms);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE:
		if (req->dirty_rate->start)
			ret = migrate__dirtyrate_start(m, req->dirty_rate->seconds, err, errlen);
		migrate__dirtyrate_get(m, &d);
		dr->measuring = d.measuring;
		dr->done = d.done;
		dr->seconds = d.seconds;
		dr->pages = d.pages;
		dr->pages_per_s = d.pages_per_s;
		snprintf(info->error, 256, "%s", d.error);
		dr->error = info->error;
		return ret;
	default:
		break;
	}
	fill(m, info);
	return ret;
}
