/*
 * Continuous checkpointing to a hot standby, Remus-style
 * (docs/checkpointing.md).
 *
 * Primary: checkpoint__protect starts the replication thread: the initial
 * sync is a pre-copy migration (migrate__checkpoint_sync) that leaves the
 * guest running and the channel open; then every interval the main thread
 * pauses the vCPUs, harvests the dirty log, captures a whole state stream
 * with the epoch's pages into memory (vm_state__save_pages) and resumes;
 * the replication thread sends it and waits for the standby's ack, and
 * only then releases the epoch's output (outbuf.h).
 *
 * Standby: `vmm run --standby` receives the sync like a migration
 * destination (migrate__incoming_standby), starts its VM paused and never
 * runs it; checkpoint__standby_start reads checkpoints, stages each whole,
 * verifies it (vm_state__parse: framing, SHA-256, records) and only then
 * applies it (on the main thread) and acks.  checkpoint__activate resumes
 * the guest from the last committed checkpoint under a new generation.
 *
 * Fencing: the cluster gives every copy of a VM its own generation (a
 * token) and tells each side of a stream the other's; a side checks the
 * other's token (--peer-generation) at the hello and on every checkpoint
 * or ack.  checkpoint__activate also continues a primary the standby-loss
 * policy paused, and checkpoint__unprotect ends protection on a primary.
 */
#ifndef REPLICATION_CHECKPOINT_H
#define REPLICATION_CHECKPOINT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <qb/qbloop.h>

#include "replication/migrate.h"
#include "replication/outbuf.h"
#include "vmm/stream.h"
#include "vmm/vm_port.h"
#include "vmm/control.pb-c.h"

#define CHECKPOINT_DEFAULT_INTERVAL_MS 25
/*
 * Output-triggered epochs (docs/checkpointing.md): held output ends an
 * epoch once it is min_interval old, at most max_rate epochs a second.
 */
#define CHECKPOINT_DEFAULT_MIN_INTERVAL_MS 1
#define CHECKPOINT_MIN_INTERVAL_MIN_US 100
#define CHECKPOINT_DEFAULT_MAX_RATE 1000
#define CHECKPOINT_MAX_RATE_MAX 10000
#define CHECKPOINT_ACK_TIMEOUT_MIN_MS 100
#define CHECKPOINT_ACK_TIMEOUT_MAX_MS MIGRATE_MAX_ACK_TIMEOUT_MS
/* The disk's write-time log (per epoch, two kept): MiB of blocks. */
#define CHECKPOINT_DEFAULT_DISK_LOG_MIB 64
#define CHECKPOINT_DISK_LOG_MIB_MAX 4096
#define CHECKPOINT_PAUSE_SAMPLES 4096
/* Commit times kept for epochs_per_s: more than a second's worth at 1 ms. */
#define CHECKPOINT_RATE_SAMPLES 2048

enum checkpoint_state {
	CKPT_NONE,        /* not protected (never, or unprotected), not a standby */
	CKPT_SYNCING,     /* primary: initial sync running */
	CKPT_PROTECTED,   /* primary: epochs acknowledged */
	CKPT_DEGRADED,    /* primary: standby lost, running unprotected */
	CKPT_PAUSED,      /* primary: standby lost, guest paused by policy */
	CKPT_FAILED,      /* primary: the initial sync failed */
	CKPT_STANDBY,     /* standby: receiving checkpoints */
	CKPT_LOST,        /* standby: the stream broke; last good state kept */
	CKPT_ACTIVATED,   /* activated: a standby (or a primary the policy paused)
			     runs the guest under a new generation, unprotected */
	CKPT_ENDED,       /* either side: the guest stopped itself on the primary
			     and the final checkpoint was committed */
};

struct vm_state_undo;

struct checkpoint_params {
	struct migrate_params mp;     /* uri, TLS */
	uint32_t interval_ms;         /* 0: default */
	bool no_output_epochs;        /* epochs end by time only */
	uint32_t min_interval_us;     /* 0: default; an output epoch is at least this long */
	uint32_t max_rate;            /* 0: default; epochs a second at most */
	uint32_t disk_log_mib;        /* 0: default; the disk's write-time log bound */
	bool pause_on_loss;           /* else degrade */
	bool check_peer_generation;   /* the standby must be at peer_generation */
	uint64_t peer_generation;
	bool verify_disk;             /* every checkpoint carries the image's SHA-256 */
};

