/*
 * Private to the configuration parser: the state shared by the inih glue
 * (cluster_config.c) and the section/key rules (cluster_config_parse.c).
 */
#ifndef HASVC_CLUSTER_CONFIG_PARSE_H
#define HASVC_CLUSTER_CONFIG_PARSE_H

#include <stdbool.h>
#include <stdio.h>

#include "hasvc/cluster_config.h"

#define PARSER_MAX_KEYS 32

enum section_kind {
	SECTION_NONE,    /* before the first header        */
	SECTION_CLUSTER,
	SECTION_NODE,
	SECTION_VM,
	SECTION_BAD,     /* unknown header, already reported */
};

struct config_parser {
	const char *name;          /* file name for messages          */
	FILE *file;                /* one of file and text            */
	const char *text;
	int lines;                 /* lines handed to inih so far     */

	struct config *conf;
	enum section_kind kind;
	size_t index;              /* of the node or VM being filled  */
	int cluster_line;          /* 0: no [cluster] yet             */
	int key_line[PARSER_MAX_KEYS]; /* first line of each key in this section */

	int err_line;              /* 0: no error yet                 */
	char err[CONFIG_ERR_MAX];
	bool nomem;
};

void cluster_config_parse__fail(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cluster_config_parse__nomem(struct config_parser *p);

/* s points at the '[' of a header line. */
void cluster_config_parse__begin_section(struct config_parser *p, const char *s, int line);
/* inih's handler: 1 to go on, 0 when the pair was rejected. */
int cluster_config_parse__key(struct config_parser *p, const char *key, const char *value,
			      int line);
/* Rules that need the whole file: required keys, references between sections. */
void cluster_config_parse__validate(struct config_parser *p);

/*
 * "a, b, c" into *list (strdup'ed, n entries): every name valid, none twice,
 * at most max, in a [vm] section; what names an entry in messages ("preferred
 * node").
 * 0, or -EINVAL/-ENOMEM with the error recorded against where.
 */
int cluster_config_parse__names(struct config_parser *p, const char *v, int line,
				const char *key, const char *what, char ***list, size_t *n,
				size_t max);

/* cluster_config_place.c: the placement keys (docs/hasvc-config.md). */
int cluster_config_place__node_memory(struct config_parser *p, const char *v, int line);
int cluster_config_place__host_reserve(struct config_parser *p, const char *v, int line);
int cluster_config_place__node_cpus(struct config_parser *p, const char *v, int line);
int cluster_config_place__vm_nodes(struct config_parser *p, const char *v, int line);
int cluster_config_place__vm_avoid(struct config_parser *p, const char *v, int line);
/* nodes and avoid name what the file declares; preferred_nodes within nodes. */
bool cluster_config_place__validate_vm(struct config_parser *p, const struct config_vm *vm);

#endif
