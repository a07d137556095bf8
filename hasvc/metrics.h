/*
 * GET /metrics: the daemon's figures in the Prometheus text exposition
 * format (docs/operations.md, "Monitoring"), served by libmicrohttpd on
 * [cluster] metrics_address:metrics_port.
 *
 * metrics.c owns the server, the counters and the cluster's figures;
 * local_metrics.c adds the figures of this node's primaries from their vmm.
 */
#ifndef HASVC_METRICS_H
#define HASVC_METRICS_H

#include <stdio.h>

#include "hasvc/daemon.h"

/* How often the main loop renders the text a scrape is answered with. */
#define METRICS_RENDER_MS 500

/* The text being rendered. */
struct metrics_out {
	FILE *f;
};

/* Start the server when the configuration asks for it; 0 or -errno (logged). */
int metrics__start(struct hasvcd *d);
void metrics__stop(struct hasvcd *d);
/* Before and after fsm__step() of ev: count failovers, evacuations, fencing. */
void metrics__pre_step(struct hasvcd *d);
void metrics__step(struct hasvcd *d, const struct fsm_event *ev, const struct fsm_actions *acts);
/* A live migration of vm from this node completed with this downtime. */
void metrics__migrated(struct hasvcd *d, const char *vm, uint64_t downtime_ms);

/* For the renderers: HELP and TYPE of a family, then its samples. */
void metrics__family(struct metrics_out *o, const char *name, const char *type,
		     const char *help);
/*
 * One sample: name{k1="v1",...} value.  The labels are pairs of strings
 * ended by NULL; their values are escaped as the format requires.
 */
void metrics__sample(struct metrics_out *o, const char *name, double value, ...);

#endif
