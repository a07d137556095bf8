/*
 * The typed checkpointing requests without a vmm (no KVM, no server): what
 * `vmm ctl` builds from its words, the same request after the wire, the
 * server's checks of each field (checkpoint_request.c), and the text and
 * JSON `vmm ctl` prints from the typed replies.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "replication/checkpoint.h"
#include "replication/checkpoint_cli.h"
#include "tests/unit/json_parse.h"
#include "vmm/ctl.h"

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))
#define BUILD(r, json, err, ...) \
	checkpoint_cli__build(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), r, json, err, sizeof(err))

/* The request as the server gets it: packed, then unpacked from the bytes. */
static Vmm__Control__Request *wire(const struct ctl_req *r)
{
	size_t len = vmm__control__request__get_packed_size(&r->req);
	uint8_t *buf = malloc(len ? len : 1);
	Vmm__Control__Request *out;

	ck_assert_ptr_nonnull(buf);
	vmm__control__request__pack(&r->req, buf);
	out = vmm__control__request__unpack(NULL, len, buf);
	free(buf);
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(test_names)
{
	static const char *const names[] = {
		"status", "pause", "resume", "quit", "shutdown", "save", "migrate",
		"migrate-status", "migrate-cancel", "migrate-set-downtime", "migrate-postcopy",
		"migrate-resume", "dirty-rate", "protect", "unprotect", "protect-status",
		"activate", "net-status",
	};
	struct ctl_req r;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		Vmm__Control__Request__CommandCase c = ctl__command_by_name(names[i]);
		Vmm__Control__Request *back;

		ck_assert_msg(c != VMM__CONTROL__REQUEST__COMMAND__NOT_SET, "%s", names[i]);
		ck_assert_str_eq(ctl__command_name(c), names[i]);
		ck_assert_int_eq(ctl__req_init(&r, c), 0);
		back = wire(&r);
		ck_assert_int_eq(back->command_case, c);
		vmm__control__request__free_unpacked(back, NULL);
	}
	ck_assert_int_eq(ctl__command_by_name("checkpoint"), VMM__CONTROL__REQUEST__COMMAND__NOT_SET);
	ck_assert_int_eq(ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND__NOT_SET), -EINVAL);
	ck_assert_str_eq(ctl__command_name(VMM__CONTROL__REQUEST__COMMAND__NOT_SET), "unknown");
}
END_TEST

