/*
 * libFuzzer target: what a hasvcd does with a message from the group
 * (hasvc/cluster.proto), on arbitrary bytes.  The message is decoded; a
 * Config's text goes through the configuration parser (with its size
 * bound); a ConfigHeld through its checks; a State's replica
 * through fsm_codec__decode (which must leave only states that keep the
 * invariants, and whose encoding decodes to the same state); any other
 * message through msg_event__convert into the state machine of a formed
 * three-node cluster with two protected VMs, whose invariants must hold
 * afterwards.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster.pb-c.h"
#include "hasvc/cluster_config.h"
#include "hasvc/config_text.h"
#include "hasvc/fsm.h"
#include "hasvc/fsm_codec.h"
#include "hasvc/msg_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
	"[cluster]\nname = fuzz\nallow_plaintext = yes\n"
	"[node a]\nreplication = 10.0.0.1:7400\n"
	"[node b]\nreplication = 10.0.0.2:7400\nfence_command = true\n"
	"[node c]\nreplication = 10.0.0.3:7400\n"
	"[vm web1]\nmemory = 32M\nvcpus = 1\nkernel = /k\npreferred_nodes = a, b\n"
	"[vm web2]\nmemory = 32M\nvcpus = 1\nkernel = /k\n";

static void step(struct fsm *f, struct fsm_actions *acts, const struct fsm_event *ev)
{
	char why[256];

	fsm__actions_clear(acts);
	if (fsm__step(f, ev, acts) == 0 && fsm__check_invariants(f, why, sizeof(why)))
		abort(); /* an event broke a rule */
}

/* A formed cluster: configured, three members, all ready. */
static void form(struct fsm *f, struct fsm_actions *acts, const struct config *conf)
{
	static const char *const members[] = { "a", "b", "c" };
	struct fsm_event ev = { .type = FSM_EV_CONFIG };

	fsm__init(f);
	ev.config.config = conf;
	step(f, acts, &ev);
	memset(&ev, 0, sizeof(ev));
	ev.type = FSM_EV_MEMBERSHIP;
	ev.membership.nodes = members;
	ev.membership.n_nodes = 3;
	ev.membership.quorate = true;
	step(f, acts, &ev);
	for (int i = 0; i < 3; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.type = FSM_EV_INVENTORY_DONE;
		ev.inventory.node = members[i];
		step(f, acts, &ev);
	}
}

/*
 * A State's replica: what decodes keeps the invariants, and encodes to a
 * message that decodes to the same replica (one encoding per state: what
 * the state digest relies on), without the fields this version skipped.
 */
static void state(const Hasvc__Cluster__State *st)
{
	struct fsm *f, *again;
	Hasvc__Cluster__Replica *r = NULL;
	char why[256];

	if (!st->replica)
		return;
	f = malloc(sizeof(*f));
	again = malloc(sizeof(*again));
	if (!f || !again)
		goto out;
	if (fsm_codec__decode(st->replica, f, why, sizeof(why))) {
		if (!why[0])
			abort(); /* every refusal must say why */
		goto out;
	}
	if (fsm__check_invariants(f, why, sizeof(why)))
		abort();
	r = fsm_codec__encode(f);
	if (!r)
		goto out;
	if (fsm_codec__decode(r, again, why, sizeof(why)) || fsm_codec__unknown(r) ||
	    memcmp(f, again, sizeof(*f)))
		abort(); /* the encoding of a decoded state does not round-trip */
out:
	fsm_codec__free(r);
	free(again);
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *conf;
	static struct fsm *f;
	static struct fsm_actions acts;
	char err[CONFIG_ERR_MAX];
	Hasvc__Cluster__Msg *m;
	struct fsm_event ev;

	if (!conf) {
		if (cluster_config__parse_string(conf_text, "fuzz.conf", &conf, err, sizeof(err)))
			abort();
		f = fsm__new();
		fsm__actions_init(&acts);
	}
	m = hasvc__cluster__msg__unpack(NULL, size, data);
	if (!m)
		return 0;
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG) {
		struct config *c = NULL;

		if (config_text__parse(m->config->text, "msg.conf", &c, err, sizeof(err)) == 0)
			cluster_config__free(c);
		else if (!err[0])
			abort(); /* every refusal must say why */
	} else if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG_HELD) {
		err[0] = 0;
		if (config_text__check_held(m->config_held, err, sizeof(err)) && !err[0])
			abort(); /* every refusal must say why */
	} else if (m->body_case == HASVC__CLUSTER__MSG__BODY_STATE) {
		state(m->state);
	} else if (msg_event__convert(m, &ev, err, sizeof(err)) == 0) {
		form(f, &acts, conf);
		step(f, &acts, &ev);
	}
	hasvc__cluster__msg__free_unpacked(m, NULL);
	return 0;
}
