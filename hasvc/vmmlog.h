/*
 * The bounds of the vmm logs in hasvcd's run directory (a tmpfs, usually):
 * hasvc.VM.TOKEN.log is the vmm's stdout and stderr, written by the vmm
 * itself (O_APPEND) and outliving hasvcd.  So it is bounded the way
 * logrotate's copytruncate does it: past VMMLOG_MAX_BYTES its contents move
 * to hasvc.VM.TOKEN.log.1 (the one older file, replaced each time) and the
 * log is truncated; the vmm's next write lands at the new end.  And of the
 * copies of a VM that have ended, only the newest VMMLOG_KEEP_ENDED keep
 * their logs.  So one VM's logs stay below
 * 2 * VMMLOG_MAX_BYTES * (copies running + VMMLOG_KEEP_ENDED) and a bit.
 * No hasvcd state: unit-tested on its own (tests/unit/test_hasvc_vmmlog.c).
 */
#ifndef HASVC_VMMLOG_H
#define HASVC_VMMLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VMMLOG_MAX_BYTES (1024 * 1024)
#define VMMLOG_KEEP_ENDED 3

/*
 * If the log at path is larger than max bytes: its contents to path.1
 * (written aside, then renamed over the old one), and path truncated.
 * 1 rotated, 0 nothing to do, or -errno (the log is left as it was).
 */
int vmmlog__bound(const char *path, off_t max);

/*
 * Remove the logs (.log and .log.1) of VM `vm` in run_dir whose token is
 * not among the newest `keep` tokens found, skipping those for which
 * live(token, opaque) is true (copies still running).  Returns how many
 * files were removed, or -errno.
 */
int vmmlog__prune(const char *run_dir, const char *vm, unsigned keep,
		  bool (*live)(uint64_t token, void *opaque), void *opaque);

/*
 * Remove the logs (.log and .log.1) in run_dir of every VM for which
 * keep(vm, opaque) is false: VMs that left the configuration while no copy
 * of theirs ended here to prune them (this hasvcd was down, or their copies
 * had ended before).  Returns how many files were removed, or -errno.
 */
int vmmlog__prune_vms(const char *run_dir, bool (*keep)(const char *vm, void *opaque),
		      void *opaque);

#endif
