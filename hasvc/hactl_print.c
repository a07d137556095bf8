/*
 * `hactl status` as text: a header line, the nodes table, the VMs table
 * (docs/hactl.md has an example).  Columns are as wide as their widest cell
 * so that the tables stay readable for names of any length.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/hactl.h"

#define TABLE_MAX_COLS 11
#define TABLE_CELL 176  /* a name "a->b" of two 63-byte names fits */

struct row {
	char cell[TABLE_MAX_COLS][TABLE_CELL];
};

struct table {
	size_t ncols, nrows;
	struct row *rows;  /* rows[0] is the header */
};

static int table_init(struct table *t, size_t nrows, const char *const *head, size_t ncols)
{
	size_t c;

	t->ncols = ncols;
	t->nrows = 1;
	t->rows = calloc(nrows + 1, sizeof(*t->rows));
	if (!t->rows)
		return -1;
	for (c = 0; c < ncols; c++)
		snprintf(t->rows[0].cell[c], TABLE_CELL, "%s", head[c]);
	return 0;
}

static void __attribute__((format(printf, 3, 4)))
cell(struct table *t, size_t c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->rows[t->nrows].cell[c], TABLE_CELL, fmt, ap);
	va_end(ap);
}

/* A string cell; "" shows as "-" so that every column has a word. */
static void word(struct table *t, size_t c, const char *s)
{
	cell(t, c, "%s", s && s[0] ? s : "-");
}

static void table_print(FILE *out, struct table *t)
{
	size_t width[TABLE_MAX_COLS] = { 0 }, r, c, n;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			n = strlen(t->rows[r].cell[c]);
			if (n > width[c])
				width[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c + 1 < t->ncols; c++)
			fprintf(out, "%-*s  ", (int)width[c], t->rows[r].cell[c]);
		fprintf(out, "%s\n", t->rows[r].cell[c]);
	}
	free(t->rows);
	t->rows = NULL;
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

void hactl__format_age(char *buf, size_t len, int64_t ms)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%" PRId64 "ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", ms / 1000.0);
	else if (ms < 3600000)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}

const Hasvc__Ctl__Vm *hactl__find_vm(const Hasvc__Ctl__Status *st, const char *name)
{
	size_t i;

	for (i = 0; st && i < st->n_vms; i++)
		if (!strcmp(st->vms[i]->name, name))
			return st->vms[i];
	return NULL;
}

static void print_header(FILE *out, const Hasvc__Ctl__Status *st)
{
	fprintf(out, "cluster %s, local node %s, ", st->cluster[0] ? st->cluster : "-",
		st->local_node[0] ? st->local_node : "-");
	if (st->quorate == st->fsm_quorate)
		fprintf(out, "%s", st->quorate ? "quorate" : "NOT QUORATE");
	else
		/* The daemon has not fed the quorum change to the machine yet. */
		fprintf(out, "votequorum %s, cluster view %s", st->quorate ? "quorate" : "NOT quorate",
			st->fsm_quorate ? "quorate" : "NOT quorate");
	if (st->quorum_device)
		fprintf(out, " (half the nodes and the quorum device)");
	if (st->config_digest[0])
		fprintf(out, ", configuration %.12s\n", st->config_digest);
	else
		fprintf(out, ", no configuration\n");
}

/* "32M/80M(declared)": used, capacity and where it comes from; "32M/-": not counted. */
static void capacity_cell(struct table *t, size_t col, uint32_t used, uint32_t capacity,
			  const char *unit, const char *source)
{
	if (capacity)
		cell(t, col, "%u%s/%u%s(%s)", used, unit, capacity, unit, source);
	else
		cell(t, col, "%u%s/-", used, unit);
}

