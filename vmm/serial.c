/*
 * 16550A UART.  Register accesses come from vCPU threads, backend I/O from
 * the main loop; one mutex guards the device.  Output is written straight to
 * the backend when it can take it; what it cannot take is buffered, and a
 * full buffer clears THRE so that the guest waits (flow control through the
 * line status register, as a real UART does).
 *
 * The flush timer runs only while it has work (flush_needed): an idle guest
 * costs the main loop no wake-up at all.  A tick asked for from another
 * thread goes through kick_fd, since only the main loop may add its timers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/guest_abi.h"
#include "vmm/ratelimit.h"
#include "vmm/serial.h"
#include "vmm/vm.h"
#include "vmm/vm_port.h"

#define RX_SIZE 4096
#define TX_SIZE (64 * 1024)
#define FLUSH_MS 5

/* Register bits (the 16550A data sheet's names). */
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_IDLE 0xb0 /* DCD, DSR, CTS */

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	struct serial_cfg cfg;
	int in_fd, out_fd, listen_fd;
	qb_loop_t *loop;
	qb_loop_timer_handle flush_timer;
	int kick_fd;            /* asks the main loop to start the flush timer */
	bool flush_armed;       /* a tick is due (timer set, or kick_fd written) */
	bool timer_set;         /* the timer is in the loop (main loop only) */
	bool input_polled;
	bool input_paused;      /* rx was full: polling stopped until a tick */
	struct termios saved_tio;
	bool tio_saved;

	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;
	int irq_level;

	uint8_t rx[RX_SIZE];
	unsigned rx_head, rx_len;
	uint8_t tx[TX_SIZE];
	unsigned tx_len;
	uint64_t tx_dropped;
	/*
	 * Output commit (checkpointing): while hold is set, only the bytes up
	 * to released_seq leave for the backend.  tx_seq counts every byte the
	 * guest ever wrote, so the first byte in tx is number tx_seq - tx_len.
	 */
	bool hold;
	uint64_t tx_seq, released_seq;
	/* Held bytes (never released) lost to a full buffer: in protect-status. */
	uint64_t held_dropped;
	struct outbuf_notify *notify;   /* held output wakes the engine */
	struct ratelimit log;
};

