/* The real VM behind the replication engine's interface (replication/vm_port.h). */
#ifndef VMM_VM_PORT_H
#define VMM_VM_PORT_H

struct vm;
struct vm_port;

void vm_port__init(struct vm_port *port, struct vm *vm);

#endif
