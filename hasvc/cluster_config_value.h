/*
 * Value checks for hasvc.conf, shared by the parser and its tests.  Each
 * returns 0 or -EINVAL; none prints: the parser turns a failure into a
 * "file:line: section: problem" message.
 */
#ifndef HASVC_CLUSTER_CONFIG_VALUE_H
#define HASVC_CLUSTER_CONFIG_VALUE_H

#include <stdbool.h>
#include <stdint.h>

/* [a-zA-Z0-9_.-]{1,63}: safe in file names, unit names and log lines. */
bool cluster_config__valid_name(const char *s);
/* "512M", "2G", "1048576": a count of bytes with an optional K/M/G/T suffix. */
int cluster_config__parse_size(const char *s, uint64_t *out);
/* A whole decimal number in [min, max]. */
int cluster_config__parse_int(const char *s, long min, long max, long *out);
/* yes/no, true/false, on/off, 1/0, any case. */
int cluster_config__parse_bool(const char *s, bool *out);
/* "host:port" or "[v6addr]:port"; host is written to a buffer of hostlen. */
int cluster_config__parse_address(const char *s, char *host, size_t hostlen, uint16_t *port);

/* A network interface name: 1 to 15 of [a-zA-Z0-9_.-] (IFNAMSIZ - 1). */
bool cluster_config__valid_ifname(const char *s);
/* "52:54:00:12:34:56": a unicast, non-zero MAC address. */
int cluster_config__parse_mac(const char *s, uint8_t mac[6]);

#endif
