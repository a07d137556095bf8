/*
 * The one JSON writer (json_out.h): json-c does the escaping and the
 * printing; what is here is what json-c does not know, the protobuf-c
 * descriptors, UTF-8 checking, and numbers JSON cannot hold.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/json_out.h"

/* Compact, one line, and "/" as itself (paths and URIs stay readable). */
#define PRINT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/*
 * The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0.  Reads no byte past
 * a NUL: a NUL is never a continuation byte.
 */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		lo = s[0] == 0xe0 ? 0xa0 : lo;
		hi = s[0] == 0xed ? 0x9f : hi;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		lo = s[0] == 0xf0 ? 0x90 : lo;
		hi = s[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* s with every byte that starts no well-formed sequence as U+FFFD. */
static struct json_object *replaced(const unsigned char *s, size_t len)
{
	struct json_object *o;
	char *buf = malloc(3 * len + 1), *w = buf;
	size_t n;

	if (!buf)
		return NULL;
	while (*s) {
		n = utf8_seq(s);
		if (n) {
			memcpy(w, s, n);
			w += n;
			s += n;
		} else {
			memcpy(w, "\xef\xbf\xbd", 3);
			w += 3;
			s++;
		}
	}
	o = json_object_new_string_len(buf, (int)(w - buf));
	free(buf);
	return o;
}

struct json_object *json_out__string(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n, i = 0;

	while (p[i]) {
		n = utf8_seq(p + i);
		if (!n)
			return replaced(p, strlen((const char *)p));
		i += n;
	}
	return json_object_new_string((const char *)p);
}

struct json_object *json_out__double(double d, int decimals)
{
	char text[64];

	if (isnan(d))
		return json_object_new_string("NaN");
	if (isinf(d))
		return json_object_new_string(d > 0 ? "Infinity" : "-Infinity");
	if (decimals == JSON_OUT_SIGNIFICANT)
		snprintf(text, sizeof(text), "%.15g", d);
	else
		snprintf(text, sizeof(text), "%.*f", decimals, d);
	/* The text is what is printed; plain "%.Nf" can exceed 64 bytes. */
	if (strlen(text) + 1 >= sizeof(text))
		snprintf(text, sizeof(text), "%.15g", d);
	return json_object_new_double_s(d, text);
}

static struct json_object *bytes(const ProtobufCBinaryData *b)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct json_object *o;
	char *buf = malloc((b->len + 2) / 3 * 4 + 1), *w = buf;
	size_t i;

	if (!buf)
		return NULL;
	for (i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		size_t left = b->len - i;

		if (left > 1)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (left > 2)
			v |= b->data[i + 2];
		*w++ = b64[v >> 18 & 63];
		*w++ = b64[v >> 12 & 63];
		*w++ = left > 1 ? b64[v >> 6 & 63] : '=';
		*w++ = left > 2 ? b64[v & 63] : '=';
	}
	o = json_object_new_string_len(buf, (int)(w - buf));
	free(buf);
	return o;
}

static struct json_object *enum_value(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	/* A value newer than this program: its number. */
	return v ? json_object_new_string(v->name) : json_object_new_int(value);
}

/* One value of field f stored at p. */
static struct json_object *value(const ProtobufCFieldDescriptor *f, const void *p, int decimals)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int64(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_int64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_object_new_int64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_object_new_uint64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_out__double(*(const float *)p, decimals);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_out__double(*(const double *)p, decimals);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return enum_value(f->descriptor, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_out__string(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES:
		return bytes(p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return json_out__message(*(ProtobufCMessage *const *)p, decimals);
	}
	return NULL;
}

/* How many bytes one element of a repeated field takes in its array. */
static size_t element_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static struct json_object *repeated(const ProtobufCFieldDescriptor *f, const char *base,
				    int decimals)
{
	size_t n = *(const size_t *)(base + f->quantifier_offset), i;
	const char *arr = *(char *const *)(base + f->offset);
	struct json_object *a = json_object_new_array_ext((int)n);

	for (i = 0; a && i < n; i++)
		json_object_array_add(a, value(f, arr + i * element_size(f), decimals));
	return a;
}

/* A member of a oneof that is not the one set is left out. */
static bool skipped(const ProtobufCFieldDescriptor *f, const char *base)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return false;
	return *(const uint32_t *)(base + f->quantifier_offset) != f->id;
}

struct json_object *json_out__message(const ProtobufCMessage *msg, int decimals)
{
	const char *base = (const char *)msg;
	const ProtobufCMessageDescriptor *d;
	struct json_object *o;
	unsigned i;

	if (!msg)
		return NULL;  /* json-c prints NULL as null */
	d = msg->descriptor;
	o = json_object_new_object();
	for (i = 0; o && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (skipped(f, base))
			continue;
		json_object_object_add(o, f->name, f->label == PROTOBUF_C_LABEL_REPEATED ?
				       repeated(f, base, decimals) :
				       value(f, base + f->offset, decimals));
	}
	return o;
}

int json_out__format(struct json_object *obj, char *buf, size_t len)
{
	const char *text = json_object_to_json_string_ext(obj, PRINT_FLAGS);
	int n = text ? snprintf(buf, len, "%s\n", text) : -1;

	json_object_put(obj);
	if (n < 0) {
		if (len)
			buf[0] = '\0';
		return -ENOMEM;
	}
	return (size_t)n >= len ? -ENOSPC : 0;
}

int json_out__print(FILE *out, struct json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, PRINT_FLAGS);
	int rc = 0;

	if (!text)
		rc = -ENOMEM;
	else if (fprintf(out, "%s\n", text) < 0)
		rc = -EIO;
	json_object_put(obj);
	return rc;
}

int json_out__refusal(FILE *out, const char *error, int code)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_out__string(error));
	json_object_object_add(o, "code", json_object_new_int(code));
	return json_out__print(out, o);
}
