/* See mainthread.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "replication/mainthread.h"

/* With b->lock held: run the pending call, if any (without the lock). */
static void run_pending(struct mt_bridge *b)
{
	int (*fn)(void *) = b->fn;
	void *arg = b->arg;
	int r;

	if (!b->pending)
		return;
	/* fn runs without the lock: it may take the VM's own locks. */
	pthread_mutex_unlock(&b->lock);
	r = fn(arg);
	pthread_mutex_lock(&b->lock);
	b->result = r;
	b->pending = false;
	b->done = true;
	pthread_cond_broadcast(&b->cond);
}

static int on_event(int fd, int revents, void *data)
{
	struct mt_bridge *b = data;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&b->lock);
	run_pending(b);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

int mainthread__init(struct mt_bridge *b, qb_loop_t *loop)
{
	int ret;

	b->loop = loop;
	b->pending = b->done = b->closed = false;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0)
		return -errno;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	ret = qb_loop_poll_add(loop, QB_LOOP_HIGH, b->efd, POLLIN, b, on_event);
	if (ret) {
		close(b->efd);
		b->efd = -1;
	}
	return ret;
}

int mainthread__call(struct mt_bridge *b, int (*fn)(void *), void *arg)
{
	uint64_t one = 1;
	int ret;

	pthread_mutex_lock(&b->lock);
	/* One call at a time: wait for a previous caller's turn to end. */
	while (b->pending && !b->closed)
		pthread_cond_wait(&b->cond, &b->lock);
	if (b->closed) {
		pthread_mutex_unlock(&b->lock);
		return -ECANCELED;
	}
	b->fn = fn;
	b->arg = arg;
	b->pending = true;
	b->done = false;
	/* The main thread may be in mainthread__serve_until rather than in its loop. */
	pthread_cond_broadcast(&b->cond);
	if (write(b->efd, &one, sizeof(one)) < 0) {
		b->pending = false;
		pthread_mutex_unlock(&b->lock);
		return -errno;
	}
	while (!b->done && !b->closed)
		pthread_cond_wait(&b->cond, &b->lock);
	ret = b->done ? b->result : -ECANCELED;
	b->done = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

void mainthread__close(struct mt_bridge *b)
{
	if (b->efd < 0)
		return;
	pthread_mutex_lock(&b->lock);
	b->closed = true;
	b->pending = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	qb_loop_poll_del(b->loop, b->efd);
	close(b->efd);
	b->efd = -1;
}

void mainthread__serve_until(struct mt_bridge *b, const atomic_bool *done)
{
	pthread_mutex_lock(&b->lock);
	while (!atomic_load(done)) {
		if (b->pending && !b->closed)
			run_pending(b);
		else
			pthread_cond_wait(&b->cond, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
}

void mainthread__wake(struct mt_bridge *b)
{
	pthread_mutex_lock(&b->lock);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}
