/*
 * The configuration as a text that travels between hactl, hasvcd and the
 * group (config_text.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hasvc/config_text.h"
#include "hasvc/limits.h"

int config_text__parse(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen)
{
	size_t len = strnlen(text, HASVC_CONFIG_TEXT_MAX + 1);

	if (len > HASVC_CONFIG_TEXT_MAX) {
		*out = NULL;
		snprintf(err, errlen, "%s: more than %u bytes: a configuration holds at most that "
			 "(HASVC_CONFIG_TEXT_MAX)", name, HASVC_CONFIG_TEXT_MAX);
		return -EFBIG;
	}
	return cluster_config__parse_string(text, name, out, err, errlen);
}

static int digest_ok(ProtobufCBinaryData b, const char *what, char *why, size_t len)
{
	if (b.len == 0 || b.len == HASVC_DIGEST_LEN)
		return 0;
	snprintf(why, len, "ConfigHeld.%s: %zu bytes, not %d", what, b.len, HASVC_DIGEST_LEN);
	return -EINVAL;
}

int config_text__check_held(const Hasvc__Cluster__ConfigHeld *h, char *why, size_t len)
{
	if (digest_ok(h->file_digest, "file_digest", why, len) ||
	    digest_ok(h->running_digest, "running_digest", why, len))
		return -EINVAL;
	if (strlen(h->initiator) >= HASVC_NAME_MAX) {
		snprintf(why, len, "ConfigHeld.initiator: longer than %d bytes", HASVC_NAME_MAX - 1);
		return -EINVAL;
	}
	if (strlen(h->error) >= CONFIG_ERR_MAX) {
		snprintf(why, len, "ConfigHeld.error: longer than %d bytes", CONFIG_ERR_MAX - 1);
		return -EINVAL;
	}
	if (h->request && !h->initiator[0]) {
		snprintf(why, len, "ConfigHeld: request %llu without an initiator",
			 (unsigned long long)h->request);
		return -EINVAL;
	}
	return 0;
}
