/*
 * dirty-rate: how fast the guest dirties memory, like virsh
 * domdirtyrate-calc: tracking on, wait `seconds`, count the pages harvested,
 * tracking off.  Runs in its own thread so the control call returns at once;
 * the client polls for the result.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "replication/migrate.h"

static int mt_dirty_start(void *arg)
{
	struct migrate *m = arg;
	int ret = m->port.ops->dirty_start(m->port.vm);

	m->tracking = !ret;
	return ret;
}

static int mt_dirty_stop(void *arg)
{
	struct migrate *m = arg;

	if (m->tracking)
		m->port.ops->dirty_stop(m->port.vm);
	m->tracking = false;
	return 0;
}

static void *measure(void *arg)
{
	struct migrate *m = arg;
	uint64_t t0, t1, pages = 0;
	struct timespec until;
	int ret = mainthread__call(&m->mt, mt_dirty_start, m);

	t0 = migrate__now_ns();
	if (!ret) {
		/* Wait the period out, or until migrate__exit ends the measurement. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += m->dr.seconds;
		pthread_mutex_lock(&m->lock);
		while (m->dr.measuring &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&m->lock);
		ret = m->port.ops->dirty_harvest(m->port.vm, &m->bm);
		pages = dirty_bitmap__count(&m->bm);
		mainthread__call(&m->mt, mt_dirty_stop, m);
	}
	t1 = migrate__now_ns();
	pthread_mutex_lock(&m->lock);
	m->dr.pages = pages;
	m->dr.pages_per_s = pages * 1000000000ULL / (t1 - t0 + 1);
	if (ret)
		snprintf(m->dr.error, sizeof(m->dr.error), "%s", strerror(-ret));
	m->dr.measuring = false;
	m->dr.done = true;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int migrate__dirtyrate_start(struct migrate *m, uint32_t seconds, char *err, size_t errlen)
{
	int ret;

	if (seconds < 1 || seconds > 60) {
		snprintf(err, errlen, "the measurement period must be 1 to 60 seconds");
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	ret = m->info.state == MIGRATE_ACTIVE || m->dr.measuring ? -EBUSY : 0;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		snprintf(err, errlen, "a migration or a measurement is running");
		return ret;
	}
	if (m->dr_thread) {
		pthread_join(m->dr_tid, NULL);
		m->dr_thread = false;
	}
	if (!m->bm.bits && (ret = dirty_bitmap__init(&m->bm, vm_port__mem_size(&m->port))))
		return ret;
	dirty_bitmap__clear(&m->bm);
	pthread_mutex_lock(&m->lock);
	memset(&m->dr, 0, sizeof(m->dr));
	m->dr.measuring = true;
	m->dr.seconds = seconds;
	pthread_mutex_unlock(&m->lock);
	ret = pthread_create(&m->dr_tid, NULL, measure, m);
	if (ret) {
		m->dr.measuring = false;
		snprintf(err, errlen, "cannot start a thread");
		return -ret;
	}
	m->dr_thread = true;
	return 0;
}

void migrate__dirtyrate_get(struct migrate *m, struct dirtyrate_info *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->dr;
	pthread_mutex_unlock(&m->lock);
}
