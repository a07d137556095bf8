#!/bin/sh
# conf/hasvc.conf's example VMs web1 and db1 boot as written there, only
# their site's paths replaced: their memory, vCPUs, MAC and kernel command
# line (read from the file), Debian's kernel (web1: linux-image-cloud-amd64's,
# db1: linux-image-amd64's) with Debian's own initramfs for it
# (initramfs-tools' /boot/initrd.img-VERSION, not the tests' busybox one)
# and an ext4 root on the VM's virtio disk, one VM after the other.  That
# initramfs finds the disk only through the vmm's ACPI tables (udev loads
# virtio_mmio for the DSDT's LNRO0005 devices, then virtio_blk), mounts
# root= and runs the root's init.  Checks: the service answers over the NIC
# with the VM's MAC, the kernel logged no complaint (web1's "quiet" hides
# its warnings, level 4, from the console; db1's and boot.sh's consoles show
# them), the power button (vmm ctl shutdown) powers it off cleanly (vmm exit
# status 0), and e2fsck finds the root clean.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
. "$top_srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
need_linux

conf=$top_srcdir/conf/hasvc.conf
# conf_key VM KEY: the value of KEY in conf/hasvc.conf's [vm VM] section.
conf_key() {
	awk -v v="[vm $1]" -v k="$2" '/^\[/ { s = ($0 == v) }
		s && $1 == k && $2 == "=" { sub(/^[^=]*= */, ""); print; exit }' "$conf"
}

# root_modules: the power button's modules of kernel $KVER, as .ko files.
# Debian's initramfs loads only what it needs to mount the root; on a
# Debian server the root's udev loads the rest.  This root is busybox's:
# its rc loads them itself (mkroot.sh MKROOT_MODULES).
root_modules() {
	MKROOT_MODULES=""
	for _m in button evdev; do
		module_ko "$_m" "$T/$_m.ko" || continue
		MKROOT_MODULES="$MKROOT_MODULES $T/$_m.ko"
	done
	export MKROOT_MODULES
}

# example VM [cloud]: boot VM as conf/hasvc.conf declares it, with
# linux-image-[cloud-]amd64's kernel and initrd.img; check it, shut it down.
example() {
	_vm=$1
	cmdline=$(conf_key "$_vm" cmdline) mem=$(conf_key "$_vm" memory)
	cpus=$(conf_key "$_vm" vcpus) mac=$(conf_key "$_vm" mac)
	[ -n "$cmdline" ] && [ -n "$mem" ] && [ -n "$cpus" ] && [ -n "$mac" ] ||
		fail "conf/hasvc.conf: $_vm lacks cmdline, memory, vcpus or mac"
	case $(conf_key "$_vm" kernel) in */vmlinuz) ;;
	*) fail "$_vm's kernel is not a Debian vmlinuz: $(conf_key "$_vm" kernel)" ;; esac
	case $(conf_key "$_vm" initrd) in */initrd.img) ;;
	*) fail "$_vm's initrd is not an initramfs-tools image: $(conf_key "$_vm" initrd)" ;; esac
	linux_kernel ${2:-}
	_initrd=/boot/initrd.img-$KVER
	[ -r "$_initrd" ] || fail "$_initrd is missing: Debian's initramfs-tools makes it with the kernel package"
	root_modules
	linux_root "$T/$_vm.img"
	# The client forgets the last VM's MAC for the same address.
	inc ip neigh flush dev veth0
	bg_nvmm "$_vm" run --kernel "$KERNEL" --initrd "$_initrd" --cmdline "$cmdline" \
		--memory "$mem" --cpus "$cpus" --disk "$T/$_vm.img" \
		--net "tap=ntap0,bridge=nbr0,mac=$mac" --serial "file:$T/$_vm.ser" --control "$_vm-$$"
	linux_ready "$_vm"
	udp --count 5 --timeout 1000 --duration "$(secs 20)" >"$T/warm" ||
		fail "$_vm: no answer: $(cat "$T/warm")"
	inc ip neigh show "$GUEST_IP" | grep -q "lladdr $mac" ||
		fail "the guest does not answer with $_vm's MAC $mac: $(inc ip neigh show)"
	pass "$_vm ($mem, $cpus vCPUs, \"$cmdline\", Debian $KVER with its initrd.img) answers as $mac"
	linux_shutdown "$_vm"
	linux_clean "$_vm"
	fsck_clean "$T/$_vm.img"
	pass "$_vm shut down by its power button (vmm exit status 0), no kernel complaint, its root clean"
}

example web1 cloud
example db1
