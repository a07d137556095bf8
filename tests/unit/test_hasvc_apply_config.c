/*
 * A hactl configuration text as it is delivered (hasvc/apply.c and
 * hasvc/config_dist.c, without corosync): the sender checked it against its
 * replica when it multicast it, but the replica may have changed before the
 * text came back in the group's order (quorum lost in between, a VM started
 * by an earlier message).  Every member then checks it again, alike, and
 * refuses it, naming why in its ConfigHeld.  The modules the two call are
 * stubs that record what they were given.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hasvc/config_text.h"
#include "hasvc/daemon.h"
#include "hasvc/history.h"
#include "hasvc/ipc.h"
#include "hasvc/metrics.h"
#include "hasvc/notify.h"
#include "hasvc/persist.h"

/* ---- what the stubs saw ---- */

static struct {
	char held_error[CONFIG_ERR_MAX];
	unsigned held;
} seen;

int cluster__send(struct hasvcd *d, Hasvc__Cluster__Msg *m)
{
	(void)d;
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG_HELD) {
		seen.held++;
		snprintf(seen.held_error, sizeof(seen.held_error), "%s", m->config_held->error);
	}
	return 0;
}

int hasvcd__set_config(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen)
{
	struct config *conf;
	int ret = config_text__parse(text, path, &conf, err, errlen);

	if (ret)
		return ret;
	cluster_config__free(d->conf);
	free(d->conf_text);
	d->conf = conf;
	d->conf_text = strdup(text);
	ck_assert_ptr_nonnull(d->conf_text);
	hasvcd__digest(text, strlen(text), d->conf_digest);
	return 0;
}

/* Not SHA-256: only equal texts must give equal digests here. */
void hasvcd__digest(const void *data, size_t len, uint8_t out[HASVC_DIGEST_LEN])
{
	memset(out, 0, HASVC_DIGEST_LEN);
	for (size_t i = 0; i < len; i++)
		out[i % HASVC_DIGEST_LEN] = (uint8_t)(out[i % HASVC_DIGEST_LEN] * 31 +
						      ((const uint8_t *)data)[i]);
}

void hasvcd__hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	out[0] = 0;
	for (size_t i = 0; i < n && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, outlen - 2 * i, "%02x", b[i]);
}

char *hasvcd__read_file(const char *path)
{
	(void)path;
	return NULL;
}

uint64_t hasvcd__now_ms(void) { return 0; }
void serve__done(struct hasvcd *d, uint64_t request, bool ok, const char *text)
{
	(void)d; (void)request; (void)ok; (void)text;
}
void hasvc_ipc__reply(struct hasvc_ipc_req *req, const Hasvc__Ctl__Response *resp)
{
	(void)req; (void)resp;
}
void hasvc_ipc__fail(struct hasvc_ipc_req *req, int code, const char *fmt, ...)
{
	(void)req; (void)code; (void)fmt;
}
void fence__run(struct hasvcd *d, const char *node) { (void)d; (void)node; }
void fence__view(struct hasvcd *d) { (void)d; }
void grace__check(struct hasvcd *d) { (void)d; }
void grace__delivered(struct hasvcd *d, const char *sender) { (void)d; (void)sender; }
void history__before_step(struct hasvcd *d) { (void)d; }
void history__after_step(struct hasvcd *d) { (void)d; }
void local__act(struct hasvcd *d, const struct fsm_action *a) { (void)d; (void)a; }
void local__inventory(struct hasvcd *d) { (void)d; }
void local__self_fence(struct hasvcd *d) { (void)d; }
void metrics__pre_step(struct hasvcd *d) { (void)d; }
void metrics__step(struct hasvcd *d, const struct fsm_event *ev, const struct fsm_actions *acts)
{
	(void)d; (void)ev; (void)acts;
}
void notify__ready(struct hasvcd *d) { (void)d; }
void persist__changed(struct hasvcd *d) { (void)d; }
void notify__changed(struct hasvcd *d) { (void)d; }

/* ---- the daemon ---- */

#define NODES "[cluster]\nallow_plaintext = yes\n" \
	"[node a]\nreplication = 10.0.0.1:7400\nmemory = 1G\n" \
	"[node b]\nreplication = 10.0.0.2:7400\nmemory = 1G\n" \
	"[node c]\nreplication = 10.0.0.3:7400\nmemory = 1G\n"
