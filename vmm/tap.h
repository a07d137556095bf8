/*
 * The host side of virtio-net: a Linux tap device (IFF_TAP | IFF_NO_PI,
 * one frame per read or write), optionally brought up and enslaved to a
 * bridge, which is how a cluster node plugs its VMs into its network.
 */
#ifndef VMM_TAP_H
#define VMM_TAP_H

/*
 * Open tap `name` (an existing persistent tap, or a new one that lives as
 * long as the fd), non-blocking and close-on-exec.  With bridge non-NULL,
 * bring the tap up and add it to that bridge.  Returns the fd, or a
 * negative errno with *err saying what failed in words an operator can act
 * on (no /dev/net/tun, the tap busy, no such bridge...).
 */
int tap__open(const char *name, const char *bridge, const char **err);

#endif
