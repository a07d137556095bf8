/*
 * A replica of the state machine as a protobuf message (Replica in
 * hasvc/cluster.proto), field by field: what a State carries to the other
 * members and what the state digest is taken over, never the bytes of
 * struct fsm.
 *
 * One state has one encoding (slots in ascending order, default fields left
 * out, protobuf-c packs fields in number order), so two replicas that are
 * equal in the fields this version knows encode to the same bytes.  A
 * decoded Replica may carry fields a newer hasvcd added: they are counted
 * (fsm_codec__unknown) and dropped, so the replica and its digest are those
 * of the fields both versions know (docs/hasvc-daemon.md, "Versions").
 */
#ifndef HASVC_FSM_CODEC_H
#define HASVC_FSM_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "hasvc/cluster.pb-c.h"
#include "hasvc/fsm.h"

/*
 * The Replica's major version, State.format.  Adding a field does not
 * change it; changing what an existing field means does.
 */
#define FSM_CODEC_FORMAT 2u

/* f as a message, or NULL when out of memory; free with fsm_codec__free. */
Hasvc__Cluster__Replica *fsm_codec__encode(const struct fsm *f);
void fsm_codec__free(Hasvc__Cluster__Replica *r);

/* f packed (malloc'd, *len bytes): 0 or -ENOMEM. */
int fsm_codec__pack(const struct fsm *f, uint8_t **buf, size_t *len);

/*
 * r into f, every value checked: 0, or -EPROTO with why naming the field
 * ("Replica.vms[2].primary: 40 is not a node slot") or the broken rule of
 * fsm__check_invariants.  On an error f holds part of r: decode into a
 * scratch state what has not been decoded before.
 */
int fsm_codec__decode(const Hasvc__Cluster__Replica *r, struct fsm *f, char *why, size_t len);

/* The fields of r and its nodes, VMs and copies this version does not know. */
size_t fsm_codec__unknown(const Hasvc__Cluster__Replica *r);

#endif
