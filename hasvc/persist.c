/*
 * The replica kept on disk (--state-dir), so that a cluster whose every
 * hasvcd stopped (a power loss, an upgrade of all nodes at once) comes back
 * with what operators asked: stopped and disabled VMs stay so, a VM in
 * `error` stays there, maintenance stays on.
 *
 * After a step changed the replica it is written, at most every SAVE_MS,
 * to DIR/replica (Replica in cluster.proto, the same encoding a State
 * carries) atomically (atomic_file.c).  At
 * start, a file of the configuration this daemon read becomes its replica,
 * marked as read back (d->replica_saved) until a quorate view: in the
 * state exchange a replica of a quorate cluster beats it
 * (sync.c, better()), so a node restarted alone never brings an old state
 * back into a running cluster, and among replicas read back the one with the
 * most quorate events wins, as always.  A file that does not decode, or of
 * another configuration, is not used (said in the log).
 *
 * The whole replica is read back, and every node in it is taken as a node
 * whose hasvcd stopped cleanly (grace.c): not a member, restarting until
 * [cluster] restart_grace_ms from now.  So the VMs are frozen where they
 * were until their nodes return: a node whose vmm processes still run
 * (every hasvcd restarted, an upgrade) adopts and reports them, one whose
 * vmm processes are gone (a power loss) reports none and those VMs boot
 * again; a node that does not return within the grace is lost, fenced,
 * and its VMs go elsewhere.  Nothing is placed twice meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <qb/qblog.h>

#include "hasvc/atomic_file.h"
#include "hasvc/daemon.h"
#include "hasvc/fsm_codec.h"
#include "hasvc/persist.h"

#define SAVE_MS 200
#define STATE_FILE_MAX (64u << 20)

struct persist {
	struct hasvcd *d;
	char path[PATH_MAX];
	bool armed;
	qb_loop_timer_handle timer;
	uint8_t *last;           /* the bytes last written */
	size_t last_len;
	int last_err;            /* of the last write: said once */
};

static void save(struct persist *p)
{
	char err[PATH_MAX + 64];
	uint8_t *buf;
	size_t len;
	int ret;

	if (!p->d->fsm->configured)
		return;
	if (fsm_codec__pack(p->d->fsm, &buf, &len)) {
		qb_log(LOG_ERR, "out of memory: the cluster state is not saved");
		return;
	}
	if (p->last && len == p->last_len && !memcmp(buf, p->last, len)) {
		free(buf);
		return;
	}
	ret = atomic_file__write_bytes(p->path, buf, len, err, sizeof(err));
	if (ret) {
		if (ret != p->last_err)
			qb_log(LOG_ERR, "the cluster state is not saved: %s", err);
		p->last_err = ret;
		free(buf);
		return;
	}
	if (p->last_err)
		qb_log(LOG_NOTICE, "the cluster state is saved in %s again", p->path);
	p->last_err = 0;
	free(p->last);
	p->last = buf;
	p->last_len = len;
}

static void on_timer(void *data)
{
	struct persist *p = data;

	p->armed = false;
	save(p);
}

void persist__changed(struct hasvcd *d)
{
	struct persist *p = d->persist;

	if (!p || p->armed)
		return;
	p->armed = !qb_loop_timer_add(d->loop, QB_LOOP_LOW, SAVE_MS * 1000000ULL, p, on_timer,
				      &p->timer);
	if (!p->armed)
		save(p);
}

/* The file's bytes (malloc'd), or NULL: *err is 0 when there is none. */
static uint8_t *read_file(const char *path, size_t *len, int *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*err = 0;
	if (fd < 0) {
		*err = errno == ENOENT ? 0 : -errno;
		return NULL;
	}
	if (fstat(fd, &st)) {
		*err = -errno;
	} else if (st.st_size <= 0) {
		*err = -ENODATA;   /* "No data available": an empty file */
	} else if ((uint64_t)st.st_size > STATE_FILE_MAX) {
		*err = -EFBIG;
	} else if (!(buf = malloc((size_t)st.st_size))) {
		*err = -ENOMEM;
	} else if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		*err = -EIO;
		free(buf);
		buf = NULL;
	}
	*len = buf ? (size_t)st.st_size : 0;
	close(fd);
	return buf;
}