static void print_nodes(FILE *out, const Hasvc__Ctl__Status *st)
{
	static const char *const head[] = {
		"NODE", "MEMBER", "READY", "PRIMARIES", "STANDBYS", "FENCE", "EVACUATING",
		"MEMORY", "CPUS", "CONFIG",
	};
	struct table t;
	size_t i;

	if (table_init(&t, st->n_nodes, head, 10) < 0)
		return;
	for (i = 0; i < st->n_nodes; i++, t.nrows++) {
		const Hasvc__Ctl__Node *n = st->nodes[i];

		cell(&t, 0, "%s%s", n->name, n->local ? " (local)" : "");
		word(&t, 1, n->restarting && !n->member ? "restarting" : yes(n->member));
		word(&t, 2, yes(n->ready));
		cell(&t, 3, "%u", n->primaries);
		cell(&t, 4, "%u", n->standbys);
		word(&t, 5, n->fence);
		word(&t, 6, n->maintenance ? "maintenance" : yes(n->evacuating));
		capacity_cell(&t, 7, n->used_mem_mib, n->mem_mib, "M", n->mem_source);
		capacity_cell(&t, 8, n->used_cpus, n->cpus, "", n->cpus_source);
		/* The text its hasvcd runs, as it last said (ConfigHeld). */
		cell(&t, 9, "%.12s", n->config_running[0] ? n->config_running : "-");
	}
	table_print(out, &t);
}

/* What an operator should know about a node that the table does not say. */
static void print_node_notes(FILE *out, const Hasvc__Ctl__Status *st)
{
	size_t i;

	for (i = 0; i < st->n_nodes; i++) {
		const Hasvc__Ctl__Node *n = st->nodes[i];

		if (n->member && !n->declared)
			fprintf(out, "note: %s is a member but not in the configuration: it takes no VMs\n",
				n->name);
		if (n->restarting && !n->member)
			fprintf(out, "note: %s restarts its hasvcd: its VMs stay frozen for up to "
				"%" PRId64 " s more\n", n->name, (n->restart_left_ms + 999) / 1000);
		if (n->config_running[0] && st->config_digest[0] &&
		    strcmp(n->config_running, st->config_digest))
			fprintf(out, "note: %s runs another configuration (%.12s)\n", n->name,
				n->config_running);
		else if (n->config_digest[0] && st->config_digest[0] &&
			 strcmp(n->config_digest, st->config_digest))
			fprintf(out, "note: %s's configuration file holds another text (%.12s)\n",
				n->name, n->config_digest);
	}
}

static void vm_row(struct table *t, const Hasvc__Ctl__Vm *v)
{
	char age[32];

	word(t, 0, v->name);
	if (v->migrating_to[0])
		cell(t, 1, "%s->%s", v->primary[0] ? v->primary : "-", v->migrating_to);
	else
		word(t, 1, v->primary);
	word(t, 2, v->standby);
	word(t, 3, v->state);
	word(t, 4, v->requested);
	cell(t, 5, "%" PRIu64, v->generation);
	cell(t, 6, "%" PRIu64, v->epoch);
	hactl__format_age(age, sizeof(age), v->checkpoint_age_ms);
	word(t, 7, age);
	if (v->epochs_per_s > 0)
		cell(t, 8, "%.1f", v->epochs_per_s);
	else
		word(t, 8, "");
	cell(t, 9, "%d", v->priority);
	if (v->frozen_by[0])
		cell(t, 10, "frozen: %s restarts", v->frozen_by);
	else
		word(t, 10, v->waiting);
}

static void print_vms(FILE *out, const Hasvc__Ctl__Status *st)
{
	static const char *const head[] = {
		"VM", "PRIMARY", "STANDBY", "STATE", "REQUESTED", "GEN", "EPOCH", "CKPT AGE",
		"EPOCHS/S", "PRIO", "WAITING",
	};
	struct table t;
	size_t i;

	if (!st->n_vms) {
		fprintf(out, "no VMs configured\n");
		return;
	}
	if (table_init(&t, st->n_vms, head, 11) < 0)
		return;
	for (i = 0; i < st->n_vms; i++, t.nrows++)
		vm_row(&t, st->vms[i]);
	table_print(out, &t);
}

void hactl__print_status(FILE *out, const Hasvc__Ctl__Status *st)
{
	print_header(out, st);
	fputc('\n', out);
	print_nodes(out, st);
	print_node_notes(out, st);
	fputc('\n', out);
	print_vms(out, st);
}
