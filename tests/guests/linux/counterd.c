/*
 * counterd: the service of the Linux test guest.  It speaks the counter
 * protocol of the net test guest (tests/guests/net.c, tests/virtio/udpclient.py)
 * on a real Linux UDP socket, and makes every counted update durable before
 * answering it: a line "CLIENT SEQ VALUE" appended to its log file and
 * fsync'd.  So an acknowledged update must survive a migration, a restore
 * or a failover twice over: in the service's memory and in the guest's file
 * system.
 *
 * Requests (16 bytes, little-endian): magic u32, client u32, seq u64.
 *   COUNT: seq == last + 1 for this client counts (the log line is written
 *          and synced first); seq == last answers the value given then; any
 *          other seq gets status 1 (value = the client's last seq).
 *   ECHO:  answered at once with value 0.
 *   TIME:  value = the guest's wall clock (CLOCK_REALTIME) in ms, so that a
 *          test sees the clock moved on across a save, migration or failover.
 *   CHECK: the log is read back from the file system; status 0 when it
 *          holds this client's updates 1..seq, each once, in order, with
 *          values rising, value = how many; else status 2 and value = the
 *          first seq missing or out of place.
 * Reply (24 bytes): magic u32, status u32, seq u64, value u64.
 *
 * Usage: counterd PORT LOGFILE.  At start the counter and the clients are
 * rebuilt from the log (a guest booted afresh goes on from its disk).
 * "counterd ready port=P value=V" on stdout once it serves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC_COUNT 0x544e4355u /* "UCNT" */
#define MAGIC_ECHO 0x4f484345u  /* "ECHO" */
#define MAGIC_CHECK 0x4b454843u /* "CHEK" */
#define MAGIC_TIME 0x454d4954u  /* "TIME" */
#define NCLIENTS 16

struct client {
	uint32_t id;
	uint64_t seq, value, used;
};

struct counterd {
	int log_fd;
	const char *log_path;
	uint64_t counter, uses;
	struct client clients[NCLIENTS];
};

/* The client's slot; a new one takes the least recently used. */
static struct client *client(struct counterd *d, uint32_t id)
{
	struct client *c = &d->clients[0];

	for (int i = 0; i < NCLIENTS; i++) {
		if (d->clients[i].used && d->clients[i].id == id) {
			d->clients[i].used = ++d->uses;
			return &d->clients[i];
		}
		if (d->clients[i].used < c->used)
			c = &d->clients[i];
	}
	*c = (struct client){ id, 0, 0, ++d->uses };
	return c;
}

static int append(struct counterd *d, uint32_t id, uint64_t seq, uint64_t value)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%" PRIu32 " %" PRIu64 " %" PRIu64 "\n", id, seq,
			 value);

	if (write(d->log_fd, line, (size_t)n) != n || fsync(d->log_fd)) {
		perror("counterd: log");
		return -1;
	}
	return 0;
}

/* Calls fn on every line of the log file as read now from the file system. */
static int each_line(const char *path, void (*fn)(void *, uint32_t, uint64_t, uint64_t),
		     void *arg)
{
	FILE *f = fopen(path, "re");
	uint32_t id;
	uint64_t seq, value;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (fscanf(f, "%" SCNu32 " %" SCNu64 " %" SCNu64, &id, &seq, &value) == 3)
		fn(arg, id, seq, value);
	fclose(f);
	return 0;
}

static void replay(void *arg, uint32_t id, uint64_t seq, uint64_t value)
{
	struct counterd *d = arg;
	struct client *c = client(d, id);

	c->seq = seq;
	c->value = value;
	if (value > d->counter)
		d->counter = value;
}

struct check {
	uint32_t id;
	uint64_t want, last_value, bad_at;
};

/* One pass: this client's lines must be 1, 2, 3 ... with rising values. */
static void check_line(void *arg, uint32_t id, uint64_t seq, uint64_t value)
{
	struct check *k = arg;

	if (id != k->id || k->bad_at)
		return;
	if (seq != k->want || value <= k->last_value) {
		k->bad_at = seq < k->want ? seq : k->want; /* written twice, or a gap */
		return;
	}
	k->want++;
	k->last_value = value;
}

/* 0 and seq when updates 1..seq are all there once in order; else 2. */
static uint32_t check(struct counterd *d, uint32_t id, uint64_t seq, uint64_t *value)
{
	struct check k = { id, 1, 0, 0 };

	if (each_line(d->log_path, check_line, &k)) {
		*value = 0;
		return 2;
	}
	if (!k.bad_at && k.want <= seq)
		k.bad_at = k.want;
	*value = k.bad_at && k.bad_at <= seq ? k.bad_at : seq;
	return k.bad_at && k.bad_at <= seq ? 2 : 0;
}

static uint32_t count(struct counterd *d, uint32_t id, uint64_t seq, uint64_t *value)
{
	struct client *c = client(d, id);

	if (seq == c->seq + 1) {
		if (append(d, id, seq, d->counter + 1))
			return 3; /* not durable: not counted, not acknowledged */
		c->seq = seq;
		c->value = ++d->counter;
	} else if (seq != c->seq || !seq) {
		*value = c->seq;
		return 1;
	}
	*value = c->value;
	return 0;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The reply to a request; false: not one of ours. */
static bool serve(struct counterd *d, const uint8_t *q, uint8_t *a)
{
	uint32_t magic, id, status = 0;
	uint64_t seq, value = 0;

	memcpy(&magic, q, 4);
	memcpy(&id, q + 4, 4);
	memcpy(&seq, q + 8, 8);
	if (magic == MAGIC_COUNT)
		status = count(d, id, seq, &value);
	else if (magic == MAGIC_CHECK)
		status = check(d, id, seq, &value);
	else if (magic == MAGIC_TIME)
		value = wall_ms();
	else if (magic != MAGIC_ECHO)
		return false;
	memcpy(a, &magic, 4);
	memcpy(a + 4, &status, 4);
	memcpy(a + 8, &seq, 8);
	memcpy(a + 16, &value, 8);
	return true;
}

static int open_socket(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		perror("counterd: socket");
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct counterd d = { 0 };
	struct sockaddr_storage from;
	socklen_t fl;
	uint8_t q[64], a[24];
	unsigned port;
	int fd;

	if (argc != 3 || !(port = (unsigned)atoi(argv[1])) || port > 65535) {
		fprintf(stderr, "usage: counterd PORT LOGFILE\n");
		return 2;
	}
	d.log_path = argv[2];
	if (each_line(d.log_path, replay, &d)) {
		perror("counterd: reading the log");
		return 1;
	}
	d.log_fd = open(d.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (d.log_fd < 0 || (fd = open_socket(port)) < 0) {
		perror("counterd: the log");
		return 1;
	}
	printf("counterd ready port=%u value=%" PRIu64 "\n", port, d.counter);
	fflush(stdout);
	for (;;) {
		fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);

		if (n == 16 && serve(&d, q, a))
			sendto(fd, a, sizeof(a), 0, (struct sockaddr *)&from, fl);
	}
}
