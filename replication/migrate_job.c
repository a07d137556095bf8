/* The migration job object: start, cancel, limits, status (migrate.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/migrate.h"
#include "vmm/vm_hold.h"

int migrate__init(struct migrate *m, const struct vm_port *port, qb_loop_t *loop)
{
	memset(m, 0, sizeof(*m));
	m->port = *port;
	m->loop = loop;
	m->holder = VM_HOLD_MIGRATION;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	atomic_init(&m->cancel, false);
	atomic_init(&m->downtime_ms, MIGRATE_DEFAULT_DOWNTIME_MS);
	atomic_init(&m->throttle_pct, 0);
	return mainthread__init(&m->mt, loop);
}

static int cancel(struct migrate *m, bool even_postcopy);

static void join_threads(struct migrate *m)
{
	if (m->thread_running) {
		pthread_join(m->thread, NULL);
		m->thread_running = false;
	}
	if (m->dr_thread) {
		pthread_join(m->dr_tid, NULL);
		m->dr_thread = false;
	}
}

void migrate__exit(struct migrate *m)
{
	/* Even post-copy: the vmm is going, the pages with it. */
	cancel(m, true);
	pthread_mutex_lock(&m->lock);
	m->dr.measuring = false;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	/* The threads' main-thread calls fail from now on: the loop is ending. */
	mainthread__close(&m->mt);
	join_threads(m);
	if (m->tracking)
		m->port.ops->dirty_stop(m->port.vm);
	migrate__disk_stop(m);
	dirty_bitmap__free(&m->bm);
	dirty_bitmap__free(&m->dbm);
}

const char *migrate__state_name(enum migrate_state s)
{
	switch (s) {
	case MIGRATE_NONE: return "none";
	case MIGRATE_ACTIVE: return "active";
	case MIGRATE_COMPLETED: return "completed";
	case MIGRATE_FAILED: return "failed";
	case MIGRATE_CANCELLED: return "cancelled";
	case MIGRATE_PC_PAUSED: return "postcopy-paused";
	}
	return "unknown";
}

void migrate__tls(const struct migrate_params *p, struct mig_tls *t)
{
	*t = (struct mig_tls){
		.ca = p->tls_ca[0] ? p->tls_ca : NULL,
		.cert = p->tls_cert[0] ? p->tls_cert : NULL,
		.key = p->tls_key[0] ? p->tls_key : NULL,
		.none = p->tls_none,
		.peer = p->tls_peer[0] ? p->tls_peer : NULL,
		.crl = p->tls_crl[0] ? p->tls_crl : NULL,
	};
}

int migrate__start(struct migrate *m, const struct migrate_params *p, char *err, size_t errlen)
{
	const struct vm_disk_ops *dops;
	struct mig_tls tls;
	struct mig_uri u;
	const char *why;
	int ret;

	migrate__tls(p, &tls);
	if (mig_uri__parse(p->uri, &u, &why) || mig_tls__check(&tls, &why)) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (p->copy_disk && (p->postcopy || p->postcopy_after_s)) {
		snprintf(err, errlen, "--copy-disk does not work with post-copy (--postcopy): "
			 "the image would be split between the hosts");
		return -EINVAL;
	}
	if (p->copy_disk && !vm_port__disk(&m->port, &dops)) {
		snprintf(err, errlen, "--copy-disk: this VM has no disk (--disk)");
		return -EINVAL;
	}
	if (p->parallel > MIGRATE_MAX_CONNECTIONS) {
		snprintf(err, errlen, "at most %d parallel connections", MIGRATE_MAX_CONNECTIONS);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	ret = m->info.state == MIGRATE_ACTIVE || m->info.state == MIGRATE_PC_PAUSED ? -EBUSY :
	      m->dr.measuring ? -EAGAIN : 0;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		snprintf(err, errlen, ret == -EBUSY ? "a migration is already running" :
			 "a dirty-rate measurement is running");
		return ret;
	}
	if (vm_port__run_state(&m->port) != VM_PORT_RUNNING &&
	    vm_port__run_state(&m->port) != VM_PORT_PAUSED) {
		snprintf(err, errlen, "the VM is %s", m->port.ops->run_state_name(m->port.vm));
		return -EINVAL;
	}
	join_threads(m);
	if (!m->bm.bits &&
	    (ret = dirty_bitmap__init(&m->bm, vm_port__mem_size(&m->port)))) {
		snprintf(err, errlen, "no memory for the dirty bitmap");
		return ret;
	}
	dirty_bitmap__clear(&m->bm);
	m->p = *p;
	m->p.generation = m->generation;
	atomic_store(&m->cancel, false);
	atomic_store(&m->downtime_ms, p->downtime_ms ? p->downtime_ms : MIGRATE_DEFAULT_DOWNTIME_MS);
	atomic_store(&m->throttle_pct, 0);
	atomic_store(&m->a_bytes, 0);
	atomic_store(&m->a_pages, 0);
	atomic_store(&m->a_zero, 0);
	atomic_store(&m->a_disk, 0);
	atomic_store(&m->a_remaining, 0);
	atomic_store(&m->a_pulled, 0);
	atomic_store(&m->a_pushed, 0);
	atomic_store(&m->pc_request, false);
	m->p.postcopy |= p->postcopy_after_s > 0;
	m->pc_switch = m->pc_committed = m->round1_done = false;
	pthread_mutex_lock(&m->lock);
	memset(&m->info, 0, sizeof(m->info));
	m->info.state = MIGRATE_ACTIVE;
	m->info.start_ns = migrate__now_ns();
	m->info.bytes_total = vm_port__mem_size(&m->port);
	pthread_mutex_unlock(&m->lock);
	ret = pthread_create(&m->thread, NULL, migrate__job_main, m);
	if (ret) {
		pthread_mutex_lock(&m->lock);
		m->info.state = MIGRATE_FAILED;
		snprintf(m->info.error, sizeof(m->info.error), "cannot start a thread");
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(ret));
		return -ret;
	}
	m->thread_running = true;
	return 0;
}