int serial__parse(const char *spec, struct serial_cfg *cfg, const char **err)
{
	if (!strcmp(spec, "stdio")) {
		*cfg = (struct serial_cfg){ SERIAL_STDIO, NULL };
	} else if (!strcmp(spec, "none")) {
		*cfg = (struct serial_cfg){ SERIAL_NONE, NULL };
	} else if (!strncmp(spec, "file:", 5) && spec[5]) {
		*cfg = (struct serial_cfg){ SERIAL_FILE, spec + 5 };
	} else if (!strncmp(spec, "unix:", 5) && spec[5]) {
		if (strlen(spec + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			*err = "the Unix socket path is too long";
			return -ENAMETOOLONG;
		}
		*cfg = (struct serial_cfg){ SERIAL_UNIX, spec + 5 };
	} else {
		*err = "expected stdio, none, file:PATH or unix:PATH";
		return -EINVAL;
	}
	return 0;
}

static void update_irq(struct serial *s)
{
	int level = ((s->ier & IER_RDI) && s->rx_len) || ((s->ier & IER_THRI) && s->thri_pending);
	struct kvm_irq_level irq = { .irq = GUEST_ABI_COM1_IRQ, .level = (uint32_t)level };

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	ioctl(s->vm->vm_fd, KVM_IRQ_LINE, &irq);
}

/* How many buffered bytes may leave (all but the held ones). */
static unsigned tx_allowed(const struct serial *s)
{
	uint64_t head = s->tx_seq - s->tx_len;

	if (!s->hold)
		return s->tx_len;
	return s->released_seq <= head ? 0 :
	       s->released_seq - head < s->tx_len ? (unsigned)(s->released_seq - head) :
	       s->tx_len;
}

/* Write what the backend takes now; keep the rest. Called with the lock held. */
static void tx_drain(struct serial *s)
{
	unsigned done = 0;
	unsigned allowed = tx_allowed(s);

	if (s->out_fd < 0) {
		if (s->cfg.kind != SERIAL_UNIX) {
			/* no backend: output is discarded (once released) */
			memmove(s->tx, s->tx + allowed, s->tx_len - allowed);
			s->tx_len -= allowed;
		}
		return;
	}
	while (done < allowed) {
		ssize_t n = write(s->out_fd, s->tx + done, allowed - done);

		if (n <= 0)
			break;
		done += (unsigned)n;
	}
	memmove(s->tx, s->tx + done, s->tx_len - done);
	s->tx_len -= done;
}

static bool thr_empty(const struct serial *s)
{
	/* With a live backend a full buffer means "wait"; without one, never. */
	return s->tx_len < TX_SIZE || s->out_fd < 0;
}

/*
 * What a flush tick would do now: write output the backend refused (it was
 * full), raise THRI again for a guest that acknowledged it with the
 * transmitter still empty and THRI enabled (every FLUSH_MS, as the old
 * free-running tick did: the guest sees no difference), or poll input again
 * once the guest has read from a full rx buffer.
 */
static bool flush_needed(const struct serial *s)
{
	return (s->out_fd >= 0 && tx_allowed(s)) ||
	       ((s->ier & IER_THRI) && !s->thri_pending && thr_empty(s)) ||
	       (s->input_paused && s->rx_len < RX_SIZE);
}

static void flush_tick(void *data);

/* Set the flush timer if it has work; on_loop: called from the main loop. */
static void flush_soon(struct serial *s, bool on_loop)
{
	uint64_t one = 1;

	if (s->flush_armed || !s->loop || !flush_needed(s))
		return;
	s->flush_armed = true;
	if (!on_loop) {
		/* The loop adds it (flush_kicked); a full counter is a pending kick too. */
		if (write(s->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			s->flush_armed = false;
		return;
	}
	if (qb_loop_timer_add(s->loop, QB_LOOP_LOW, FLUSH_MS * QB_TIME_NS_IN_MSEC, s,
			      flush_tick, &s->flush_timer) == 0)
		s->timer_set = true;
	else
		s->flush_armed = false;
}

static void tx_byte(struct serial *s, uint8_t b)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_len < RX_SIZE)
			s->rx[(s->rx_head + s->rx_len++) % RX_SIZE] = b;
		return;
	}
	if (s->tx_len == TX_SIZE) {
		/* Nobody connected to the socket: keep the newest output. */
		if (s->hold && s->tx_seq - s->tx_len >= s->released_seq) {
			s->held_dropped++;
			ratelimit_log(&s->log, LOG_WARNING, "serial: held output dropped: the "
				      "%u-byte buffer is full (%llu bytes so far)", TX_SIZE,
				      (unsigned long long)s->held_dropped);
		}
		memmove(s->tx, s->tx + 1, TX_SIZE - 1);
		s->tx_len--;
		s->tx_dropped++;
	}
	s->tx[s->tx_len++] = b;
	s->tx_seq++;
	tx_drain(s);
	if (s->hold)
		outbuf_notify__fire(s->notify);
}

void serial__hold(struct serial *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	s->hold = on;
	/* What is buffered when the hold starts was produced unprotected. */
	s->released_seq = s->tx_seq;
	tx_drain(s);
	flush_soon(s, false);
	pthread_mutex_unlock(&s->lock);
}

