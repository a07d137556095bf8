/* See tap.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/tap.h"

static int set_iff(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	strcpy(ifr->ifr_name, name);
	return 0;
}

/* Is the interface already a port of bridge? (a persistent tap stays in it) */
static bool in_bridge(const char *name, const char *bridge)
{
	char path[64], target[256];
	ssize_t n;
	const char *base;

	snprintf(path, sizeof(path), "/sys/class/net/%s/master", name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	return !strcmp(base ? base + 1 : target, bridge);
}

/* Up, then into the bridge: both through an ordinary socket's ioctls. */
static int join_bridge(const char *name, const char *bridge, const char **err)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0, idx;

	if (s < 0) {
		*err = "cannot open a socket to configure the tap";
		return -errno;
	}
	set_iff(&ifr, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		*err = "cannot read the tap's flags";
		ret = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		*err = "cannot bring the tap up";
		ret = -errno;
		goto out;
	}
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		*err = "cannot read the tap's interface index";
		ret = -errno;
		goto out;
	}
	idx = ifr.ifr_ifindex;
	if (set_iff(&ifr, bridge) || !*bridge) {
		*err = "the bridge name is empty or longer than 15 characters";
		ret = -EINVAL;
		goto out;
	}
	ifr.ifr_ifindex = idx;
	if (!in_bridge(name, bridge) && ioctl(s, SIOCBRADDIF, &ifr) < 0) {
		ret = -errno;
		*err = ret == -ENODEV ? "the bridge does not exist"
		       : ret == -EINVAL || ret == -EOPNOTSUPP ? "the bridge is not a bridge"
		       : ret == -EBUSY ? "the tap is a port of another bridge"
		       : "cannot add the tap to the bridge";
	}
out:
	close(s);
	return ret;
}

int tap__open(const char *name, const char *bridge, const char **err)
{
	struct ifreq ifr;
	int fd, ret;

	if (set_iff(&ifr, name) || !*name) {
		*err = "the tap name is empty or longer than 15 characters";
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		*err = ret == -ENOENT ? "/dev/net/tun does not exist (no tun driver)"
				      : "cannot open /dev/net/tun";
		return ret;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		*err = ret == -EBUSY ? "the tap is busy (another process has it open)"
		       : ret == -EPERM ? "not allowed to attach the tap (owner, CAP_NET_ADMIN)"
		       : ret == -EINVAL ? "the interface exists and is not a tap"
		       : "TUNSETIFF refused the tap";
		close(fd);
		return ret;
	}
	/*
	 * Frames carry no virtio-net header here, so the tap must hand over
	 * only whole frames with their checksums done.  A persistent tap keeps
	 * the offloads its last user turned on (QEMU turns them on): with them
	 * the host sent partial checksums and the guest dropped every frame.
	 */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		ret = -errno;
		*err = "TUNSETOFFLOAD refused to turn the tap's offloads off";
		close(fd);
		return ret;
	}
	if (bridge && (ret = join_bridge(name, bridge, err))) {
		close(fd);
		return ret;
	}
	return fd;
}
