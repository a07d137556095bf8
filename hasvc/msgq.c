/* A bounded FIFO of packed cluster messages (msgq.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "hasvc/msgq.h"

void msgq__init(struct msgq *q, size_t max_n, size_t max_bytes)
{
	qb_list_init(&q->items);
	q->n = q->bytes = 0;
	q->max_n = max_n;
	q->max_bytes = max_bytes;
}

int msgq__push(struct msgq *q, const Hasvc__Cluster__Msg *m)
{
	size_t len = hasvc__cluster__msg__get_packed_size(m);
	struct msgq_item *it;

	if (q->n >= q->max_n || len > q->max_bytes - q->bytes)
		return -ENOBUFS;
	it = malloc(sizeof(*it) + (len ? len : 1));
	if (!it)
		return -ENOMEM;
	it->len = hasvc__cluster__msg__pack(m, it->buf);
	qb_list_add_tail(&it->list, &q->items);
	q->n++;
	q->bytes += len;
	return 0;
}

const struct msgq_item *msgq__first(const struct msgq *q)
{
	if (qb_list_empty(&q->items))
		return NULL;
	return qb_list_first_entry(&q->items, struct msgq_item, list);
}

void msgq__drop_first(struct msgq *q)
{
	struct msgq_item *it;

	if (qb_list_empty(&q->items))
		return;
	it = qb_list_first_entry(&q->items, struct msgq_item, list);
	qb_list_del(&it->list);
	q->n--;
	q->bytes -= it->len;
	free(it);
}

size_t msgq__drop_if(struct msgq *q, bool (*drop)(const struct msgq_item *, void *), void *arg)
{
	struct msgq_item *it, *next;
	size_t n = 0;

	qb_list_for_each_entry_safe(it, next, &q->items, list) {
		if (!drop(it, arg))
			continue;
		qb_list_del(&it->list);
		q->n--;
		q->bytes -= it->len;
		free(it);
		n++;
	}
	return n;
}

void msgq__clear(struct msgq *q)
{
	while (q->n)
		msgq__drop_first(q);
}
