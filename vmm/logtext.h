/*
 * Text that comes from outside (a guest's test call, a replication peer's
 * error) on its way to a log line or a status: printable ASCII only, and
 * bounded, so that nobody else's bytes can forge log lines, move a
 * terminal's cursor or fill a status.
 */
#ifndef VMM_LOGTEXT_H
#define VMM_LOGTEXT_H

#include <stddef.h>

/* The longest peer text quoted in a log line or status (bytes, NUL included). */
#define LOGTEXT_PEER_MAX 160

/*
 * Copy at most inlen bytes of `in` (up to its NUL; NULL reads as "") into
 * out (outlen > 0 bytes, always terminated): every byte outside 0x20..0x7e
 * becomes '?', and text cut to fit ends in "...".  Returns out.
 */
char *logtext__clean(char *out, size_t outlen, const char *in, size_t inlen);

#endif
