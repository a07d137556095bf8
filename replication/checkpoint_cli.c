/* `vmm ctl NAME protect|unprotect|protect-status|activate ...` (checkpoint.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "replication/checkpoint.h"
#include "vmm/control.pb-c.h"
#include "vmm/ctl.h"

bool checkpoint_cli__is_command(const char *cmd)
{
	return !strcmp(cmd, "protect") || !strcmp(cmd, "unprotect") ||
	       !strcmp(cmd, "protect-status") || !strcmp(cmd, "activate") ||
	       !strcmp(cmd, "net-status");
}

int checkpoint_cli__main(const char *name, int argc, char **argv)
{
	Vmm__Control__CheckpointRequest cr = VMM__CONTROL__CHECKPOINT_REQUEST__INIT;
	Vmm__Control__Request req = VMM__CONTROL__REQUEST__INIT;
	Vmm__Control__Response *resp = NULL;
	char err[256];
	int rc;

	cr.n_args = (size_t)argc;
	cr.args = argv;
	req.command_case = VMM__CONTROL__REQUEST__COMMAND_CHECKPOINT;
	req.checkpoint = &cr;
	rc = ctl__request(name, &req, &resp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "vmm ctl: %s\n", err);
		return 1;
	}
	rc = resp->ok ? 0 : 1;
	if (!resp->ok)
		fprintf(stderr, "vmm ctl: %s\n", resp->error);
	/* protect and unprotect print nothing, as pause and resume. */
	else if (resp->text && strcmp(argv[0], "protect") && strcmp(argv[0], "unprotect"))
		fputs(resp->text, stdout);
	vmm__control__response__free_unpacked(resp, NULL);
	return rc;
}
