/*
 * Platform ports: power-off, reset, and (with vm->cfg.test_port only) the
 * test-call ("ucall") port.
 */
#ifndef VMM_SYSDEV_H
#define VMM_SYSDEV_H

struct vm;

int sysdev__register(struct vm *vm);

#endif
