/*
 * The one JSON writer (ipc/json_out.h): every string, whatever its bytes,
 * comes out as valid JSON and reads back as what went in (bytes that are
 * not UTF-8 as U+FFFD); numbers JSON has no form for are strings; any
 * protobuf-c message is walked under its .proto names.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hasvc/hactl.pb-c.h"
#include "ipc/json_out.h"
#include "tests/unit/json_parse.h"
#include "vmm/control.pb-c.h"
#include "vmm/state.pb-c.h"

/* obj printed, checked to be valid JSON, and parsed back. */
static struct json_object *round_trip(struct json_object *obj, char *text, size_t len)
{
	struct json_object *back;
	char why[256];

	ck_assert_int_eq(json_out__format(obj, text, len), 0);
	back = json_parse_line(text, why, sizeof(why));
	ck_assert_msg(back, "%s: %s", why, text);
	return back;
}

/* s as a JSON string reads back as want. */
static void check_string(const char *s, const char *want)
{
	struct json_object *o = json_object_new_object(), *back;
	char text[4096];

	json_object_object_add(o, "s", json_out__string(s));
	back = round_trip(o, text, sizeof(text));
	ck_assert_msg(!strcmp(json_key_string(back, "s"), want), "'%s' came back as '%s' (%s)",
		      want, json_key_string(back, "s"), text);
	json_object_put(back);
}

/* Every byte alone, and every ASCII byte amid text: escaped, none lost. */
START_TEST(test_every_byte)
{
	char s[8], mid[16];

	for (int c = 1; c < 256; c++) {
		snprintf(s, sizeof(s), "%c", c);
		check_string(s, c < 0x80 ? s : "\xef\xbf\xbd");
		if (c < 0x80) {
			snprintf(mid, sizeof(mid), "a%cb\\\"%c", c, c);
			check_string(mid, mid);
		}
	}
}
END_TEST

START_TEST(test_utf8)
{
	/* Well-formed: kept as it is, 1 to 4 bytes. */
	check_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
	/* Overlong, surrogate, past U+10FFFF, cut short, stray continuation. */
	check_string("a\xc0\xafz", "a\xef\xbf\xbd\xef\xbf\xbdz");
	check_string("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	check_string("\xf4\x90\x80\x80",
		     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	check_string("\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd");
	check_string("x\x80\"", "x\xef\xbf\xbd\"");
	check_string(NULL, "");
}
END_TEST

START_TEST(test_doubles)
{
	char text[256];
	struct json_object *o = json_object_new_array();

	json_object_array_add(o, json_out__double(40, 1));
	json_object_array_add(o, json_out__double(9.5, JSON_OUT_SIGNIFICANT));
	json_object_array_add(o, json_out__double(NAN, 1));
	json_object_array_add(o, json_out__double(INFINITY, 2));
	json_object_array_add(o, json_out__double(-INFINITY, JSON_OUT_SIGNIFICANT));
	json_object_array_add(o, json_out__double(1e300, 2));
	json_object_put(round_trip(o, text, sizeof(text)));
	ck_assert_str_eq(text, "[40.0,9.5,\"NaN\",\"Infinity\",\"-Infinity\",1e+300]\n");
}
END_TEST

/* Oneof members not set are left out, enums by name, nested and repeated. */
START_TEST(test_message)
{
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__OpRequest op = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Status st = HASVC__CTL__STATUS__INIT;
	Hasvc__Ctl__Vm vm = HASVC__CTL__VM__INIT, *vms[] = { &vm, &vm };
	char text[8192];

	op.op = HASVC__CTL__OP_REQUEST__OP__FAILOVER;
	op.vm = (char *)"w\"e\\b\n";
	req.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req.op = &op;
	json_object_put(round_trip(json_out__message(&req.base, 1), text, sizeof(text)));
	ck_assert_str_eq(text, "{\"op\":{\"op\":\"FAILOVER\",\"vm\":\"w\\\"e\\\\b\\n\",\"node\":\"\",\"timeout_s\":0}}\n");

	vm.name = (char *)"db/1";
	st.n_vms = 2;
	st.vms = vms;
	json_object_put(round_trip(json_out__message(&st.base, 1), text, sizeof(text)));
	ck_assert_msg(strstr(text, "\"vms\":[{\"name\":\"db/1\","), "%s", text);
	ck_assert_msg(strstr(text, "\"nodes\":[],"), "%s", text);
	ck_assert_int_eq(json_out__format(json_out__message(NULL, 1), text, sizeof(text)), 0);
	ck_assert_str_eq(text, "null\n");
}
END_TEST

/* Bytes as base64 (the proto3 mapping), every length modulo 3. */
START_TEST(test_bytes)
{
	static const char *want[] = { "", "AA==", "AP8=", "AP9h" };
	Vmm__State__Record r = VMM__STATE__RECORD__INIT;
	uint8_t data[] = { 0x00, 0xff, 'a' };
	struct json_object *back;
	char text[512];

	for (size_t n = 0; n <= sizeof(data); n++) {
		r.payload.data = data;
		r.payload.len = n;
		back = round_trip(json_out__message(&r.base, 1), text, sizeof(text));
		ck_assert_str_eq(json_key_string(back, "payload"), want[n]);
		json_object_put(back);
	}
}
END_TEST

/* The figures of protect-status: one decimal, NaN a string. */
START_TEST(test_format_cut)
{
	Vmm__Control__ProtectStatus ps = VMM__CONTROL__PROTECT_STATUS__INIT;
	char text[8192], small[16];

	ps.epochs_per_s = NAN;
	ps.pause_us_mean = 150.25;
	json_object_put(round_trip(json_out__message(&ps.base, 1), text, sizeof(text)));
	ck_assert_msg(strstr(text, "\"epochs_per_s\":\"NaN\",\"pause_us_mean\":150.2,"), "%s", text);
	ck_assert_int_eq(json_out__format(json_out__message(&ps.base, 1), small, sizeof(small)),
			 -ENOSPC);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

/* The refusal of both tools: the error whatever it quotes, the code. */
START_TEST(test_refusal)
{
	char text[512];
	FILE *f = fmemopen(text, sizeof(text), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(json_out__refusal(f, "no VM 'w\"\\\001\377'", 2), 0);
	fclose(f);
	assert_json_error(text, "no VM 'w\"\\\001\xef\xbf\xbd'");
	ck_assert_str_eq(text, "{\"ok\":false,\"error\":\"no VM 'w\\\"\\\\\\u0001\xef\xbf\xbd'\","
			 "\"code\":2}\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json_out");
	TCase *tc = tcase_create("writer");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_every_byte);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_doubles);
	tcase_add_test(tc, test_message);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_format_cut);
	tcase_add_test(tc, test_refusal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
