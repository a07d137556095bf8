/* 16550A UART on COM1 with a host backend: stdio, a file, or a Unix socket. */
#ifndef VMM_SERIAL_H
#define VMM_SERIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <qb/qbloop.h>

#include "vmm/state.pb-c.h"

struct vm;
struct serial;
struct outbuf_notify;

enum serial_kind { SERIAL_NONE, SERIAL_STDIO, SERIAL_FILE, SERIAL_UNIX };

struct serial_cfg {
	enum serial_kind kind;
	const char *path; /* points into the parsed spec */
};

/* "stdio", "none", "file:PATH", "unix:PATH"; *err names what is wrong. */
int serial__parse(const char *spec, struct serial_cfg *cfg, const char **err);

/* Open the backend and register the UART's ports with the VM. */
int serial__create(struct serial **out, struct vm *vm, const struct serial_cfg *cfg);
void serial__destroy(struct serial *s);

/* Input, connections and output flushing are driven from the main loop. */
int serial__attach(struct serial *s, qb_loop_t *loop);

/* Undo serial__attach (before the loop is destroyed). */
void serial__detach(struct serial *s);

/* Back to power-on register values (guest reset); buffered I/O is kept. */
void serial__reset(struct serial *s);

/*
 * Device state for save/restore (vmm/vm_state.c).  serial__save allocates
 * the byte fields: release them with serial__free_saved.  serial__load
 * refuses out-of-range values with -EINVAL.
 */
int serial__save(struct serial *s, Vmm__State__SerialState *st);
void serial__free_saved(Vmm__State__SerialState *st);
int serial__load(struct serial *s, const Vmm__State__SerialState *st);

/*
 * Output commit (replication/outbuf.c).  While held, guest output stays in
 * the UART's buffer and only bytes up to a released mark reach the backend.
 * serial__tx_mark: the count of bytes the guest wrote so far (a mark);
 * serial__release: let everything before mark `upto` out.  serial__hold(s,
 * false) lets everything out.  Any thread.
 */
void serial__hold(struct serial *s, bool on);
uint64_t serial__tx_mark(struct serial *s);
void serial__release(struct serial *s, uint64_t upto);
/* Held output fires n from now on (NULL: none); vmm/vm_port.h. */
void serial__notify(struct serial *s, struct outbuf_notify *n);
/*
 * Held bytes lost because the buffer was full (the guest wrote more than it
 * holds in one epoch with no reader, or ignored a full transmitter): output
 * that never left.  Counted since the vmm started.
 */
uint64_t serial__held_dropped(struct serial *s);
/* Forget the output not written yet (a standby's, at activation). */
void serial__drop_output(struct serial *s);

/* Write out everything buffered (before the vmm exits). */
void serial__flush(struct serial *s);

#endif