struct checkpoint_stats {
	uint64_t epochs;
	uint64_t epochs_output, epochs_time;  /* primary: ended by held output / by time */
	uint64_t pause_ns_sum, pause_ns_max;
	uint64_t pause_samples[CHECKPOINT_PAUSE_SAMPLES];  /* ring, for p99 */
	uint64_t pages_sum, bytes_sum, pages_last, bytes_last;
	uint64_t ack_ns_sum, ack_ns_max;
	uint64_t refused;             /* standby: checkpoints refused */
	uint64_t committed_epoch;     /* last acknowledged (primary) / applied (standby) */
	uint64_t last_commit_ns;      /* when it was (0: none yet); the sync counts */
	uint64_t commit_ns[CHECKPOINT_RATE_SAMPLES];  /* ring by epochs, for the rate */
	uint64_t disk_blocks_last, disk_bytes_sum;     /* image bytes in checkpoints */
	uint64_t disk_read_blocks;    /* blocks read back from the image in a pause */
	const char *capture;          /* primary: "cow" (pages copied after the pause), "copy" */
	uint64_t epochs_copied;       /* primary, cow: epochs few enough pages to copy in the pause */
	bool disk_digest_valid;       /* --verify-disk: the image at the last commit */
	uint8_t disk_digest[32];
};

struct checkpoint {
	struct vm_port port;          /* the VM, as the engine sees it */
	qb_loop_t *loop;
	pthread_mutex_t lock;         /* state, error, stats */
	enum checkpoint_state state;
	char error[256];
	atomic_bool stop;
	atomic_bool final;            /* primary: the guest stopped; one last epoch */
	uint64_t generation;          /* fencing token (written on the main thread) */
	struct checkpoint_stats st;
	bool thread_running;
	atomic_bool thread_done;      /* the thread is past its last main-thread call */
	pthread_t thread;
	/* primary */
	struct migrate m;             /* the sync's engine and channel */
	bool m_ready;
	struct checkpoint_params p;
	struct outbuf ob;
	struct stream cap_s;          /* the epoch's state stream, while it is written */
	const struct vm_disk_log *cap_log; /* its disk blocks, kept at write time */
	uint64_t cap_read_blocks;     /* or read back from the image in the pause: */
	uint64_t *cap_rest_blk;       /* those a full log lacks (cap_read_blocks of them) */
	uint8_t *cap_rest;            /* and their data, VIRTIO_BLK_BLOCK bytes each */
	uint8_t *cap_buf;             /* the epoch's captured state stream */
	size_t cap_len;
	uint8_t *cap_spare;           /* the last one's buffer, sent: the next capture's */
	size_t cap_spare_len;
	uint64_t cap_mark, cap_pages, cap_pause_ns;
	bool cap_last;                /* this capture is the final checkpoint's */
	bool cow;                     /* copy-on-write capture is on (vm_port.h cow_*) */
	bool cap_cow;                 /* this capture's pages are protected, copied after */
	bool cap_small;               /* cow, but this capture's few pages were copied in it */
	uint64_t cap_disk_blocks;
	uint8_t cap_digest[32];       /* verify_disk: the image at the capture */
	/* standby */
	struct mig_fence fence;       /* what a checkpoint's generation must be */
	struct chan *sc;
	bool activate_on_loss;
	bool activated;
	uint8_t *stage;
	size_t stage_limit;
	size_t stage_used;            /* bytes of stage written since the last release */
	struct vm_state_undo *undo;   /* what a checkpoint overwrites, until it applied */
	/*
	 * Main thread: why this standby holds no whole state (a checkpoint
	 * failed halfway and could not be undone); "" while it does.  Such a
	 * standby is never activated.
	 */
	char unsafe[256];
};

/* port: the VM the sync and the epochs capture and apply (vm_port.h). */
int checkpoint__init(struct checkpoint *ck, const struct vm_port *port, qb_loop_t *loop,
		     uint64_t generation);
/*
 * Primary, main thread, once the loop ends: if the guest stopped itself
 * while protected, send the final checkpoint (its last epoch, with the
 * stop), wait for the ack and release the output it held; the standby
 * then ends too instead of being promoted to re-run the guest's end.
 * Returns at once otherwise.
 */
void checkpoint__finish(struct checkpoint *ck);
/* Main thread, at exit: stop the replication thread and wait for it. */
void checkpoint__exit(struct checkpoint *ck);
uint64_t checkpoint__generation(struct checkpoint *ck);

/*
 * Primary, main thread: protect from state none, failed, degraded, paused
 * (by the policy: the sync runs with the guest paused, the held output is
 * released by the first acknowledged checkpoint) or activated.  0, or
 * -EBUSY / -EINVAL with a reason.
 */
