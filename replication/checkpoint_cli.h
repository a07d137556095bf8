/*
 * `vmm ctl NAME protect|unprotect|protect-status|activate|net-status`: the
 * command line of the checkpointing commands, on the typed requests of the
 * control client (vmm/ctl.h).
 */
#ifndef REPLICATION_CHECKPOINT_CLI_H
#define REPLICATION_CHECKPOINT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/control.pb-c.h"

struct ctl_req;

bool checkpoint_cli__is_command(const char *cmd);
/* argv[0] is the command.  Returns the exit status: 0 done, 1 failed, 2 bad usage. */
int checkpoint_cli__main(const char *name, int argc, char **argv);

/*
 * The request of argv (argv[0] the command); *json: --json was given.
 * Strings of the request point into argv.  0, or -EINVAL with what is
 * wrong in err (a usage error).
 */
int checkpoint_cli__build(int argc, char **argv, struct ctl_req *r, bool *json, char *err,
			  size_t errlen);

/* The replies as `vmm ctl` prints them: text, or one JSON object. */
void checkpoint_cli__format_status(const Vmm__Control__ProtectStatus *ps, bool json, char *out,
				   size_t len);
void checkpoint_cli__format_net(const Vmm__Control__NetStatus *ns, bool json, char *out,
				size_t len);

#endif