#define CONF1 NODES "[vm web1]\nmemory = 64M\nkernel = /k\nprotected = no\n"
#define CONF2 NODES "[vm web1]\nmemory = 128M\nkernel = /k\nprotected = no\n"

static struct hasvcd d;
static char path[] = "/tmp/test_hasvc_apply_config.XXXXXX";

static void setup(void)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	memset(&seen, 0, sizeof(seen));
	memset(&d, 0, sizeof(d));
	snprintf(d.node, sizeof(d.node), "a");
	d.config_path = path;
	d.loop = qb_loop_create();
	ck_assert_ptr_nonnull(d.loop);
	d.fsm = fsm__new();
	ck_assert_ptr_nonnull(d.fsm);
	fsm__actions_init(&d.acts);
	ck_assert_int_eq(config_dist__new(&d), 0);
}

static void teardown(void)
{
	config_dist__free(&d);
	fsm__actions_free(&d.acts);
	fsm__free(d.fsm);
	cluster_config__free(d.conf);
	free(d.conf_text);
	qb_loop_destroy(d.loop);
	unlink(path);
	snprintf(path, sizeof(path), "/tmp/test_hasvc_apply_config.XXXXXX");
}

static void config_from(const char *from, const char *text, uint64_t request)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Config c = HASVC__CLUSTER__CONFIG__INIT;

	c.text = (char *)text;
	c.path = (char *)"hasvc.conf";
	c.request = request;
	m.sender = (char *)from;
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG;
	m.config = &c;
	apply__message(&d, &m);
}

static void view(size_t n, const char *const *names)
{
	apply__membership(&d, names, n);
}

static uint64_t web1_memory(void)
{
	return cluster_config__vm(d.conf, "web1")->memory >> 20;
}

/* The cluster runs CONF1 (the bootstrap's Config). */
static void bootstrapped(void)
{
	config_from("a", CONF1, 0);
	ck_assert(d.fsm->configured);
	ck_assert_uint_eq(web1_memory(), 64);
}

/* Quorum was lost between the sender's check and the delivery. */
START_TEST(test_refused_without_quorum)
{
	static const char *const alone[] = { "a" };

	bootstrapped();
	view(1, alone);
	ck_assert(!d.fsm->quorate);
	seen.held = 0;
	config_from("a", CONF2, 7);
	ck_assert_uint_eq(web1_memory(), 64);
	ck_assert_uint_eq(seen.held, 1);
	ck_assert_msg(strstr(seen.held_error, "quorate"), "ConfigHeld.error: '%s'",
		      seen.held_error);
}
END_TEST

/* web1 was placed (an earlier message) before the text came back. */
START_TEST(test_refused_shape_of_a_running_vm)
{
	static const char *const two[] = { "a", "b" };
	int v;

	bootstrapped();
	view(2, two);
	ck_assert(d.fsm->quorate);
	v = fsm__vm_index(d.fsm, "web1");
	ck_assert_int_ge(v, 0);
	d.fsm->vms[v].primary = 0;   /* as a placement leaves it */
	seen.held = 0;
	config_from("a", CONF2, 7);
	ck_assert_uint_eq(web1_memory(), 64);
	ck_assert_uint_eq(seen.held, 1);
	ck_assert_msg(strstr(seen.held_error, "cannot change while it runs"),
		      "ConfigHeld.error: '%s'", seen.held_error);
}
END_TEST

/* The same text while web1 does not run, quorate: taken, and written. */
START_TEST(test_taken_when_it_still_fits)
{
	static const char *const two[] = { "a", "b" };
	char *text;

	bootstrapped();
	view(2, two);
	seen.held = 0;
	config_from("a", CONF2, 7);
	ck_assert_uint_eq(web1_memory(), 128);
	ck_assert_uint_eq(seen.held, 1);
	ck_assert_str_eq(seen.held_error, "");
	text = NULL;
	{
		FILE *f = fopen(path, "r");
		size_t len = 0;

		ck_assert_ptr_nonnull(f);
		ck_assert_int_ne(getdelim(&text, &len, 0, f), -1);
		fclose(f);
	}
	ck_assert_str_eq(text, CONF2);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_apply_config");
	TCase *tc = tcase_create("apply_config");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_refused_without_quorum);
	tcase_add_test(tc, test_refused_shape_of_a_running_vm);
	tcase_add_test(tc, test_taken_when_it_still_fits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