/* Every option of protect reaches the engine's parameters through the wire. */
START_TEST(test_protect_words)
{
	struct checkpoint_params p;
	Vmm__Control__Request *got;
	struct ctl_req r;
	char err[256];
	bool json = true;

	ck_assert_msg(BUILD(&r, &json, err, "protect", "tcp:10.0.0.2:7000", "--interval", "40",
			    "--on-standby-loss", "pause", "--peer-generation", "18446744073709551615",
			    "--verify-disk", "--tls-ca", "/ca.pem", "--tls-cert", "/c.pem",
			    "--tls-key", "/k.pem", "--tls-peer", "node2", "--tls-crl", "/crl.pem",
			    "--min-interval", "3", "--max-rate", "200", "--output-epochs", "off",
			    "--disk-log", "64", "--ack-timeout", "30000") == 0,
		      "%s", err);
	ck_assert(!json);
	got = wire(&r);
	ck_assert_int_eq(got->command_case, VMM__CONTROL__REQUEST__COMMAND_PROTECT);
	ck_assert_msg(checkpoint_request__protect(got->protect, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(p.mp.uri, "tcp:10.0.0.2:7000");
	ck_assert_uint_eq(p.interval_ms, 40);
	ck_assert(p.pause_on_loss);
	ck_assert(p.check_peer_generation);
	ck_assert_uint_eq(p.peer_generation, UINT64_MAX);
	ck_assert(p.verify_disk);
	ck_assert_str_eq(p.mp.tls_ca, "/ca.pem");
	ck_assert_str_eq(p.mp.tls_cert, "/c.pem");
	ck_assert_str_eq(p.mp.tls_key, "/k.pem");
	ck_assert_str_eq(p.mp.tls_peer, "node2");
	ck_assert_str_eq(p.mp.tls_crl, "/crl.pem");
	ck_assert(!p.mp.tls_none);
	ck_assert(p.no_output_epochs);
	ck_assert_uint_eq(p.min_interval_us, 3000);
	ck_assert_uint_eq(p.max_rate, 200);
	ck_assert_uint_eq(p.disk_log_mib, 64);
	ck_assert_uint_eq(p.mp.ack_timeout_ms, 30000);
	vmm__control__request__free_unpacked(got, NULL);

	/* The defaults: a generation 0 is still checked when given. */
	ck_assert_int_eq(BUILD(&r, &json, err, "protect", "tcp:h:1", "--tls-none",
			       "--peer-generation", "0", "--on-standby-loss", "degrade"), 0);
	got = wire(&r);
	ck_assert_int_eq(checkpoint_request__protect(got->protect, &p, err, sizeof(err)), 0);
	ck_assert(p.mp.tls_none && !p.pause_on_loss && !p.verify_disk);
	ck_assert(p.check_peer_generation);
	ck_assert_uint_eq(p.peer_generation, 0);
	ck_assert_uint_eq(p.interval_ms, 0);
	/* Output-triggered epochs are on unless asked off. */
	ck_assert(!p.no_output_epochs);
	ck_assert_uint_eq(p.min_interval_us, 0);
	ck_assert_uint_eq(p.max_rate, 0);
	ck_assert_uint_eq(p.mp.ack_timeout_ms, 0);
	vmm__control__request__free_unpacked(got, NULL);

	/* A minimum epoch below a millisecond, sent in microseconds. */
	ck_assert_int_eq(BUILD(&r, &json, err, "protect", "tcp:h:1", "--tls-none",
			       "--min-interval", "0.25"), 0);
	got = wire(&r);
	ck_assert_uint_eq(got->protect->min_interval_us, 250);
	ck_assert_uint_eq(got->protect->min_interval_ms, 0);
	ck_assert_int_eq(checkpoint_request__protect(got->protect, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(p.min_interval_us, 250);
	vmm__control__request__free_unpacked(got, NULL);
}
END_TEST

static const struct {
	int argc;
	char **argv;
	const char *want;
} bad_words[] = {
#define BAD(want, ...) { ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), want }
	BAD("usage: protect tcp:HOST:PORT", "protect"),
	BAD("bad --interval '0': 1 to 60000 ms", "protect", "u", "--interval", "0"),
	BAD("bad --interval '60001': 1 to 60000 ms", "protect", "u", "--interval", "60001"),
	BAD("bad --interval '5x': 1 to 60000 ms", "protect", "u", "--interval", "5x"),
	BAD("bad --min-interval '0': 0.1 to 60000 ms (up to three decimals)", "protect", "u",
	    "--min-interval", "0"),
	BAD("bad --min-interval '0.0999': 0.1 to 60000 ms (up to three decimals)", "protect", "u",
	    "--min-interval", "0.0999"),
	BAD("bad --min-interval '1.': 0.1 to 60000 ms (up to three decimals)", "protect", "u",
	    "--min-interval", "1."),
	BAD("bad --min-interval '1e3': 0.1 to 60000 ms (up to three decimals)", "protect", "u",
	    "--min-interval", "1e3"),
	BAD("bad --min-interval '60000.001': 0.1 to 60000 ms (up to three decimals)", "protect",
	    "u", "--min-interval", "60000.001"),
	BAD("bad --max-rate '10001': 1 to 10000 epochs/s", "protect", "u", "--max-rate", "10001"),
	BAD("bad --max-rate '-5': 1 to 10000 epochs/s", "protect", "u", "--max-rate", "-5"),
	BAD("bad --disk-log '4097': 1 to 4096 MiB", "protect", "u", "--disk-log", "4097"),
	BAD("bad --ack-timeout '99': 100 to 600000 ms", "protect", "u", "--ack-timeout", "99"),
	BAD("bad --ack-timeout '600001': 100 to 600000 ms", "protect", "u", "--ack-timeout",
	    "600001"),
	BAD("--output-epochs wants on or off", "protect", "u", "--output-epochs", "yes"),
	BAD("--on-standby-loss wants degrade or pause", "protect", "u", "--on-standby-loss", "stop"),
	BAD("bad --peer-generation '-1': want a number", "protect", "u", "--peer-generation", "-1"),
	BAD("bad --peer-generation '18446744073709551616': want a number", "protect", "u",
	    "--peer-generation", "18446744073709551616"),
	BAD("unknown option --bogus", "protect", "u", "--bogus", "x"),
	BAD("option --tls-ca needs a value, or is unknown", "protect", "u", "--tls-ca"),
	BAD("option --json needs a value, or is unknown", "protect", "u", "--json"),
	BAD("usage: activate [--generation N] [--json]", "activate", "--generation"),
	BAD("usage: activate [--generation N] [--json]", "activate", "5"),
	BAD("bad --generation 'x': want a number", "activate", "--generation", "x"),
	BAD("unexpected argument 'now'", "protect-status", "now"),
	BAD("unexpected argument '--all'", "unprotect", "--all"),
	BAD("unexpected argument 'eth0'", "net-status", "eth0"),
	BAD("not a checkpointing command", "status"),
#undef BAD
};

START_TEST(test_bad_words)
{
	struct ctl_req r;
	char err[256] = "";
	bool json;

	ck_assert_int_eq(checkpoint_cli__build(bad_words[_i].argc, bad_words[_i].argv, &r, &json,
					       err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, bad_words[_i].want) == err, "%s: got '%s', want '%s'",
		      bad_words[_i].argv[0], err, bad_words[_i].want);
}
END_TEST

START_TEST(test_other_words)
{
	Vmm__Control__Request *got;
	struct ctl_req r;
	char err[256];
	bool json, set;
	uint64_t gen;

	ck_assert_int_eq(BUILD(&r, &json, err, "activate", "--generation", "12", "--json"), 0);
	ck_assert(json);
	got = wire(&r);
	ck_assert_int_eq(checkpoint_request__activate(got->activate, &set, &gen, err, sizeof(err)), 0);
	ck_assert(set);
	ck_assert_uint_eq(gen, 12);
	vmm__control__request__free_unpacked(got, NULL);

	ck_assert_int_eq(BUILD(&r, &json, err, "activate"), 0);
	ck_assert(!json);
	got = wire(&r);
	ck_assert_int_eq(checkpoint_request__activate(got->activate, &set, &gen, err, sizeof(err)), 0);
	ck_assert(!set);
	vmm__control__request__free_unpacked(got, NULL);

	ck_assert_int_eq(BUILD(&r, &json, err, "protect-status", "--json"), 0);
	ck_assert(json);
	ck_assert_int_eq(r.req.command_case, VMM__CONTROL__REQUEST__COMMAND_PROTECT_STATUS);
	ck_assert_int_eq(BUILD(&r, &json, err, "net-status"), 0);
	ck_assert(!json);
	ck_assert_int_eq(r.req.command_case, VMM__CONTROL__REQUEST__COMMAND_NET_STATUS);
	ck_assert_int_eq(BUILD(&r, &json, err, "unprotect"), 0);
	ck_assert_int_eq(r.req.command_case, VMM__CONTROL__REQUEST__COMMAND_UNPROTECT);
}
END_TEST

/* Requests another client could send: refused, the field named. */
START_TEST(test_server_checks)
{
	Vmm__Control__ProtectRequest pr = VMM__CONTROL__PROTECT_REQUEST__INIT;
	Vmm__Control__ActivateRequest ar = VMM__CONTROL__ACTIVATE_REQUEST__INIT;
	struct checkpoint_params p;
	char err[256], big[1100];
	bool set;
	uint64_t gen;

	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "uri is empty: want the standby's tcp:HOST:PORT");
	pr.uri = (char *)"tcp:h:1";
	pr.interval_ms = 60000;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), 0);
	pr.interval_ms = 60001;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "interval_ms 60001 is out of range: 1 to 60000 ms (0: 25)");
	pr.interval_ms = 0;
	pr.min_interval_ms = 26;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "min_interval_ms 26 is out of range: 1 to the interval, 25 ms (0: 1)");
	pr.min_interval_ms = 25;
	pr.min_interval_us = 250;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "min_interval_ms and min_interval_us are both given: one of them");
	pr.min_interval_ms = 0;
	pr.min_interval_us = 99;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "min_interval_us 99 is out of range: 100 to the interval, 25000 us");
	pr.min_interval_us = 25001;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "min_interval_us 25001 is out of range: 100 to the interval, 25000 us");
	pr.min_interval_us = 25000;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(p.min_interval_us, 25000);
	pr.min_interval_us = 0;
	pr.min_interval_ms = 25;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(p.min_interval_us, 25000);
	pr.max_rate = 10001;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "max_rate 10001 is out of range: 1 to 10000 epochs/s (0: 1000)");
	pr.max_rate = 0;
	pr.disk_log_mib = 4097;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "disk_log_mib 4097 is out of range: 1 to 4096 MiB (0: 64)");
	pr.disk_log_mib = 0;
	pr.ack_timeout_ms = 99;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "ack_timeout_ms 99 is out of range: 100 to 600000 ms (0: 10000)");
	pr.ack_timeout_ms = 0;
	pr.on_standby_loss = (Vmm__Control__ProtectRequest__OnStandbyLoss)2;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "on_standby_loss 2 is neither DEGRADE (0) nor PAUSE (1)");
	pr.on_standby_loss = VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__PAUSE;
	pr.peer_generation = 9;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "peer_generation 9 is given without check_peer_generation");
	pr.check_peer_generation = true;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pr.tls_key = big;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -ENAMETOOLONG);
	ck_assert_str_eq(err, "tls_key is too long (1099 bytes, at most 1023)");
	pr.tls_key = (char *)"/k.pem";
	pr.tls_peer = big + 1099 - 256;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), -ENAMETOOLONG);
	ck_assert_str_eq(err, "tls_peer is too long (256 bytes, at most 255)");
	pr.tls_peer = big + 1099 - 255;
	ck_assert_int_eq(checkpoint_request__protect(&pr, &p, err, sizeof(err)), 0);
	ck_assert(p.pause_on_loss && p.check_peer_generation);
	ck_assert_uint_eq(p.peer_generation, 9);

	ar.generation = 4;
	ck_assert_int_eq(checkpoint_request__activate(&ar, &set, &gen, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "generation 4 is given without set_generation");
}
END_TEST

