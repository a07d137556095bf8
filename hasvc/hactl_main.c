/* hactl: see hactl.h and docs/hactl.md. */
#include "hasvc/hactl.h"

int main(int argc, char **argv)
{
	return hactl__main(argc, argv);
}
