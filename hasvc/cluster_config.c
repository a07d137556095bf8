/*
 * hasvc.conf through libinih.
 *
 * inih splits lines into key = value pairs, strips comments and blanks, and
 * gives each pair its line number.  Section headers are followed here, in
 * the line reader handed to inih, rather than through inih's section
 * argument: inih truncates section names to 49 bytes ("vm " and a 63-byte
 * name do not fit), and it never reports a section that has no keys, which
 * would let an empty "[vm web1]" pass silently.
 *
 * Keys may be indented; continuation lines are not supported.
 *
 * Only the first error is kept; inih goes on parsing after a failure, and
 * later complaints are usually consequences of the first.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INI_HANDLER_LINENO 1 /* Debian's libinih is built with it */
#include <ini.h>

#include "hasvc/cluster_config.h"
#include "hasvc/cluster_config_parse.h"

/* Kernel command lines outgrow inih's default 200-byte line buffer. */
#define LINE_MAX_BYTES 4096

static int reader_fill(struct config_parser *p, char *buf, int num)
{
	int n = 0;

	if (p->file) {
		if (!fgets(buf, num, p->file))
			return -1;
		n = (int)strlen(buf);
	} else {
		if (!*p->text)
			return -1;
		while (n < num - 1 && p->text[n] && p->text[n] != '\n')
			n++;
		if (n < num - 1 && p->text[n] == '\n')
			n++;
		memcpy(buf, p->text, (size_t)n);
		buf[n] = '\0';
		p->text += n;
	}
	return n;
}

/* Drop the rest of an overlong line so that line numbers stay right. */
static void reader_skip_line(struct config_parser *p)
{
	int c;

	if (p->file) {
		while ((c = fgetc(p->file)) != EOF && c != '\n')
			;
		return;
	}
	while (*p->text && *p->text != '\n')
		p->text++;
	if (*p->text)
		p->text++;
}

static char *reader(char *buf, int num, void *stream)
{
	struct config_parser *p = stream;
	const char *s, *start;
	int n = reader_fill(p, buf, num);

	if (n < 0)
		return NULL;
	p->lines++;
	if (n == num - 1 && buf[n - 1] != '\n') {
		cluster_config_parse__fail(p, p->lines, "line is longer than %d bytes", num - 2);
		reader_skip_line(p);
	}
	start = buf;
	if (p->lines == 1 && !strncmp(start, "\xEF\xBB\xBF", 3))
		start += 3; /* a UTF-8 byte order mark, which inih skips too */
	for (s = start; *s == ' ' || *s == '\t'; s++)
		;
	if (*s == '\0' || *s == '\n' || *s == '\r' || *s == ';' || *s == '#')
		return buf;
	if (*s == '[')
		cluster_config_parse__begin_section(p, s, p->lines);
	return buf;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value, int lineno)
{
	(void)section; /* followed by the reader, see above */
	return cluster_config_parse__key(user, name, value, lineno);
}

static int run(struct config_parser *p, struct config **out, char *err, size_t errlen)
{
	int line, ret = -EINVAL;

	/*
	 * Debian builds libinih with its settings as variables.  Raise the line
	 * limit only (another user in the process may want longer lines), and
	 * turn off continuation lines: with them an indented "memory = 2G"
	 * under a key would silently become a second value of that key.
	 */
	if (ini_max_line < LINE_MAX_BYTES)
		ini_max_line = LINE_MAX_BYTES;
	ini_allow_multiline = false;

	p->conf = calloc(1, sizeof(*p->conf));
	if (!p->conf || !(p->conf->path = strdup(p->name))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", p->name);
		goto fail;
	}
	p->conf->sync_timeout_ms = CONFIG_DEFAULT_SYNC_TIMEOUT_MS;
	p->conf->watchdog_margin_ms = CONFIG_DEFAULT_WATCHDOG_MARGIN_MS;
	p->conf->alert_timeout_ms = CONFIG_DEFAULT_ALERT_TIMEOUT_MS;
	p->conf->restart_grace_ms = CONFIG_DEFAULT_RESTART_GRACE_MS;
	p->conf->host_reserve_memory = CONFIG_DEFAULT_HOST_RESERVE;
	line = ini_parse_stream(reader, p, handler, p);
	/* A line inih itself rejected comes before any later complaint of ours. */
	if (line > 0 && (!p->err_line || line < p->err_line)) {
		p->err_line = 0;
		cluster_config_parse__fail(p, line,
					   "syntax error: expected '[section]' or 'key = value'");
	}
	if (!p->err_line)
		cluster_config_parse__validate(p);
	if (p->err_line) {
		ret = p->nomem ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "%s", p->err);
		goto fail;
	}
	*out = p->conf;
	return 0;
fail:
	cluster_config__free(p->conf);
	*out = NULL;
	return ret;
}

int cluster_config__load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct config_parser p = { .name = path };
	int ret;

	p.file = fopen(path, "re");
	if (!p.file) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		*out = NULL;
		return ret;
	}
	ret = run(&p, out, err, errlen);
	fclose(p.file);
	return ret;
}

int cluster_config__parse_string(const char *text, const char *name, struct config **out,
				 char *err, size_t errlen)
{
	struct config_parser p = { .name = name, .text = text };

	return run(&p, out, err, errlen);
}

void cluster_config__free(struct config *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->n_nodes; i++) {
		struct config_node *n = &conf->nodes[i];

		free(n->name);
		free(n->replication);
		free(n->replication_host);
		free(n->tls_ca);
		free(n->tls_cert);
		free(n->tls_key);
		free(n->tls_crl);
		free(n->fence_command);
		free(n->watchdog_device);
	}
	for (size_t i = 0; i < conf->n_vms; i++) {
		struct config_vm *v = &conf->vms[i];

		free(v->name);
		free(v->kernel);
		free(v->cmdline);
		free(v->initrd);
		free(v->disk);
		free(v->bridge);
		for (size_t j = 0; j < v->n_preferred; j++)
			free(v->preferred_nodes[j]);
		free(v->preferred_nodes);
		for (size_t j = 0; j < v->n_nodes; j++)
			free(v->nodes[j]);
		free(v->nodes);
		for (size_t j = 0; j < v->n_avoid; j++)
			free(v->avoid[j]);
		free(v->avoid);
	}
	free(conf->nodes);
	free(conf->vms);
	free(conf->cluster_name);
	free(conf->metrics_address);
	free(conf->alert_command);
	free(conf->path);
	free(conf);
}

const struct config_node *cluster_config__node(const struct config *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_nodes; i++)
		if (!strcmp(conf->nodes[i].name, name))
			return &conf->nodes[i];
	return NULL;
}

const struct config_vm *cluster_config__vm(const struct config *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_vms; i++)
		if (!strcmp(conf->vms[i].name, name))
			return &conf->vms[i];
	return NULL;
}

bool cluster_config__fence_by_command(const struct config_node *n)
{
	return n->fencing == CONFIG_FENCING_COMMAND || n->fencing == CONFIG_FENCING_BOTH;
}

bool cluster_config__fence_by_watchdog(const struct config_node *n)
{
	return n->fencing == CONFIG_FENCING_WATCHDOG || n->fencing == CONFIG_FENCING_BOTH;
}
