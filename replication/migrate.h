/*
 * Live migration, pre-copy (docs/migration.md).
 *
 * Source: struct migrate is the per-VM job object, owned by the main
 * thread.  migrate__start runs one migration in its own thread; the main
 * thread keeps serving the guest and the control socket.  Whatever fails
 * before the destination's ack, the guest is resumed (if it was running)
 * and keeps running.
 *
 * Destination: migrate__incoming, before the VM starts, receives one
 * migration and applies it only once the final state verified.
 */
#ifndef REPLICATION_MIGRATE_H
#define REPLICATION_MIGRATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <qb/qbloop.h>

#include "replication/channel.h"
#include "replication/mainthread.h"
#include "vmm/vm_port.h"
#include "vmm/dirty.h"


#define MIGRATE_MAX_CONNECTIONS 16
#define MIGRATE_DEFAULT_DOWNTIME_MS 300
#define MIGRATE_DEFAULT_TIMEOUT_MS 10000  /* per read or write on a channel */
#define MIGRATE_MAX_ACK_TIMEOUT_MS 600000 /* a hello's ack_timeout_ms at most */

struct migrate_params {
	char uri[512];
	char tls_ca[1024], tls_cert[1024], tls_key[1024];
	char tls_peer[256];         /* the node the destination must be */
	char tls_crl[1024];         /* "": no revocation list */
	bool tls_none;
	uint32_t downtime_ms;       /* 0: default */
	uint32_t bandwidth_mibs;    /* 0: unlimited */
	uint32_t parallel;          /* data connections; 0 or 1: pages on the main one */
	bool compress;
	uint32_t timeout_s;         /* 0: none; then max_rounds alone */
	uint32_t max_rounds;        /* 0: 30 */
	bool force_on_timeout;      /* else abort */
	bool auto_converge;
	bool then_pause;            /* else the source quits after success */
	bool checkpoint;            /* the sync of checkpointing (checkpoint.h) */
	uint64_t generation;        /* this VM's fencing token, sent in the hello */
	bool check_peer_generation; /* the destination must be at peer_generation */
	uint64_t peer_generation;
	bool postcopy;              /* may switch to post-copy (migrate__postcopy) */
	uint32_t postcopy_after_s;  /* 0: only when asked; else switch after this long */
	bool copy_disk;             /* send the disk image too (local storage) */
	/*
	 * Checkpointing: the primary's wait for an ack (0: the channel's
	 * MIGRATE_DEFAULT_TIMEOUT_MS), sent in the hello: the standby waits
	 * at least as long for the primary before it counts it as lost.
	 */
	uint32_t ack_timeout_ms;
};

/*
 * The fencing rule of an incoming stream (docs/checkpointing.md): with
 * check_peer, the source's generation must be peer_generation exactly;
 * without it, a standby refuses a generation older than its own and a
 * migration destination takes any.  generation (ours) goes back in the
 * replies, and a source that asks for a destination generation gets
 * refused unless it is this one.
 */
struct mig_fence {
	uint64_t generation;
	bool check_peer;
	uint64_t peer_generation;
};

enum migrate_state {
	MIGRATE_NONE,
	MIGRATE_ACTIVE,
	MIGRATE_COMPLETED,
	MIGRATE_FAILED,
	MIGRATE_CANCELLED,
	/* Post-copy's link broke: waiting for migrate__resume (still running). */
	MIGRATE_PC_PAUSED,
};

struct migrate_info {
	enum migrate_state state;
	char error[256];
	uint64_t start_ns, end_ns;
	uint64_t bytes_total;         /* guest RAM */
	uint64_t bytes_sent;          /* on the wire, all connections */
	uint64_t bytes_remaining;     /* dirty pages not sent yet, as bytes */
	uint64_t pages_sent, zero_pages;
	uint64_t pages_per_s;         /* last round */
	uint64_t dirty_pages_per_s;   /* last measured */
	uint64_t bandwidth_bps;       /* last round, bytes/s */
	uint32_t round;
	uint64_t expected_downtime_ms;
	uint64_t downtime_ms;         /* source paused -> destination ack */
	uint32_t throttle_pct;
	uint32_t downtime_limit_ms;
	/* Post-copy: set once the switch-over sent the guest to the destination. */
	bool postcopy;
	uint64_t pages_pulled, pages_pushed;  /* on demand / in the background */
	uint64_t faults, fault_mean_us, fault_p99_us, fault_max_us;  /* destination's */
	uint64_t residence_ms;                /* switch-over -> every page there */
	uint64_t disk_bytes_sent;             /* copy_disk: image bytes sent (zero ranges too) */
};