int checkpoint__protect(struct checkpoint *ck, const struct checkpoint_params *p, char *err,
			size_t errlen);
/*
 * Primary, main thread: as checkpoint__protect, over channel c to a
 * standby that already holds this VM's state (its initial sync was made
 * otherwise): epochs start at once.  The unit tests' entry (no sync
 * engine); c is the checkpoint's from here on.
 */
int checkpoint__protect_synced(struct checkpoint *ck, const struct checkpoint_params *p,
			       struct chan *c, char *err, size_t errlen);
/*
 * Primary, main thread: stop checkpointing (the thread is joined), release
 * the held output, resume a guest the policy paused; state none.  -EINVAL
 * on a standby.
 */
int checkpoint__unprotect(struct checkpoint *ck, char *err, size_t errlen);

/*
 * Standby, main thread, after vm__start (paused): read checkpoints from c;
 * each must carry a generation fence allows (fence->generation is ours).
 */
int checkpoint__standby_start(struct checkpoint *ck, struct chan *c,
			      const struct mig_fence *fence, bool activate_on_loss);
/*
 * Main thread: run this copy under generation gen (set_gen; else the
 * current one + 1), which must be above the current one.  A standby
 * resumes from its last committed checkpoint; a primary the standby-loss
 * policy paused resumes and releases its held output; a merely paused VM
 * (not protected) resumes.
 */
int checkpoint__activate(struct checkpoint *ck, bool set_gen, uint64_t gen, char *err,
			 size_t errlen);

/*
 * Main thread, for the control server's resume: refuses (-EPERM, reason in
 * err) a standby, and a primary the policy paused (its output is held:
 * activate, protect or unprotect decide).  The operator's hold itself is
 * never ended by checkpointing (nor by migration): vm_hold.h.
 */
int checkpoint__may_resume(struct checkpoint *ck, char *err, size_t errlen);
/*
 * A standby keeps its last checkpoint's vCPU and device state aside
 * (vm_state__undo_settle): loaded here, on the main thread, before the
 * VM's state is read or run.  0 on anything but a standby.
 */
int checkpoint__settle(struct checkpoint *ck, char *err, size_t errlen);
/* Is this vmm a standby (its RAM changes with every checkpoint)? */
bool checkpoint__is_standby(const struct checkpoint *ck);

const char *checkpoint__state_name(enum checkpoint_state s);
/*
 * protect-status as a message: ps->error and ps->disk_digest point at
 * buffers of CONTROL_CK_ERROR_LEN and CONTROL_CK_DIGEST_LEN bytes
 * (vmm/control.h); the other strings are static.
 */
void checkpoint__fill_status(struct checkpoint *ck, Vmm__Control__ProtectStatus *ps);

/*
 * The control server's checkpointing commands (the checkpoint op of
 * vmm/control.h but net-status, which vmm/control_vm.c serves): ps filled
 * on success.
 */
int checkpoint__control(struct checkpoint *ck, const Vmm__Control__Request *req,
			Vmm__Control__ProtectStatus *ps, char *err, size_t errlen);

/*
 * checkpoint_request.c, pure: the checks of a typed request from another
 * process, into what the engine takes.  0, or -errno with a reason in err
 * that names the field.
 */
int checkpoint_request__protect(const Vmm__Control__ProtectRequest *r,
				struct checkpoint_params *p, char *err, size_t errlen);
int checkpoint_request__activate(const Vmm__Control__ActivateRequest *r, bool *set_gen,
				 uint64_t *gen, char *err, size_t errlen);

/* Internal (checkpoint_*.c). */
/* Main thread: --on-standby-loss pause holds the guest (VM_HOLD_POLICY). */
bool checkpoint__policy_paused(const struct checkpoint *ck);
/* The shortest epoch that held output ends (us): the request's, else the default. */
uint32_t checkpoint__min_interval_us(const struct checkpoint_params *p);
void checkpoint__record_pause(struct checkpoint *ck, uint64_t ns);
/* With ck->lock held: a checkpoint was acknowledged (primary) or applied. */
void checkpoint__record_commit(struct checkpoint *ck, uint64_t now_ns);
/* Main thread: stop the replication thread and join it, serving its calls. */
void checkpoint__stop_thread(struct checkpoint *ck);
void *checkpoint__primary_main(void *arg);
void *checkpoint__synced_main(void *arg);
void *checkpoint__standby_main(void *arg);

#endif
