/*
 * Sending one pre-copy round: the pages set in a bitmap, non-zero ones as
 * data, zero ones as ZeroPages lists (the first round skips zero pages: the
 * destination's RAM starts zero).
 *
 * With several data connections, RAM is cut in 1 MiB chunks and chunk k
 * always goes on connection k % N, each sent by its own thread.  A page
 * therefore always travels on the same connection, so its versions from
 * successive rounds (and its zeroing) arrive in order.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "replication/migrate.h"
#include "replication/wire.h"

#define CHUNK_PAGES STREAM_BATCH_PAGES

struct worker {
	struct migrate *m;
	struct chan *c;
	const struct dirty_bitmap *bm;
	unsigned idx, n;
	bool first;
	uint64_t pages, zero, bytes;
	uint64_t bw_bps;            /* this worker's share of the limit, 0: none */
	uint64_t start_ns;
	ZSTD_CCtx *cctx;
	void *scratch;
	size_t scratch_len;
	uint64_t zlist[WIRE_ZERO_BATCH];
	size_t nz;
	int ret;
};

uint64_t migrate__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < STREAM_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

static int flush_zero(struct worker *w)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__ZeroPages z = REPLICATION__ZERO_PAGES__INIT;
	uint64_t before = w->c->bytes_out + w->c->wlen;
	int ret;

	if (!w->nz)
		return 0;
	z.offsets = w->zlist;
	z.n_offsets = w->nz;
	msg.msg_case = REPLICATION__MESSAGE__MSG_ZERO;
	msg.zero = &z;
	ret = wire__write_msg(&w->c->s, &msg);
	w->bytes += w->c->bytes_out + w->c->wlen - before;
	w->nz = 0;
	return ret;
}

static int send_run(struct worker *w, uint64_t first_pg, uint32_t n)
{
	uint64_t off = first_pg * STREAM_PAGE_SIZE;

	w->pages += n;
	return wire__write_pages(&w->c->s, off, vm_port__mem_host(&w->m->port) + off, n, w->cctx,
				 w->scratch, w->scratch_len, &w->bytes);
}

void migrate__pace(uint64_t start_ns, uint64_t bytes, uint64_t bw_bps)
{
	uint64_t due, now;

	if (!bw_bps)
		return;
	due = start_ns + bytes * 1000000000ULL / bw_bps;
	now = migrate__now_ns();
	if (due > now) {
		struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ULL),
				       .tv_nsec = (long)((due - now) % 1000000000ULL) };

		nanosleep(&ts, NULL);
	}
}

static int send_chunk(struct worker *w, uint64_t chunk)
{
	const struct dirty_bitmap *bm = w->bm;
	uint64_t pg = chunk * CHUNK_PAGES, end = pg + CHUNK_PAGES, run = 0;
	uint32_t n = 0;
	int ret;

	if (end > bm->nr_pages)
		end = bm->nr_pages;
	for (; pg < end; pg++) {
		const uint8_t *p = vm_port__mem_host(&w->m->port) + pg * STREAM_PAGE_SIZE;

		if (dirty_bitmap__test(bm, pg) && !page_zero(p)) {
			if (!n)
				run = pg;
			n++;
			continue;
		}
		if (n && (ret = send_run(w, run, n)))
			return ret;
		n = 0;
		if (dirty_bitmap__test(bm, pg) && !w->first) {
			w->zero++;
			w->zlist[w->nz++] = pg * STREAM_PAGE_SIZE;
			if (w->nz == WIRE_ZERO_BATCH && (ret = flush_zero(w)))
				return ret;
		}
	}
	return n ? send_run(w, run, n) : 0;
}

static bool chunk_empty(const struct dirty_bitmap *bm, uint64_t chunk)
{
	const uint64_t *b = bm->bits + chunk * (CHUNK_PAGES / 64);
	uint64_t words = (bm->nr_pages + 63) / 64 - chunk * (CHUNK_PAGES / 64);

	if (words > CHUNK_PAGES / 64)
		words = CHUNK_PAGES / 64;
	for (uint64_t i = 0; i < words; i++)
		if (b[i])
			return false;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct migrate *m = w->m;
	uint64_t nchunks = (w->bm->nr_pages + CHUNK_PAGES - 1) / CHUNK_PAGES;

	w->ret = 0;
	for (uint64_t k = w->idx; k < nchunks && !w->ret; k += w->n) {
		uint64_t p0 = w->pages, z0 = w->zero, b0 = w->bytes;

		if (atomic_load(&m->cancel)) {
			w->ret = -ECANCELED;
			break;
		}
		/* Post-copy asked for: the rest of the round goes after the switch. */
		if (m->p.postcopy && atomic_load(&m->pc_request)) {
			w->ret = -EINTR;
			break;
		}
		if (chunk_empty(w->bm, k))
			continue;
		w->ret = send_chunk(w, k);
		atomic_fetch_add(&m->a_pages, w->pages - p0);
		atomic_fetch_add(&m->a_zero, w->zero - z0);
		atomic_fetch_add(&m->a_bytes, w->bytes - b0);
		{
			uint64_t done = (w->pages - p0 + w->zero - z0) * STREAM_PAGE_SIZE;
			uint64_t rem = atomic_load(&m->a_remaining);

			atomic_store(&m->a_remaining, rem > done ? rem - done : 0);
		}
		migrate__pace(w->start_ns, w->bytes, w->bw_bps);
	}
	if (!w->ret) {
		uint64_t b0 = w->bytes;

		w->ret = flush_zero(w);
		atomic_fetch_add(&m->a_bytes, w->bytes - b0);
	}
	if (!w->ret)
		w->ret = channel__flush(w->c);
	return NULL;
}

int migrate__send_round(struct migrate *m, const struct dirty_bitmap *bm, bool first,
			uint64_t *pages, uint64_t *zero, uint64_t *bytes)
{
	unsigned n = m->nr_data ? m->nr_data : 1;
	struct worker *w = calloc(n, sizeof(*w));
	pthread_t tid[MIGRATE_MAX_CONNECTIONS];
	bool started[MIGRATE_MAX_CONNECTIONS] = { false };
	uint64_t bw = (uint64_t)m->p.bandwidth_mibs << 20;
	int ret = 0;

	if (!w)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		w[i].m = m;
		w[i].c = m->nr_data ? m->data[i] : m->main;
		w[i].bm = bm;
		w[i].idx = i;
		w[i].n = n;
		w[i].first = first;
		w[i].bw_bps = bw / n;
		w[i].start_ns = migrate__now_ns();
		if (m->p.compress) {
			w[i].cctx = ZSTD_createCCtx();
			w[i].scratch_len = wire__scratch_len();
			w[i].scratch = malloc(w[i].scratch_len);
			if (!w[i].cctx || !w[i].scratch)
				ret = -ENOMEM;
		}
	}
	if (!ret && n == 1) {
		worker_main(&w[0]);
	} else if (!ret) {
		for (unsigned i = 0; i < n; i++)
			started[i] = !pthread_create(&tid[i], NULL, worker_main, &w[i]);
		for (unsigned i = 0; i < n; i++) {
			if (started[i])
				pthread_join(tid[i], NULL);
			else
				w[i].ret = -EAGAIN;
		}
	}
	*pages = *zero = *bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!ret && w[i].ret)
			ret = w[i].ret;
		*pages += w[i].pages;
		*zero += w[i].zero;
		*bytes += w[i].bytes;
		ZSTD_freeCCtx(w[i].cctx);
		free(w[i].scratch);
	}
	free(w);
	return ret;
}
