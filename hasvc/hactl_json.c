/*
 * Any protobuf-c message as JSON, walked through its descriptor, so that a
 * field added to hactl.proto shows in `hactl --json` without a change here.
 *
 * Close to the proto3 JSON mapping, with two choices made for shell
 * scripts (docs/hactl.md): field names as in the .proto (snake_case), and
 * every field printed, defaults included, so that a script can rely on a
 * key being there; 64-bit integers are numbers, not strings (the values
 * hactl shows stay far below 2^53).
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "hasvc/hactl.h"

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void json_bytes(FILE *out, const ProtobufCBinaryData *b)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	fputc('"', out);
	for (i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		size_t left = b->len - i;

		if (left > 1)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (left > 2)
			v |= b->data[i + 2];
		fputc(b64[v >> 18 & 63], out);
		fputc(b64[v >> 12 & 63], out);
		fputc(left > 1 ? b64[v >> 6 & 63] : '=', out);
		fputc(left > 2 ? b64[v & 63] : '=', out);
	}
	fputc('"', out);
}

static void json_double(FILE *out, double d)
{
	if (isnan(d))
		fputs("\"NaN\"", out);
	else if (isinf(d))
		fputs(d > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
	else
		fprintf(out, "%.15g", d);
}

static void json_enum(FILE *out, const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	if (v)
		json_string(out, v->name);
	else
		fprintf(out, "%d", value);  /* a value newer than this hactl */
}

static void json_message(FILE *out, const ProtobufCMessage *msg);

/* One value of field f stored at p. */
static void json_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(out, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(out, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(out, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		json_double(out, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		json_double(out, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", out);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		json_enum(out, f->descriptor, *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		json_string(out, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		json_bytes(out, p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		json_message(out, *(ProtobufCMessage *const *)p);
		break;
	}
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

static void json_repeated(FILE *out, const ProtobufCFieldDescriptor *f, const char *base)
{
	size_t n = *(const size_t *)(base + f->quantifier_offset), i;
	const char *arr = *(char *const *)(base + f->offset);

	fputc('[', out);
	for (i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		json_value(out, f, arr + i * element_size(f));
	}
	fputc(']', out);
}

/* A member of a oneof that is not the one set is left out. */
static bool skipped(const ProtobufCFieldDescriptor *f, const char *base)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return false;
	return *(const uint32_t *)(base + f->quantifier_offset) != f->id;
}

static void json_message(FILE *out, const ProtobufCMessage *msg)
{
	const char *base = (const char *)msg;
	const ProtobufCMessageDescriptor *d;
	bool first = true;
	unsigned i;

	if (!msg) {
		fputs("null", out);
		return;
	}
	d = msg->descriptor;
	fputc('{', out);
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (skipped(f, base))
			continue;
		if (!first)
			fputc(',', out);
		first = false;
		json_string(out, f->name);
		fputc(':', out);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			json_repeated(out, f, base);
		else
			json_value(out, f, base + f->offset);
	}
	fputc('}', out);
}

void hactl__print_json(FILE *out, const ProtobufCMessage *msg)
{
	json_message(out, msg);
	fputc('\n', out);
}
