/* See outbuf.h. */
#include "config.h"

#include "replication/outbuf.h"
#include "vmm/serial.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"

static void serial_hold(void *dev, bool on) { serial__hold(dev, on); }
static uint64_t serial_mark(void *dev) { return serial__tx_mark(dev); }
static void serial_release(void *dev, uint64_t upto) { serial__release(dev, upto); }

static void net_hold(void *dev, bool on) { virtio_net__hold(dev, on); }
static uint64_t net_mark(void *dev) { return virtio_net__tx_mark(dev); }
static void net_release(void *dev, uint64_t upto) { virtio_net__release(dev, upto); }

static const struct outbuf_sink_ops serial_ops = { serial_hold, serial_mark, serial_release };
static const struct outbuf_sink_ops net_ops = { net_hold, net_mark, net_release };

static void set_sink(struct outbuf_sink *s, const struct outbuf_sink_ops *ops, void *dev)
{
	s->ops = dev ? ops : NULL;
	s->dev = dev;
	atomic_store(&s->released, 0);
	atomic_store(&s->released_mark, dev ? ops->mark(dev) : 0);
	if (dev)
		ops->hold(dev, true);
}

void outbuf__start(struct outbuf *ob, struct vm *vm)
{
	if (ob->holding)
		return;
	set_sink(&ob->sink[OUTBUF_SERIAL], &serial_ops, vm->serial);
	set_sink(&ob->sink[OUTBUF_NET], &net_ops, vm->net);
	ob->holding = true;
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
