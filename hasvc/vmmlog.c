/* See vmmlog.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hasvc/vmmlog.h"

static int copy_fd(int from, int to)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0) {
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(to, buf + done, (size_t)(n - done));

			if (w < 0)
				return -errno;
			done += w;
		}
	}
	return n < 0 ? -errno : 0;
}

int vmmlog__bound(const char *path, off_t max)
{
	char old[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	int in, out, ret;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (st.st_size <= max)
		return 0;
	if (snprintf(old, sizeof(old), "%s.1", path) >= (int)sizeof(old) ||
	    snprintf(tmp, sizeof(tmp), "%s.1.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	in = open(path, O_RDWR | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	ret = copy_fd(in, out);
	if (close(out) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, old) < 0)
		ret = -errno;
	/*
	 * Lines the vmm wrote between the copy and here are lost: a few, at
	 * worst, against a log that would otherwise grow without bound.
	 */
	if (!ret && ftruncate(in, 0) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	close(in);
	return ret ? ret : 1;
}

/* The token of "hasvc.VM.TOKEN.log" or "...log.1"; false for other names. */
static bool token_of(const char *name, const char *prefix, uint64_t *token)
{
	size_t n = strlen(prefix);
	char *end;

	if (strncmp(name, prefix, n) || name[n] < '0' || name[n] > '9')
		return false;
	errno = 0;
	*token = strtoull(name + n, &end, 10);
	return !errno && (!strcmp(end, ".log") || !strcmp(end, ".log.1"));
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The distinct tokens of the VM's logs, newest first, in *out (malloc'ed). */
static int list_tokens(const char *run_dir, const char *prefix, uint64_t **out, size_t *count)
{
	uint64_t *t = NULL, token;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dir = opendir(run_dir);

	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (!token_of(e->d_name, prefix, &token))
			continue;
		if (n == cap) {
			uint64_t *g = realloc(t, (cap = cap ? 2 * cap : 16) * sizeof(*t));

			if (!g) {
				free(t);
				closedir(dir);
				return -ENOMEM;
			}
			t = g;
		}
		t[n++] = token;
	}
	closedir(dir);
	if (n)
		qsort(t, n, sizeof(*t), cmp_desc);
	*out = t;
	*count = n;
	return 0;
}

int vmmlog__prune(const char *run_dir, const char *vm, unsigned keep,
		  bool (*live)(uint64_t token, void *opaque), void *opaque)
{
	char prefix[PATH_MAX], path[PATH_MAX];
	uint64_t *t = NULL;
	size_t n = 0, kept = 0;
	int ret, removed = 0;

	snprintf(prefix, sizeof(prefix), "hasvc.%s.", vm);
	ret = list_tokens(run_dir, prefix, &t, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (i && t[i] == t[i - 1])
			continue;  /* .log and .log.1 of one token */
		if (live && live(t[i], opaque))
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		for (int old = 0; old < 2; old++)
			if (snprintf(path, sizeof(path), "%s/%s%" PRIu64 ".log%s", run_dir, prefix,
				     t[i], old ? ".1" : "") < (int)sizeof(path))
				removed += unlink(path) == 0;
	}
	free(t);
	return removed;
}

/*
 * The VM of "hasvc.VM.TOKEN.log" or "...log.1" into vm (len bytes); false
 * for other names.  VM names may hold dots: the token is the last part.
 */
static bool vm_of(const char *name, char *vm, size_t len)
{
	size_t n = strlen(name), k;
	const char *dot;

	if (n > 6 && !strcmp(name + n - 6, ".log.1"))
		n -= 6;
	else if (n > 4 && !strcmp(name + n - 4, ".log"))
		n -= 4;
	else
		return false;
	if (strncmp(name, "hasvc.", 6))
		return false;
	for (k = n; k > 6 && name[k - 1] >= '0' && name[k - 1] <= '9'; k--)
		;
	dot = name + k - 1;
	if (k == n || k < 8 || *dot != '.' || (size_t)(dot - name - 6) >= len)
		return false;
	memcpy(vm, name + 6, (size_t)(dot - name - 6));
	vm[dot - name - 6] = '\0';
	return true;
}

int vmmlog__prune_vms(const char *run_dir, bool (*keep)(const char *vm, void *opaque),
		      void *opaque)
{
	char path[PATH_MAX], vm[256];
	struct dirent *e;
	DIR *dir = opendir(run_dir);
	int removed = 0;

	if (!dir)
		return -errno;
	while ((e = readdir(dir)))
		if (vm_of(e->d_name, vm, sizeof(vm)) && !keep(vm, opaque) &&
		    snprintf(path, sizeof(path), "%s/%s", run_dir, e->d_name) < (int)sizeof(path))
			removed += unlink(path) == 0;
	closedir(dir);
	return removed;
}
