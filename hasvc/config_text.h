/*
 * The configuration as a text that travels (config_text.c): its size bound
 * and the checks of what a peer says it holds.  Pure, so the cluster fuzzer
 * runs it on arbitrary bytes.
 */
#ifndef HASVC_CONFIG_TEXT_H
#define HASVC_CONFIG_TEXT_H

#include <stddef.h>

#include "hasvc/cluster.pb-c.h"
#include "hasvc/cluster_config.h"

/*
 * cluster_config__parse_string() for a text of at most HASVC_CONFIG_TEXT_MAX
 * bytes: a longer one is refused ("name: 300000 bytes: ...") before parsing.
 */
int config_text__parse(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen);

/*
 * A ConfigHeld from the group: 0, or -EINVAL with what is wrong in why
 * (a digest that is not 32 bytes, an initiator name or error too long).
 */
int config_text__check_held(const Hasvc__Cluster__ConfigHeld *h, char *why, size_t len);

#endif
