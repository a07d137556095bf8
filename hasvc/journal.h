/*
 * hasvcd's log in the systemd journal (docs/operations.md, "Monitoring"),
 * with fields a query can select on.
 *
 * libqb's own journal target (QB_LOG_CONF_USE_JOURNAL) sends PRIORITY,
 * CODE_FILE, CODE_LINE, CODE_FUNC, SYSLOG_IDENTIFIER and MESSAGE, and has
 * no way to add a field to one message.  This target sends the same, and
 * for a line that says a cluster event also HASVC_EVENT, HASVC_NODE,
 * HASVC_VM and HASVC_SEQ (`journalctl HASVC_VM=web1`).
 */
#ifndef HASVC_JOURNAL_H
#define HASVC_JOURNAL_H

#include <stdint.h>

/*
 * Log to the journal at level (and above) through this target: its libqb
 * target number, or -errno.
 */
int journal__open(int level);

/*
 * The fields of the lines this thread logs until journal__clear(): a
 * cluster event's name, node, VM ("" for none) and number.  The strings
 * must stay valid until then.
 */
void journal__event(const char *event, const char *node, const char *vm, uint64_t seq);
void journal__clear(void);

#endif
