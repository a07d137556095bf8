/* `vmm ctl`, the command line of the control client (vmm/ctl.h). */
#ifndef VMM_CTL_CLI_H
#define VMM_CTL_CLI_H

/*
 * `vmm ctl`: argv[0] is "ctl" (main passes its argv from the subcommand on).
 * Returns the exit status: 0 done, 1 failed, 2 bad usage.
 */
int ctl_cli__main(int argc, char **argv);

#endif
