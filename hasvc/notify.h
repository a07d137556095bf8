/* systemd readiness, status and watchdog (notify.c). */
#ifndef HASVC_NOTIFY_H
#define HASVC_NOTIFY_H

#include "hasvc/daemon.h"

/* Arm the status and watchdog timer when systemd listens; 0 or -ENOMEM. */
int notify__start(struct hasvcd *d);
void notify__stop(struct hasvcd *d);
/* Joined and synced: READY=1, once. */
void notify__ready(struct hasvcd *d);
/* After a step of the state machine: STATUS= at once if the line changed. */
void notify__changed(struct hasvcd *d);
/* stderr is the journal's stream ($JOURNAL_STREAM), not a file or terminal. */
bool notify__stderr_is_journal(void);

#endif
