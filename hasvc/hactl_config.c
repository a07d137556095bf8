/*
 * `hactl config apply FILE | show | diff FILE` (docs/hactl.md): the
 * cluster's one configuration text, as the local hasvcd runs it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/hactl.h"
#include "hasvc/limits.h"
#include "hasvc/text_diff.h"
#include "ipc/json_out.h"

/* Exit statuses of config diff, as diff(1)'s. */
enum { DIFF_SAME = 0, DIFF_DIFFERENT = 1, DIFF_TROUBLE = 2 };

/*
 * FILE's text, NUL-terminated: NULL with the reason in err when it cannot
 * be read, is larger than HASVC_CONFIG_TEXT_MAX or holds a NUL byte.
 */
static char *read_text(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(HASVC_CONFIG_TEXT_MAX + 2);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, HASVC_CONFIG_TEXT_MAX + 1, f);
	if (ferror(f))
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
	else if (n > HASVC_CONFIG_TEXT_MAX)
		snprintf(err, errlen, "%s: larger than %u bytes: a configuration holds at most that",
			 path, HASVC_CONFIG_TEXT_MAX);
	else if (memchr(buf, 0, n))
		snprintf(err, errlen, "%s: holds a NUL byte: not a configuration text", path);
	else
		err[0] = 0;
	fclose(f);
	if (err[0]) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static int call(struct hactl *h, Hasvc__Ctl__Request *req, int timeout_ms,
		Hasvc__Ctl__Response **resp, const char *what)
{
	char err[256];
	int rc = hactl__call(h, req, timeout_ms, resp, err, sizeof(err));

	if (rc < 0) {
		hactl__report_failure(h, rc, err);
		return -1;
	}
	if (h->json)
		json_out__print(stdout, json_out__message(&(*resp)->base, JSON_OUT_SIGNIFICANT));
	if (!(*resp)->ok) {
		fprintf(stderr, "hactl: config %s: %s\n", what,
			(*resp)->error[0] ? (*resp)->error : "refused without a reason");
		hasvc__ctl__response__free_unpacked(*resp, NULL);
		return -1;
	}
	return 0;
}

static int apply(struct hactl *h, const char *path)
{
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__ConfigApplyRequest a = HASVC__CTL__CONFIG_APPLY_REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	char err[256];
	char *text = read_text(path, err, sizeof(err));

	if (!text)
		return hactl__report_failure(h, -EINVAL, err);
	a.text = text;
	a.path = (char *)path;
	req.command_case = HASVC__CTL__REQUEST__COMMAND_CONFIG_APPLY;
	req.config_apply = &a;
	if (call(h, &req, HACTL_COMMAND_TIMEOUT_MS, &resp, "apply")) {
		free(text);
		return 1;
	}
	if (!h->json)
		printf("%s\n", resp->text[0] ? resp->text : "configuration applied");
	hasvc__ctl__response__free_unpacked(resp, NULL);
	free(text);
	return 0;
}

/* The running text; NULL (reported) on failure. */
static Hasvc__Ctl__Response *running(struct hactl *h, bool json)
{
	static Hasvc__Ctl__ConfigShowRequest show = HASVC__CTL__CONFIG_SHOW_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	bool was = h->json;
	int rc;

	req.command_case = HASVC__CTL__REQUEST__COMMAND_CONFIG_SHOW;
	req.config_show = &show;
	h->json = json;
	rc = call(h, &req, HACTL_STATUS_TIMEOUT_MS, &resp, "show");
	h->json = was;
	return rc ? NULL : resp;
}

static int show(struct hactl *h)
{
	Hasvc__Ctl__Response *resp = running(h, h->json);

	if (!resp)
		return 1;
	if (!h->json)
		fputs(resp->text, stdout);
	hasvc__ctl__response__free_unpacked(resp, NULL);
	return 0;
}

static int diff(struct hactl *h, const char *path)
{
	Hasvc__Ctl__Response *resp;
	char err[256], name[128];
	char *text = read_text(path, err, sizeof(err));
	int rc;

	if (!text) {
		fprintf(stderr, "hactl: config diff: %s\n", err);
		return DIFF_TROUBLE;
	}
	resp = running(h, false);
	if (!resp) {
		free(text);
		return DIFF_TROUBLE;
	}
	snprintf(name, sizeof(name), "running (configuration %.12s)", resp->config_digest);
	rc = text_diff__unified(stdout, resp->text, text, name, path);
	if (rc < 0)
		fprintf(stderr, "hactl: config diff: %s\n", strerror(-rc));
	hasvc__ctl__response__free_unpacked(resp, NULL);
	free(text);
	return rc < 0 ? DIFF_TROUBLE : rc ? DIFF_DIFFERENT : DIFF_SAME;
}

int hactl__config(struct hactl *h, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "";
	bool with_file = !strcmp(sub, "apply") || !strcmp(sub, "diff");
	int trouble = !strcmp(sub, "diff") ? DIFF_TROUBLE : 2;

	if (!with_file && strcmp(sub, "show")) {
		fprintf(stderr, "hactl: config needs apply FILE, show or diff FILE%s%s%s\n",
			sub[0] ? ", not '" : "", sub, sub[0] ? "'" : "");
		return trouble;
	}
	if (argc != (with_file ? 2 : 1)) {
		fprintf(stderr, "hactl: config %s takes %s\n", sub, with_file ? "one FILE" :
			"no argument");
		return trouble;
	}
	if (!strcmp(sub, "apply"))
		return apply(h, argv[1]);
	if (!strcmp(sub, "diff"))
		return h->json ? (fprintf(stderr, "hactl: config diff has no --json\n"), trouble) :
			diff(h, argv[1]);
	return show(h);
}
