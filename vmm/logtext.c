/* See logtext.h. */
#include "config.h"

#include <string.h>

#include "vmm/logtext.h"

char *logtext__clean(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t n = in ? strnlen(in, inlen) : 0;
	size_t keep = n < outlen ? n : outlen - 1;

	for (size_t i = 0; i < keep; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[keep] = '\0';
	/* Say that it was cut, where there is room to. */
	if (keep < n && keep >= 3)
		memcpy(out + keep - 3, "...", 3);
	return out;
}
