/*
 * The control side of migration: the server's handler for the migrate*
 * and dirty-rate commands (migrate_control.c) and the `vmm ctl NAME
 * migrate...` client (migrate_cli.c).
 */
#ifndef REPLICATION_MIGRATE_CLI_H
#define REPLICATION_MIGRATE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/control.pb-c.h"

struct migrate;

int migrate__control(struct migrate *m, const Vmm__Control__Request *req,
		     Vmm__Control__MigrationInfo *info, Vmm__Control__DirtyRate *dr,
		     char *err, size_t errlen);

/* Is cmd one of ours (migrate, migrate-status, ..., dirty-rate)? */
bool migrate_cli__is_command(const char *cmd);
/* `vmm ctl NAME CMD ARGS...`: argv[0] is CMD.  Returns the exit status. */
int migrate_cli__main(const char *name, int argc, char **argv);

#endif