void serial__notify(struct serial *s, struct outbuf_notify *n)
{
	pthread_mutex_lock(&s->lock);
	s->notify = n;
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial__held_dropped(struct serial *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->held_dropped;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial__drop_output(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	s->tx_len = 0;
	flush_soon(s, false);   /* the transmitter may be empty again */
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial__tx_mark(struct serial *s)
{
	uint64_t seq;

	pthread_mutex_lock(&s->lock);
	seq = s->tx_seq;
	pthread_mutex_unlock(&s->lock);
	return seq;
}

void serial__release(struct serial *s, uint64_t upto)
{
	pthread_mutex_lock(&s->lock);
	if (upto > s->released_seq)
		s->released_seq = upto;
	tx_drain(s);
	flush_soon(s, false);
	pthread_mutex_unlock(&s->lock);
}

static uint8_t reg_read(struct serial *s, unsigned off)
{
	uint8_t v = 0;

	switch (off) {
	case 0:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_SIZE;
			s->rx_len--;
		}
		return v;
	case 1:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case 2:
		v = (s->fcr & 1) ? IIR_FIFO : 0;
		if ((s->ier & IER_RDI) && s->rx_len)
			return v | IIR_RDI;
		if ((s->ier & IER_THRI) && s->thri_pending) {
			s->thri_pending = false; /* reading IIR acknowledges THRI */
			return v | IIR_THRI;
		}
		return v | IIR_NO_INT;
	case 3:
		return s->lcr;
	case 4:
		return s->mcr;
	case 5:
		return (s->rx_len ? LSR_DR : 0) | (thr_empty(s) ? LSR_THRE | LSR_TEMT : 0);
	case 6:
		return (s->mcr & MCR_LOOP) ? (uint8_t)((s->mcr & 0x0c) << 4 | (s->mcr & 0x3) << 4)
					   : MSR_IDLE;
	default:
		return s->scr;
	}
}

static void reg_write(struct serial *s, unsigned off, uint8_t v)
{
	switch (off) {
	case 0:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		tx_byte(s, v);
		s->thri_pending = thr_empty(s);
		return;
	case 1:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		/* Enabling THRI with an empty THR raises it at once, as the chip does. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI) && thr_empty(s))
			s->thri_pending = true;
		s->ier = v & 0x0f;
		return;
	case 2:
		s->fcr = v & 0xc9;
		if (v & 0x02) {
			s->rx_len = 0;
			s->rx_head = 0;
		}
		return;
	case 3:
		s->lcr = v;
		return;
	case 4:
		s->mcr = v & 0x1f;
		return;
	case 7:
		s->scr = v;
		return;
	default:
		return; /* LSR and MSR are read-only */
	}
}

static void serial_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		      bool is_write, void *opaque)
{
	struct serial *s = opaque;
	unsigned off = (unsigned)(addr - GUEST_ABI_COM1_PORT);

	pthread_mutex_lock(&s->lock);
	if (is_write)
		reg_write(s, off, data[0]);
	else
		data[0] = reg_read(s, off);
	if (len > 1 && !is_write)
		memset(data + 1, 0, len - 1);
	update_irq(s);
	flush_soon(s, false);
	pthread_mutex_unlock(&s->lock);
}

void serial__reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->dlm = 0;
	s->dll = 0x0c; /* 9600 baud */
	s->thri_pending = false;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static int open_unix(struct serial *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	strcpy(sa.sun_path, s->cfg.path); /* length checked in serial__parse */
	/* Replace a stale socket from an earlier run, never a regular file. */
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	s->listen_fd = fd;
	return 0;
}

static void stdio_raw(struct serial *s)
{
	struct termios t;

	/* Pass keystrokes (Ctrl-C included) to the guest, like a terminal would. */
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved_tio) < 0)
		return;
	s->tio_saved = true;
	t = s->saved_tio;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR;
	t.c_lflag |= ISIG; /* keep Ctrl-C as a way out of the vmm */
	tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static int open_backend(struct serial *s)
{
	switch (s->cfg.kind) {
	case SERIAL_STDIO:
		s->in_fd = STDIN_FILENO;
		s->out_fd = STDOUT_FILENO;
		stdio_raw(s);
		return 0;
	case SERIAL_FILE:
		s->out_fd = open(s->cfg.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		return s->out_fd < 0 ? -errno : 0;
	case SERIAL_UNIX:
		return open_unix(s);
	default:
		return 0;
	}
}

int serial__create(struct serial **out, struct vm *vm, const struct serial_cfg *cfg)
{
	struct serial *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->cfg = *cfg;
	s->in_fd = s->out_fd = s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	ratelimit__init(&s->log, RATELIMIT_GUEST_BURST, RATELIMIT_GUEST_PER_SEC);
	s->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = s->kick_fd < 0 ? -errno : open_backend(s);
	if (ret)
		goto err;
	ret = iotrap__register(&vm->io, IOTRAP_PIO, GUEST_ABI_COM1_PORT, 8, serial_io, s);
	if (ret)
		goto err;
	serial__reset(s);
	*out = s;
	return 0;
err:
	serial__destroy(s);
	return ret;
}

static void drop_client(struct serial *s)
{
	if (s->input_polled)
		qb_loop_poll_del(s->loop, s->in_fd);
	s->input_polled = s->input_paused = false;
	close(s->in_fd);
	s->in_fd = s->out_fd = -1;
}

static int input_ready(int fd, int revents, void *data)
{
	struct serial *s = data;
	ssize_t n = 0;

	pthread_mutex_lock(&s->lock);
	if (s->rx_len < RX_SIZE) {
		unsigned tail = (s->rx_head + s->rx_len) % RX_SIZE;
		unsigned room = RX_SIZE - s->rx_len;

		if (room > RX_SIZE - tail)
			room = RX_SIZE - tail;
		n = read(fd, s->rx + tail, room);
		if (n > 0)
			s->rx_len += (unsigned)n;
	} else if (!(revents & (POLLHUP | POLLERR))) {
		/* Guest not reading: stop polling until it drains (flush timer). */
		qb_loop_poll_mod(s->loop, QB_LOOP_MED, fd, 0, s, input_ready);
		s->input_paused = true;
		flush_soon(s, true);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (s->cfg.kind == SERIAL_UNIX)
			drop_client(s);
		else if (s->input_polled) {
			qb_loop_poll_del(s->loop, fd); /* stdin closed */
			s->input_polled = s->input_paused = false;
		}
	}
	update_irq(s);
	flush_soon(s, true);    /* a dropped client empties the transmitter */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int accept_ready(int fd, int revents, void *data)
{
	struct serial *s = data;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (c < 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->in_fd >= 0) {
		/* One client at a time, as with QEMU's socket chardev. */
		qb_log(LOG_WARNING, "serial: refusing a second client on %s", s->cfg.path);
		close(c);
	} else {
		s->in_fd = s->out_fd = c;
		s->input_polled = qb_loop_poll_add(s->loop, QB_LOOP_MED, c, POLLIN, s,
						   input_ready) == 0;
		tx_drain(s); /* what the guest said while nobody listened */
		update_irq(s);
		flush_soon(s, true);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void flush_tick(void *data)
{
	struct serial *s = data;

	pthread_mutex_lock(&s->lock);
	s->timer_set = s->flush_armed = false;
	tx_drain(s);
	if (s->thri_pending == false && thr_empty(s) && (s->ier & IER_THRI))
		s->thri_pending = true;
	if (s->input_paused && s->rx_len < RX_SIZE) {
		qb_loop_poll_mod(s->loop, QB_LOOP_MED, s->in_fd, POLLIN, s, input_ready);
		s->input_paused = false;
	}
	update_irq(s);
	flush_soon(s, true);
	pthread_mutex_unlock(&s->lock);
}

/* Another thread asked for a tick (flush_soon): start the timer here. */
static int flush_kicked(int fd, int revents, void *data)
{
	struct serial *s = data;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->flush_armed && !s->timer_set) {
		s->flush_armed = false;
		flush_soon(s, true);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* epoll refuses regular files and /dev/null; stdin may be either. */
static bool pollable(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok;

	if (ep < 0)
		return false;
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return ok;
}

int serial__attach(struct serial *s, qb_loop_t *loop)
{
	int ret = 0;

	s->loop = loop;
	if (s->cfg.kind == SERIAL_STDIO) {
		fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
		if (pollable(s->in_fd))
			s->input_polled = qb_loop_poll_add(loop, QB_LOOP_MED, s->in_fd, POLLIN, s,
							   input_ready) == 0;
	} else if (s->cfg.kind == SERIAL_UNIX) {
		ret = qb_loop_poll_add(loop, QB_LOOP_MED, s->listen_fd, POLLIN, s, accept_ready);
	}
	if (!ret)
		ret = qb_loop_poll_add(loop, QB_LOOP_MED, s->kick_fd, POLLIN, s, flush_kicked);
	if (ret)
		return ret;
	/* State restored before the loop existed may have work already. */
	pthread_mutex_lock(&s->lock);
	s->flush_armed = false;
	flush_soon(s, true);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void serial__flush(struct serial *s)
{
	if (s->out_fd >= 0)
		fcntl(s->out_fd, F_SETFL, fcntl(s->out_fd, F_GETFL) & ~O_NONBLOCK);
	pthread_mutex_lock(&s->lock);
	tx_drain(s);
	pthread_mutex_unlock(&s->lock);
}

void serial__detach(struct serial *s)
{
	if (!s || !s->loop)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->timer_set)
		qb_loop_timer_del(s->loop, s->flush_timer);
	s->timer_set = s->flush_armed = false;
	qb_loop_poll_del(s->loop, s->kick_fd);
	if (s->cfg.kind == SERIAL_UNIX)
		qb_loop_poll_del(s->loop, s->listen_fd);
	if (s->input_polled)
		qb_loop_poll_del(s->loop, s->in_fd);
	s->input_polled = s->input_paused = false;
	s->loop = NULL;
	pthread_mutex_unlock(&s->lock);
}

void serial__destroy(struct serial *s)
{
	if (!s)
		return;
	serial__detach(s);
	if (s->tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved_tio);
	if (s->cfg.kind == SERIAL_STDIO)
		fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) & ~O_NONBLOCK);
	else if (s->in_fd >= 0 && s->in_fd != s->out_fd)
		close(s->in_fd);
	if (s->cfg.kind != SERIAL_STDIO && s->out_fd >= 0)
		close(s->out_fd);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->cfg.path);
	}
	if (s->kick_fd >= 0)
		close(s->kick_fd);
	pthread_mutex_destroy(&s->lock);
	ratelimit__destroy(&s->log);
	free(s);
}

int serial__save(struct serial *s, Vmm__State__SerialState *st)
{
	uint8_t *rx = malloc(RX_SIZE), *tx = malloc(TX_SIZE);

	if (!rx || !tx) {
		free(rx);
		free(tx);
		return -ENOMEM;
	}
	vmm__state__serial_state__init(st);
	pthread_mutex_lock(&s->lock);
	st->ier = s->ier;
	st->lcr = s->lcr;
	st->mcr = s->mcr;
	st->scr = s->scr;
	st->fcr = s->fcr;
	st->dll = s->dll;
	st->dlm = s->dlm;
	st->thri_pending = s->thri_pending;
	for (unsigned i = 0; i < s->rx_len; i++)
		rx[i] = s->rx[(s->rx_head + i) % RX_SIZE];
	memcpy(tx, s->tx, s->tx_len);
	st->rx = (ProtobufCBinaryData){ s->rx_len, rx };
	st->tx = (ProtobufCBinaryData){ s->tx_len, tx };
	st->tx_dropped = s->tx_dropped;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void serial__free_saved(Vmm__State__SerialState *st)
{
	free(st->rx.data);
	free(st->tx.data);
	st->rx = st->tx = (ProtobufCBinaryData){ 0, NULL };
}

int serial__load(struct serial *s, const Vmm__State__SerialState *st)
{
	/* Registers are 8 bits wide; the buffers are bounded by the device's. */
	if (st->ier > 0xff || st->lcr > 0xff || st->mcr > 0xff || st->scr > 0xff ||
	    st->fcr > 0xff || st->dll > 0xff || st->dlm > 0xff ||
	    st->rx.len > RX_SIZE || st->tx.len > TX_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = (uint8_t)st->ier & 0x0f;
	s->lcr = (uint8_t)st->lcr;
	s->mcr = (uint8_t)st->mcr & 0x1f;
	s->scr = (uint8_t)st->scr;
	s->fcr = (uint8_t)st->fcr;
	s->dll = (uint8_t)st->dll;
	s->dlm = (uint8_t)st->dlm;
	s->thri_pending = st->thri_pending;
	s->rx_head = 0;
	s->rx_len = (unsigned)st->rx.len;
	if (st->rx.len)
		memcpy(s->rx, st->rx.data, st->rx.len);
	/* Output the guest already wrote still has to reach this backend. */
	s->tx_len = (unsigned)st->tx.len;
	if (st->tx.len)
		memcpy(s->tx, st->tx.data, st->tx.len);
	s->tx_seq += st->tx.len;
	s->tx_dropped = st->tx_dropped;
	s->irq_level = -1; /* force the line to the restored level */
	update_irq(s);
	tx_drain(s);
	flush_soon(s, false);
	pthread_mutex_unlock(&s->lock);
	return 0;
}
