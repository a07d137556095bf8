/* Whole-VM snapshots in files: `vmm ctl NAME save FILE`, `vmm run --restore FILE`. */
#ifndef VMM_SNAPSHOT_H
#define VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/*
 * Write the VM (paused by the caller) to path.  The file is written beside
 * its final name, synced and renamed, so a failed or interrupted save never
 * leaves a partial file under that name.  0 or -errno with a reason in err.
 */
int snapshot__save_file(struct vm *vm, const char *path, uint64_t *bytes, char *err,
			size_t errlen);

/* Verify the whole file, then load it into a VM that has not started. */
int snapshot__load_file(struct vm *vm, const char *path, char *err, size_t errlen);

#endif
