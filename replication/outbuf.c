/* See outbuf.h. */
#include "config.h"

#include "replication/outbuf.h"
#include "vmm/serial.h"

void outbuf__start(struct outbuf *ob, struct serial *serial)
{
	if (ob->holding)
		return;
	ob->serial = serial;
	atomic_store(&ob->released_bytes, 0);
	ob->released_mark = serial ? serial__tx_mark(serial) : 0;
	if (serial)
		serial__hold(serial, true);
	ob->holding = true;
}

uint64_t outbuf__mark(struct outbuf *ob)
{
	return ob->serial ? serial__tx_mark(ob->serial) : 0;
}

void outbuf__commit(struct outbuf *ob, uint64_t mark)
{
	if (!ob->serial || mark <= ob->released_mark)
		return;
	serial__release(ob->serial, mark);
	atomic_fetch_add(&ob->released_bytes, mark - ob->released_mark);
	ob->released_mark = mark;
}

void outbuf__open(struct outbuf *ob)
{
	if (!ob->holding)
		return;
	ob->holding = false;
	if (ob->serial) {
		outbuf__commit(ob, serial__tx_mark(ob->serial));
		serial__hold(ob->serial, false);
	}
}

uint64_t outbuf__held(struct outbuf *ob)
{
	if (!ob->serial || !ob->holding)
		return 0;
	return serial__tx_mark(ob->serial) - ob->released_mark;
}
