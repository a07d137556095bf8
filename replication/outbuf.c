/* See outbuf.h. */
#include "config.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "replication/outbuf.h"
#include "vmm/vm_port.h"

int outbuf__init(struct outbuf *ob)
{
	ob->notify.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&ob->notify.armed, false);
	return ob->notify.fd < 0 ? -errno : 0;
}

/* The devices outlive the outbuf: none may write the closed fd. */
void outbuf__exit(struct outbuf *ob)
{
	atomic_store(&ob->notify.armed, false);
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++)
		if (ob->sink[k].ops && ob->sink[k].ops->notify)
			ob->sink[k].ops->notify(ob->sink[k].dev, NULL);
	if (ob->notify.fd >= 0)
		close(ob->notify.fd);
	ob->notify.fd = -1;
}

int outbuf__events(const struct outbuf *ob)
{
	return ob->notify.fd;
}

bool outbuf__arm(struct outbuf *ob)
{
	atomic_store(&ob->notify.armed, true);
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++)
		if (outbuf__held(ob, k))
			return true;
	return false;
}

void outbuf__disarm(struct outbuf *ob)
{
	atomic_store(&ob->notify.armed, false);
}

static void set_sink(struct outbuf *ob, struct outbuf_sink *s, const struct outbuf_sink_ops *ops,
		     void *dev)
{
	s->ops = ops;
	s->dev = dev;
	atomic_store(&s->released, 0);
	atomic_store(&s->released_mark, ops ? ops->mark(dev) : 0);
	if (ops)
		ops->hold(dev, true);
	if (ops && ops->notify && ob->notify.fd >= 0)
		ops->notify(dev, &ob->notify);
}

void outbuf__start(struct outbuf *ob, const struct vm_port *port)
{
	if (ob->holding)
		return;
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++) {
		const struct outbuf_sink_ops *ops;
		void *dev;

		port->ops->sink(port->vm, k, &ops, &dev);
		set_sink(ob, &ob->sink[k], ops, dev);
	}
	ob->holding = true;
}

void outbuf__hold_sinks(const struct vm_port *port, bool on)
{
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++) {
		const struct outbuf_sink_ops *ops;
		void *dev;

		port->ops->sink(port->vm, k, &ops, &dev);
		if (ops)
			ops->hold(dev, on);
	}
}

uint64_t outbuf__dropped(const struct vm_port *port, enum outbuf_kind k)
{
	const struct outbuf_sink_ops *ops;
	void *dev;

	port->ops->sink(port->vm, k, &ops, &dev);
	return ops && ops->dropped ? ops->dropped(dev) : 0;
}

uint64_t outbuf__mark(struct outbuf *ob)
{
	uint64_t t = ++ob->tokens;

	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++) {
		const struct outbuf_sink *s = &ob->sink[k];

		ob->marks[t % OUTBUF_MARKS][k] = s->ops ? s->ops->mark(s->dev) : 0;
	}
	return t;
}

static void release(struct outbuf_sink *s, uint64_t mark)
{
	uint64_t was = atomic_load(&s->released_mark);

	if (!s->ops || mark <= was)
		return;
	s->ops->release(s->dev, mark);
	atomic_fetch_add(&s->released, mark - was);
	atomic_store(&s->released_mark, mark);
}

void outbuf__commit(struct outbuf *ob, uint64_t token)
{
	if (!token)
		return;
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++)
		release(&ob->sink[k], ob->marks[token % OUTBUF_MARKS][k]);
}

void outbuf__open(struct outbuf *ob)
{
	if (!ob->holding)
		return;
	ob->holding = false;
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++) {
		struct outbuf_sink *s = &ob->sink[k];

		if (!s->ops)
			continue;
		if (s->ops->notify)
			s->ops->notify(s->dev, NULL);
		release(s, s->ops->mark(s->dev));
		s->ops->hold(s->dev, false);
	}
}

uint64_t outbuf__held(struct outbuf *ob, enum outbuf_kind k)
{
	const struct outbuf_sink *s = &ob->sink[k];

	if (!s->ops || !ob->holding)
		return 0;
	return s->ops->mark(s->dev) - atomic_load(&s->released_mark);
}

uint64_t outbuf__released(struct outbuf *ob, enum outbuf_kind k)
{
	return atomic_load(&ob->sink[k].released);
}