struct dirtyrate_info {
	bool measuring, done;
	uint32_t seconds;
	uint64_t pages;
	uint64_t pages_per_s;
	char error[128];
};

struct migrate {
	struct vm_port port;  /* the VM, as the engine sees it (vm_port.h) */
	struct mt_bridge mt;
	pthread_t thread;
	bool thread_running;
	pthread_mutex_t lock;         /* info, chans, dirtyrate */
	pthread_cond_t cond;
	struct migrate_info info;
	struct migrate_params p;
	atomic_bool cancel;
	atomic_bool pc_request;       /* switch to post-copy at the next chance */
	atomic_uint_fast64_t a_pulled, a_pushed;
	struct chan *pc_req;          /* post-copy: the destination's page requests */
	bool pc_switch;               /* the switch-over is post-copy's */
	bool pc_committed;            /* the destination runs: no way back */
	bool round1_done;
	bool peer_catch_up;           /* the destination answers a Drain on main */
	uint64_t session;             /* of the first hello; a resume keeps it */
	char resume_uri[512];         /* set by migrate__resume, under lock */
	atomic_uint downtime_ms;
	atomic_uint throttle_pct;
	/* Progress the page senders report as they go (any thread). */
	atomic_uint_fast64_t a_bytes, a_pages, a_zero, a_remaining;
	struct chan *main;
	struct chan *data[MIGRATE_MAX_CONNECTIONS];
	unsigned nr_data;
	struct dirty_bitmap bm;
	/* copy_disk: blocks of the disk image to send (virtio_blk__harvest). */
	struct dirty_bitmap dbm;
	bool disk_tracking;
	atomic_uint_fast64_t a_disk;  /* image bytes sent */
	/* No one held the guest paused at the switch-over: it runs there. */
	bool was_running;
	bool tracking;
	/* The hold the switch-over takes (vm_hold.h), released only on failure. */
	unsigned holder;
	uint64_t generation;          /* this VM's fencing token for the hello */
	/*
	 * The head of the final state (vm_state__save_head), captured on the
	 * main thread at switch-over; final_s keeps its running digest, which
	 * the channel continues over the pages sent from RAM after it.
	 */
	uint8_t *final_buf;
	size_t final_len;
	struct stream final_s;
	uint64_t *final_zero;
	size_t nr_final_zero;
	uint64_t final_pages;
	uint64_t pause_ns;
	/* dirty-rate measurement */
	struct dirtyrate_info dr;
	bool dr_thread;
	pthread_t dr_tid;
	/* auto-converge */
	qb_loop_timer_handle throttle_timer;
	qb_loop_timer_handle quit_timer;
	qb_loop_t *loop;
};

int migrate__init(struct migrate *m, const struct vm_port *port, qb_loop_t *loop);
/* Main thread, at exit: cancel a running migration and wait for it. */
void migrate__exit(struct migrate *m);

/* Main thread.  0, or -EBUSY (one already runs), -EINVAL (bad params). */
/* p's TLS settings, pointing into p ("" fields are not given). */
void migrate__tls(const struct migrate_params *p, struct mig_tls *t);
int migrate__start(struct migrate *m, const struct migrate_params *p, char *err,
		   size_t errlen);
int migrate__cancel(struct migrate *m);
/* Switch a migration started with postcopy to post-copy: 0, -ENOENT, -EINVAL. */
int migrate__postcopy(struct migrate *m);
/* Reconnect a post-copy whose link broke (MIGRATE_PC_PAUSED) to uri. */
int migrate__resume(struct migrate *m, const char *uri, char *err, size_t errlen);
void migrate__set_downtime(struct migrate *m, uint32_t ms);
void migrate__get_info(struct migrate *m, struct migrate_info *out);
const char *migrate__state_name(enum migrate_state s);

/* dirty-rate: start a measurement of `seconds`; then poll with get. */
int migrate__dirtyrate_start(struct migrate *m, uint32_t seconds, char *err, size_t errlen);
void migrate__dirtyrate_get(struct migrate *m, struct dirtyrate_info *out);