static Vmm__Control__ProtectStatus sample_status(void)
{
	Vmm__Control__ProtectStatus ps = VMM__CONTROL__PROTECT_STATUS__INIT;

	ps.state = (char *)"protected";
	ps.role = (char *)"primary";
	ps.generation = 3;
	ps.peer_generation = 4;
	ps.epochs = 10;
	ps.epochs_by_output = 7;
	ps.epochs_by_time = 3;
	ps.committed_epoch = 9;
	ps.last_commit_age_ms = 12;
	ps.epochs_per_s = 40.04;
	ps.pause_us_mean = 150.25;
	ps.pause_us_p99 = 300;
	ps.pause_us_max = 400;
	ps.pages_per_epoch = 20;
	ps.bytes_per_epoch = 81920;
	ps.pages_last = 21;
	ps.bytes_last = 86016;
	ps.ack_us_mean = 500;
	ps.ack_us_max = 900;
	ps.output_held_bytes = 1;
	ps.output_released_bytes = 2;
	ps.disk_digest = (char *)"";
	ps.error = (char *)"standby \"lost\"\n";
	ps.capture = (char *)"cow";
	ps.ack_timeout_ms = 30000;
	ps.min_interval_us = 250;
	ps.epochs_copied = 5;
	return ps;
}

/* The output of protect-status is what it was when the server printed it. */
START_TEST(test_status_output)
{
	Vmm__Control__ProtectStatus ps = sample_status();
	char out[8192];

	checkpoint_cli__format_status(&ps, true, out, sizeof(out));
	ck_assert_str_eq(out,
		"{\"state\":\"protected\",\"role\":\"primary\",\"generation\":3,"
		"\"peer_generation\":4,\"epochs\":10,\"committed_epoch\":9,\"refused\":0,"
		"\"last_commit_age_ms\":12,\"epochs_per_s\":40.0,\"pause_us_mean\":150.2,"
		"\"pause_us_p99\":300.0,\"pause_us_max\":400.0,\"pages_per_epoch\":20.0,"
		"\"bytes_per_epoch\":81920.0,\"pages_last\":21,\"bytes_last\":86016,"
		"\"ack_us_mean\":500.0,\"ack_us_max\":900.0,\"output_held_bytes\":1,"
		"\"output_released_bytes\":2,\"output_dropped_bytes\":0,"
		"\"net_output_held_frames\":0,\"net_output_released_frames\":0,"
		"\"net_output_dropped_frames\":0,\"disk_blocks_last\":0,"
		"\"disk_bytes_per_epoch\":0.0,\"disk_digest\":\"\","
		"\"error\":\"standby \\\"lost\\\"\\n\",\"pause_us_p50\":0.0,"
		"\"epochs_by_output\":7,\"epochs_by_time\":3,\"disk_read_blocks\":0,"
		"\"capture\":\"cow\",\"ack_timeout_ms\":30000,\"silence_limit_ms\":0,"
		"\"min_interval_us\":250,\"epochs_copied\":5}\n");
	assert_json_error(out, "standby \"lost\"\n");
	/* A peer's or the OS's words: quotes, backslashes, control bytes, not UTF-8. */
	ps.error = (char *)"cannot resolve a\"b\\c\001\377: \x7f\t";
	checkpoint_cli__format_status(&ps, true, out, sizeof(out));
	assert_json_error(out, "cannot resolve a\"b\\c\001\xef\xbf\xbd: \x7f\t");
	ps.peer_generation = -1;
	ps.last_commit_age_ms = -1;
	ps.error = (char *)"";
	checkpoint_cli__format_status(&ps, false, out, sizeof(out));
	ck_assert_str_eq(out,
		"state:            protected (primary)\n"
		"generation:       3 (peer -)\n"
		"epochs:           10 (committed 9, refused 0)\n"
		"epochs ended by:  output 7, time 3\n"
		"last commit:      none yet; 40.0 epochs/s over the last second\n"
		"pause per epoch:  mean 150.2 us, p99 300.0 us, max 400.0 us\n"
		"capture:          cow\n"
		"per epoch:        20.0 pages, 81920.0 bytes (last 21 pages, 86016 bytes)\n"
		"ack latency:      mean 500.0 us, max 900.0 us\n"
		"lost after:       30000 ms without an ack\n"
		"output:           1 bytes held, 2 bytes released, 0 held bytes dropped (buffer full)\n"
		"net output:       0 frames held, 0 released, 0 dropped\n"
		"disk per epoch:   0.0 bytes (last 0 blocks; 0 read back in pauses)\n"
		"disk digest:      -\n");
}
END_TEST

