/*
 * Post-copy live migration (docs/migration.md): the guest runs on the
 * destination before all its memory is there.  The source's side is
 * postcopy__source (migrate.h); this is the destination's.
 */
#ifndef REPLICATION_POSTCOPY_H
#define REPLICATION_POSTCOPY_H

#include <stddef.h>

#include "replication/channel.h"
#include "vmm/dirty.h"
#include "vmm/vm_port.h"

struct pc_dst;

/*
 * Before the VM starts: drop the pages in discard (stale copies) and
 * register guest memory with userfaultfd (the port's post-copy ops), so that a touch of any missing
 * page waits for it.
 */
int postcopy__dst_prepare(const struct vm_port *port, const struct dirty_bitmap *discard,
			  struct pc_dst **out, char *err, size_t errlen);
/*
 * Once the source has the Ack of the state: serve faults and place pages
 * from main in background threads, which own d and both channels from now.
 * If the link breaks they listen on uri again for the same source (session)
 * to resume.
 */
int postcopy__dst_run(struct pc_dst *d, struct chan *main, struct chan *req, const char *uri,
		      const struct mig_tls *tls, uint64_t session);
/*
 * As postcopy__dst_run, but on the calling thread, with the resumes taken
 * on lfd, a listening socket of the caller's (plaintext): 0 once every page
 * is here and acknowledged, else the error that ended it (-EINVAL: lfd
 * stopped listening).  d is freed.  The seam of the fuzz target
 * tests/fuzz/fuzz_pcdst.c.
 */
int postcopy__dst_serve(struct pc_dst *d, struct chan *main, struct chan *req, int lfd,
			uint64_t session);
/* The switch-over failed before the VM ran: undo prepare. */
void postcopy__dst_abort(struct pc_dst *d);

#endif