/* Internal to the sender (migrate_send.c / migrate_pages.c). */
int migrate__send_round(struct migrate *m, const struct dirty_bitmap *bm, bool first,
			uint64_t *pages, uint64_t *zero, uint64_t *bytes);
uint64_t migrate__now_ns(void);
/*
 * Keep to a bandwidth limit of bw_bps (0: none): sleep until bytes sent
 * since start_ns are due.  Pacing, not waiting for an event.
 */
void migrate__pace(uint64_t start_ns, uint64_t bytes, uint64_t bw_bps);
/*
 * copy_disk (replication/migrate_disk.c).  Main thread: track the image's
 * writes (start: allocates m->dbm; stop).  Migration thread: send_disk
 * sends the blocks set in m->dbm on the main connection (all of them with
 * all set: round 1) and clears them; harvest adds the blocks written since.
 */
int migrate__disk_start(struct migrate *m);
void migrate__disk_stop(struct migrate *m);
void migrate__disk_harvest(struct migrate *m);
int migrate__send_disk(struct migrate *m, bool all, uint64_t *bytes);
uint64_t migrate__disk_dirty(const struct migrate *m);
/*
 * Post-copy, after the destination acknowledged the state and runs the
 * guest: answer its page requests and push every page of m->bm, nearest
 * the last request first (replication/postcopy_src.c).
 */
int postcopy__source(struct migrate *m, uint8_t *buf, char *err, size_t errlen);
/*
 * Connect to m->p.uri: hello, data connections, post-copy's request
 * connection.  After the switch (m->pc_committed) it is a resume: same
 * session, no data connections.
 */
int migrate__connect(struct migrate *m, uint8_t *buf, char *err, size_t errlen);
void *migrate__job_main(void *arg);

/*
 * Checkpointing's initial sync (replication/checkpoint_primary.c), on the
 * caller's thread, with m set up by migrate__init and m->p, m->bm ready:
 * connect, hello (checkpoint, m->p.generation), pre-copy rounds, then the
 * switch-over's whole state, acknowledged by the standby.  On success the
 * main channel stays open (m->main), dirty tracking stays on, and the guest
 * is left held (m->holder): the caller releases it.
 * On failure everything is undone as for a failed migration.
 */
int migrate__checkpoint_sync(struct migrate *m, char *err, size_t errlen);
/* Main thread: tracking off, our hold on the guest released (as on failure). */
int migrate__mt_recover(void *arg);

/*
 * Destination: listen on uri, receive one migration into the port's VM
 * (created, not started), verify and apply it, and acknowledge.
 * 0: start the VM now.  On failure the VM must not run; err says why.  A source the fence
 * refuses is told so at its hello, and the next connection is awaited:
 * a stale or wrong peer cannot take the place of the right one.
 */
int migrate__incoming(const struct vm_port *port, const char *uri,
		      const struct mig_tls *tls, const struct mig_fence *fence, char *err,
		      size_t errlen);

/*
 * The receiver of migrate__incoming(_standby) on a listening socket that
 * the caller made and owns (ctx: TLS, NULL for plaintext; how->uri and
 * how->tls: where post-copy listens again if its link breaks; keep: NULL,
 * or the standby's main channel).  RAM must be all zero.  The seam of the fuzz
 * target tests/fuzz/fuzz_incoming.c, which feeds it over a local socket.
 */
/* What a receiver takes: a migration, or a standby's checkpoint stream. */
struct mig_incoming {
	const char *uri;                /* where post-copy listens again */
	const struct mig_tls *tls;
	bool standby;                   /* the hello must ask for checkpointing */
	const struct mig_fence *fence;
};

int migrate__incoming_fd(const struct vm_port *port, int lfd,
			 struct ssl_ctx_st *ctx, const struct mig_incoming *how, struct chan **keep,
			 char *err, size_t errlen);

/*
 * A checkpointing standby: as migrate__incoming, but the hello must ask for
 * checkpointing, and on success the main channel is handed over in *main
 * (the checkpoints follow on it).
 */
int migrate__incoming_standby(const struct vm_port *port, const char *uri,
			      const struct mig_tls *tls, const struct mig_fence *fence,
			      struct chan **main, char *err, size_t errlen);

#endif
