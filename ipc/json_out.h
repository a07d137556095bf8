/*
 * The one JSON writer of the command-line tools (`vmm ctl ... --json`,
 * `hactl --json`): json-c objects, built from any protobuf-c message through
 * its descriptor or by hand, printed as one compact line.
 *
 * Every string goes through json_out__string, so the output is valid JSON
 * (RFC 8259, UTF-8) whatever the bytes: quotes, backslashes and control
 * characters are escaped by json-c, and bytes that are not UTF-8 (a guest's
 * or a peer's text, a path given on a command line) become U+FFFD.
 */
#ifndef IPC_JSON_OUT_H
#define IPC_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* json_out__double's `decimals` for 15 significant digits (%.15g). */
#define JSON_OUT_SIGNIFICANT (-1)

/*
 * msg as an object: every field under its .proto name (snake_case), in
 * field number order, defaults included so that a script can rely on a
 * key being there; the members of a oneof that are not set are left out.
 * 64-bit integers are numbers, enums their value names, bytes base64,
 * doubles as json_out__double(decimals).  NULL msg: JSON null.
 */
struct json_object *json_out__message(const ProtobufCMessage *msg, int decimals);

/* s (NULL reads as "") as a JSON string, bytes that are not UTF-8 as U+FFFD. */
struct json_object *json_out__string(const char *s);

/*
 * d with `decimals` digits after the point (%.Nf), or JSON_OUT_SIGNIFICANT;
 * NaN and the infinities, which JSON has no number for, as the strings
 * "NaN", "Infinity", "-Infinity" (the proto3 JSON mapping).
 */
struct json_object *json_out__double(double d, int decimals);

/*
 * What vmm ctl and hactl print with --json when the server said no or
 * could not be asked: {"ok":false,"error":ERROR,"code":CODE} and a newline.
 */
int json_out__refusal(FILE *out, const char *error, int code);

/*
 * obj as one line of JSON and a newline, to out or into buf (always
 * terminated; -ENOSPC when cut).  Both drop the caller's reference to obj.
 * 0 or -errno.
 */
int json_out__print(FILE *out, struct json_object *obj);
int json_out__format(struct json_object *obj, char *buf, size_t len);

#endif
