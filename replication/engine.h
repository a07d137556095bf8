/*
 * The replication engine as the vmm's control server sees it: its
 * migration and checkpointing commands and its say on the operator's
 * resume (vmm/control.h struct control_engine_ops), bound to one VM's
 * migration job and checkpoint.  The composition root (vmm/main.c) hands
 * these ops to the control server, so no vmm module calls replication/.
 */
#ifndef REPLICATION_ENGINE_H
#define REPLICATION_ENGINE_H

struct checkpoint;
struct control_engine_ops;
struct migrate;

struct engine {
	struct migrate *mig;
	struct checkpoint *ckpt;   /* NULL: no checkpointing */
};

/* The ops; their opaque is a struct engine. */
const struct control_engine_ops *engine__control_ops(void);

#endif
