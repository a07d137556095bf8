/*
 * Tests: is a line that a --json output printed valid JSON (RFC 8259)?
 * json-c's tokener checks the grammar and UTF-8 (strict mode, UTF-8
 * validation); it takes raw control characters inside strings, which JSON
 * does not, so they are checked here: a compact line holds none.
 */
#ifndef TESTS_UNIT_JSON_PARSE_H
#define TESTS_UNIT_JSON_PARSE_H

#include <stdio.h>
#include <string.h>

#include <check.h>
#include <json-c/json.h>

/* The value of `text` (one line, one newline at its end), or NULL with why. */
static inline struct json_object *json_parse_line(const char *text, char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new();
	size_t n = strlen(text), end, i;
	struct json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)n);
	end = json_tokener_get_parse_end(tok);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(why, whylen, "not JSON at byte %zu: %s", end,
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		goto bad;
	}
	/* The tokener may take the newline as the whitespace after the value. */
	if (n == 0 || text[n - 1] != '\n' || end < n - 1) {
		snprintf(why, whylen, "not one value and a newline (value ends at %zu of %zu)", end, n);
		goto bad;
	}
	for (i = 0; i < n - 1; i++) {
		if ((unsigned char)text[i] < 0x20) {
			snprintf(why, whylen, "raw control character 0x%02x at byte %zu",
				 (unsigned char)text[i], i);
			goto bad;
		}
	}
	json_tokener_free(tok);
	return o;
bad:
	json_object_put(o);
	json_tokener_free(tok);
	return NULL;
}

/* The string under key in object o ("" when missing: the caller compares). */
static inline const char *json_key_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* out is one line of valid JSON whose "error" reads back as want. */
static inline void assert_json_error(const char *out, const char *want)
{
	struct json_object *o;
	char why[256];

	o = json_parse_line(out, why, sizeof(why));
	ck_assert_msg(o, "%s: %s", why, out);
	ck_assert_msg(!strcmp(json_key_string(o, "error"), want), "error '%s', not '%s'",
		      json_key_string(o, "error"), want);
	json_object_put(o);
}

#endif