static int cancel(struct migrate *m, bool even_postcopy)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->info.state == MIGRATE_PC_PAUSED && even_postcopy) {
		atomic_store(&m->cancel, true);
		pthread_cond_broadcast(&m->cond);
	} else if (m->info.state != MIGRATE_ACTIVE && m->info.state != MIGRATE_PC_PAUSED) {
		ret = -ENOENT;
	} else if (m->info.postcopy && !even_postcopy) {
		/* The destination runs the guest: only the rest of its pages can follow. */
		ret = -EBUSY;
	} else {
		atomic_store(&m->cancel, true);
		/* Wake the thread from any blocked read or write at once. */
		channel__shutdown(m->main);
		for (unsigned i = 0; i < m->nr_data; i++)
			channel__shutdown(m->data[i]);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int migrate__postcopy(struct migrate *m)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->info.state != MIGRATE_ACTIVE)
		ret = -ENOENT;
	else if (!m->p.postcopy)
		ret = -EINVAL;
	else
		atomic_store(&m->pc_request, true);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int migrate__resume(struct migrate *m, const char *uri, char *err, size_t errlen)
{
	struct mig_uri u;
	const char *why;
	int ret = 0;

	if (mig_uri__parse(uri, &u, &why) || strlen(uri) >= sizeof(m->resume_uri)) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	if (m->info.state != MIGRATE_PC_PAUSED) {
		snprintf(err, errlen, "no post-copy migration waits to be resumed (state %s)",
			 migrate__state_name(m->info.state));
		ret = -ENOENT;
	} else {
		strcpy(m->resume_uri, uri);
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int migrate__cancel(struct migrate *m)
{
	return cancel(m, false);
}

void migrate__set_downtime(struct migrate *m, uint32_t ms)
{
	atomic_store(&m->downtime_ms, ms);
}

void migrate__get_info(struct migrate *m, struct migrate_info *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->info;
	pthread_mutex_unlock(&m->lock);
	if (out->state == MIGRATE_ACTIVE || out->state == MIGRATE_PC_PAUSED) {
		out->bytes_sent = atomic_load(&m->a_bytes);
		out->pages_sent = atomic_load(&m->a_pages);
		out->zero_pages = atomic_load(&m->a_zero);
		out->bytes_remaining = atomic_load(&m->a_remaining);
		out->end_ns = migrate__now_ns();
		out->pages_pulled = atomic_load(&m->a_pulled);
		out->pages_pushed = atomic_load(&m->a_pushed);
		out->disk_bytes_sent = atomic_load(&m->a_disk);
	}
	out->downtime_limit_ms = atomic_load(&m->downtime_ms);
	out->throttle_pct = atomic_load(&m->throttle_pct);
}