START_TEST(test_net_output)
{
	Vmm__Control__NetStatus ns = VMM__CONTROL__NET_STATUS__INIT;
	char out[1024];

	ns.mac = (char *)"52:54:00:12:34:56";
	ns.rx_frames = 1;
	ns.rx_bytes = 2;
	ns.tx_frames = 3;
	ns.tx_bytes = 4;
	ns.announces = 5;
	checkpoint_cli__format_net(&ns, true, out, sizeof(out));
	ck_assert_str_eq(out, "{\"mac\":\"52:54:00:12:34:56\",\"rx_frames\":1,\"rx_bytes\":2,"
			 "\"tx_frames\":3,\"tx_bytes\":4,\"rx_dropped\":0,\"tx_dropped\":0,"
			 "\"held_frames\":0,\"released_frames\":0,\"hold_dropped\":0,"
			 "\"announces\":5}\n");
	checkpoint_cli__format_net(&ns, false, out, sizeof(out));
	ck_assert_str_eq(out, "mac:             52:54:00:12:34:56\n"
			 "rx (tap->guest): 1 frames, 2 bytes\n"
			 "tx (guest->tap): 3 frames, 4 bytes\n"
			 "dropped:         0 rx, 0 tx\n"
			 "output commit:   0 frames held, 0 released, 0 dropped\n"
			 "announces:       5 RARP frames\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl_request");
	TCase *tc = tcase_create("requests");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_protect_words);
	tcase_add_loop_test(tc, test_bad_words, 0, (int)(sizeof(bad_words) / sizeof(bad_words[0])));
	tcase_add_test(tc, test_other_words);
	tcase_add_test(tc, test_server_checks);
	tcase_add_test(tc, test_status_output);
	tcase_add_test(tc, test_net_output);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