/* Every node of f as one whose hasvcd stopped cleanly a moment ago. */
static void as_restarting(const struct hasvcd *d, struct fsm *f)
{
	int64_t deadline = hasvcd__wall_ms() + (int64_t)d->conf->restart_grace_ms;

	f->have_view = f->quorate = false;
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];

		if (!n->declared)
			continue;
		n->member = n->ready = n->evacuating = false;
		if (n->gone)
			continue;
		n->restarting = true;
		n->restart_deadline_ms = deadline;
	}
}

/* The saved replica in a new fsm, its nodes restarting, or NULL with why. */
static struct fsm *decode(const struct hasvcd *d, const uint8_t *buf, size_t len, char *why,
			  size_t wlen)
{
	Hasvc__Cluster__Replica *r = hasvc__cluster__replica__unpack(NULL, len, buf);
	struct fsm *old = r ? fsm__new() : NULL, *f = NULL;

	if (!r) {
		snprintf(why, wlen, "not a Replica message");
		return NULL;
	}
	if (!old) {
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	if (fsm_codec__decode(r, old, why, wlen))
		goto out;
	if (!old->configured || memcmp(old->digest, d->conf_digest, sizeof(old->digest))) {
		snprintf(why, wlen, "saved with another configuration than %s", d->config_path);
		goto out;
	}
	as_restarting(d, old);
	if (fsm__check_invariants(old, why, wlen))
		goto out;
	f = old;
	old = NULL;
out:
	fsm__free(old);
	hasvc__cluster__replica__free_unpacked(r, NULL);
	return f;
}

static void load(struct hasvcd *d, struct persist *p)
{
	char why[256];
	size_t len;
	int err;
	uint8_t *buf = read_file(p->path, &len, &err);
	struct fsm *f;

	if (!buf) {
		if (err)
			qb_log(LOG_WARNING, "cannot read the saved cluster state %s: %s: not used",
			       p->path, strerror(-err));
		return;
	}
	f = decode(d, buf, len, why, sizeof(why));
	if (!f) {
		qb_log(LOG_WARNING, "the saved cluster state %s: %s: not used", p->path, why);
		free(buf);
		return;
	}
	fsm__free(d->fsm);
	d->fsm = f;
	d->replica_saved = true;
	free(buf);
	qb_log(LOG_NOTICE, "read the cluster state saved in %s (%llu quorate events): it "
	       "counts until a quorate cluster's state replaces it", p->path,
	       (unsigned long long)f->quorate_events);
}

int persist__start(struct hasvcd *d)
{
	struct persist *p;

	if (!d->state_dir) {
		qb_log(LOG_NOTICE, "no --state-dir: what operators asked (stopped, disabled, "
		       "error, maintenance) is forgotten when every node's hasvcd stops");
		return 0;
	}
	if (mkdir(d->state_dir, 0700) && errno != EEXIST) {
		qb_log(LOG_ERR, "cannot make the state directory %s: %s", d->state_dir,
		       strerror(errno));
		return -errno;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = d;
	if (snprintf(p->path, sizeof(p->path), "%s/replica", d->state_dir) >=
	    (int)sizeof(p->path)) {
		qb_log(LOG_ERR, "the state directory's name is too long: %s", d->state_dir);
		free(p);
		return -ENAMETOOLONG;
	}
	d->persist = p;
	load(d, p);
	return 0;
}

void persist__stop(struct hasvcd *d)
{
	struct persist *p = d->persist;

	if (!p)
		return;
	if (p->armed)
		qb_loop_timer_del(d->loop, p->timer);
	/* A daemon that failed may hold a replica that differs: not saved. */
	if (!d->failed)
		save(p);
	free(p->last);
	free(p);
	d->persist = NULL;
}
