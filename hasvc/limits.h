/*
 * Sizes shared by the configuration and the state machine.  The state
 * machine keeps fixed arrays so that its whole state is plain data: it can be
 * copied and compared, and encoded (hasvc/fsm_codec.c) without pointers to
 * follow.
 */
#ifndef HASVC_LIMITS_H
#define HASVC_LIMITS_H

#define HASVC_NAME_MAX 64   /* node and VM names: 1..63 bytes plus the NUL */
#define HASVC_MAX_NODES 32  /* corosync clusters in practice stay well below */
#define HASVC_MAX_VMS 128
#define HASVC_DIGEST_LEN 32 /* SHA-256 of the configuration file */
/* The configuration text: hactl config apply, Config and State messages. */
#define HASVC_CONFIG_TEXT_MAX (192 * 1024) /* and a request fits HASVC_IPC_MAX_MSG */

#endif
