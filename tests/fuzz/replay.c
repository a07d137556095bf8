/*
 * Replays fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer, so
 * `make check` runs the corpus with gcc (and any sanitizer CFLAGS given to
 * configure).  Arguments are files or directories of files; with none, the
 * corpus named at build time under $top_srcdir/tests/fuzz/corpus/ is used.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_CORPUS_NAME
#error "build with -DFUZZ_CORPUS_NAME=\"name\""
#endif

#define REPLAY_MAX_INPUT (16u << 20) /* larger files are not fuzz inputs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, unsigned *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int ret = -1;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "replay: %s: cannot size it\n", path);
		goto out;
	}
	if ((unsigned long)len > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %u bytes\n", path, REPLAY_MAX_INPUT);
		goto out;
	}
	/* An exact-size heap copy, so a read past the end is caught by ASan. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	(*count)++;
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, count);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char child[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= (int)sizeof(child)) {
			ret = -1;
			continue;
		}
		if (stat(child, &st) == 0 && S_ISREG(st.st_mode) && replay_file(child, count))
			ret = -1;
	}
	closedir(d);
	return ret;
}

int main(int argc, char **argv)
{
	char corpus[PATH_MAX];
	const char *top = getenv("top_srcdir");
	unsigned count = 0;
	int ret = 0;

	if (argc < 2) {
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%s", top ? top : HASVC_TEST_SRCDIR,
			 FUZZ_CORPUS_NAME);
		ret = replay_path(corpus, &count);
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count))
			ret = -1;
	printf("replay %s: %u inputs\n", FUZZ_CORPUS_NAME, count);
	return ret ? EXIT_FAILURE : EXIT_SUCCESS;
}
