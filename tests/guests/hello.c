/* hello: prints a greeting and its command line, then powers off with 0. */
#include "guest.h"

int guest_main(const char *cmdline)
{
	printf("Hello from the hasvc test guest\n");
	printf("cmdline: %s\n", cmdline);
	return 0;
}
