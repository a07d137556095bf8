/*
 * The figures of this node's primaries for GET /metrics (metrics.h), from
 * the protect-status the poll last read from each vmm (c->view).  Only the
 * node that runs a VM's primary reports them, so a cluster-wide query sees
 * each VM once.
 */
#include "config.h"

#include <string.h>

#include "hasvc/local.h"
#include "hasvc/metrics.h"

/* A gauge or counter read from a view. */
struct figure {
	const char *name, *type, *help;
	double (*get)(const struct vmm_view *v);
};

static double epochs(const struct vmm_view *v) { return (double)v->epochs; }
static double eps(const struct vmm_view *v) { return v->eps; }
static double age(const struct vmm_view *v) { return (double)v->age_ms / 1e3; }
static double bytes_last(const struct vmm_view *v) { return (double)v->bytes_last; }
static double bytes_mean(const struct vmm_view *v) { return v->bytes_per_epoch; }
static double ack_max(const struct vmm_view *v) { return v->ack_us_max / 1e6; }
static double held_bytes(const struct vmm_view *v) { return (double)v->held_bytes; }
static double held_frames(const struct vmm_view *v) { return (double)v->held_frames; }
static double disk_mean(const struct vmm_view *v) { return v->disk_bytes_per_epoch; }

static const struct figure figures[] = {
	{ "hasvc_vm_checkpoint_epochs_total", "counter",
	  "Checkpoints the standby acknowledged since this primary's vmm started.", epochs },
	{ "hasvc_vm_checkpoint_epochs_per_second", "gauge",
	  "Checkpoints committed over the last second.", eps },
	{ "hasvc_vm_checkpoint_last_commit_age_seconds", "gauge",
	  "Time since the last committed checkpoint.", age },
	{ "hasvc_vm_checkpoint_last_size_bytes", "gauge",
	  "Bytes of the last checkpoint on the wire.", bytes_last },
	{ "hasvc_vm_checkpoint_mean_size_bytes", "gauge",
	  "Mean bytes of a checkpoint on the wire.", bytes_mean },
	{ "hasvc_vm_checkpoint_ack_max_seconds", "gauge",
	  "The longest wait for a standby's acknowledgement.", ack_max },
	{ "hasvc_vm_output_held_bytes", "gauge",
	  "Serial output bytes held until their checkpoint commits.", held_bytes },
	{ "hasvc_vm_output_held_frames", "gauge",
	  "Network frames held until their checkpoint commits.", held_frames },
	{ "hasvc_vm_checkpoint_disk_mean_bytes", "gauge",
	  "Mean bytes of disk writes a checkpoint carries.", disk_mean },
};

/* A copy whose vmm runs this VM's checkpointing as primary. */
static bool reports(const struct copy *c)
{
	return c->used && c->role == FSM_ROLE_PRIMARY && c->view.up && c->view.ck_primary &&
	       strcmp(c->view.ck_state, "none");
}

static void render_figure(struct local *l, const struct figure *fig, struct metrics_out *o)
{
	metrics__family(o, fig->name, fig->type, fig->help);
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++) {
		const struct copy *c = &l->c[i];

		/* No commit yet: no age to tell. */
		if (!reports(c) || (fig->get == age && c->view.age_ms < 0))
			continue;
		metrics__sample(o, fig->name, fig->get(&c->view), "vm", c->vm, NULL);
	}
}

/*
 * Pauses and acknowledgement waits as summaries: _count is the epochs and
 * _sum their mean times the count (the vmm keeps the exact sum).
 */
static void render_summaries(struct local *l, struct metrics_out *o)
{
	static const char pause[] = "hasvc_vm_checkpoint_pause_seconds";
	static const char ack[] = "hasvc_vm_checkpoint_ack_seconds";

	metrics__family(o, pause, "summary",
			"How long the guest was paused to capture a checkpoint (quantiles "
			"over the last 4096 epochs).");
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++) {
		const struct vmm_view *v = &l->c[i].view;

		if (!reports(&l->c[i]))
			continue;
		metrics__sample(o, pause, v->pause_us_p50 / 1e6, "vm", l->c[i].vm, "quantile",
				"0.5", NULL);
		metrics__sample(o, pause, v->pause_us_p99 / 1e6, "vm", l->c[i].vm, "quantile",
				"0.99", NULL);
		metrics__sample(o, "hasvc_vm_checkpoint_pause_seconds_sum",
				v->pause_us_mean * (double)v->epochs / 1e6, "vm", l->c[i].vm, NULL);
		metrics__sample(o, "hasvc_vm_checkpoint_pause_seconds_count", (double)v->epochs,
				"vm", l->c[i].vm, NULL);
	}
	metrics__family(o, ack, "summary",
			"From the start of sending a checkpoint to the standby's acknowledgement.");
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++) {
		const struct vmm_view *v = &l->c[i].view;

		if (!reports(&l->c[i]))
			continue;
		metrics__sample(o, "hasvc_vm_checkpoint_ack_seconds_sum",
				v->ack_us_mean * (double)v->epochs / 1e6, "vm", l->c[i].vm, NULL);
		metrics__sample(o, "hasvc_vm_checkpoint_ack_seconds_count", (double)v->epochs,
				"vm", l->c[i].vm, NULL);
	}
}

void local_metrics__render(struct hasvcd *d, struct metrics_out *o)
{
	struct local *l = d->loc;

	if (!l)
		return;
	for (size_t f = 0; f < sizeof(figures) / sizeof(figures[0]); f++)
		render_figure(l, &figures[f], o);
	render_summaries(l, o);
}
