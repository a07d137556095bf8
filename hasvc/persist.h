/* The replica kept on disk across restarts of the whole cluster (persist.c). */
#ifndef HASVC_PERSIST_H
#define HASVC_PERSIST_H

struct hasvcd;

/* Read DIR/replica if it is there and of this configuration: 0 or -errno. */
int persist__start(struct hasvcd *d);
/* After a step: the replica is saved within SAVE_MS if it changed. */
void persist__changed(struct hasvcd *d);
/* The last save, then free. */
void persist__stop(struct hasvcd *d);

#endif
