/*
 * Running a function on the vmm main thread (the qb_loop thread) from
 * another thread, and waiting for its result.
 *
 * Why: vm__hold, vm__release, dirty__start and dirty__stop are main-thread
 * only, and the UART is served from the main loop, so the migration thread
 * asks the main thread to pause, capture the final state and resume, instead
 * of adding locks to the VM.  The request wakes the loop through an eventfd.
 */
#ifndef REPLICATION_MAINTHREAD_H
#define REPLICATION_MAINTHREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <qb/qbloop.h>

struct mt_bridge {
	qb_loop_t *loop;
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*fn)(void *arg);
	void *arg;
	int result;
	bool pending, done, closed;
};

int mainthread__init(struct mt_bridge *b, qb_loop_t *loop);
/* From another thread: fn(arg) on the main thread; -ECANCELED once closed. */
int mainthread__call(struct mt_bridge *b, int (*fn)(void *), void *arg);
/* Main thread: refuse further calls (and fail a pending one), leave the loop. */
void mainthread__close(struct mt_bridge *b);
/*
 * Main thread: wait until *done is set (by another thread, which then calls
 * mainthread__wake), running the calls other threads make meanwhile.  This is how
 * the main thread joins a thread that may itself be waiting in mainthread__call.
 */
void mainthread__serve_until(struct mt_bridge *b, const atomic_bool *done);
/* Any thread: wake a mainthread__serve_until to look at its flag again. */
void mainthread__wake(struct mt_bridge *b);

#endif
