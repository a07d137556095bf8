#!/bin/bash
# Stage two of the nested VM (run.sh), run by the host's bash in the new
# root: the rest of a Linux system that the tests expect (tmpfs /run and
# /dev/shm, devpts, loopback up, KVM and the network modules), then the
# command of RUNDIR/cmd.sh on the serial line; its exit status goes to
# RUNDIR/rc, and the VM powers off.
run=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620 devpts /dev/pts
hostname nested
# The kernel's code addresses, for run.sh to name the function each CPU is
# in should the VM still run at its time limit.
grep ' [tT] ' /proc/kallsyms >"$run/kallsyms" 2>/dev/null
ip link set lo up
rc=0
for m in kvm_amd tun bridge veth; do
	modprobe "$m" || { echo "nested: cannot load $m"; rc=1; }
done
if [ $rc -eq 0 ] && [ ! -c /dev/kvm ]; then
	echo "nested: /dev/kvm did not appear (kvm_amd loaded, no SVM in the emulated CPU?)"
	rc=1
fi
# As Debian's udev leaves it (root:kvm 0660; here no udev runs): a vmm run
# by a member of kvm, not root, opens it (tests/vmm/squat.sh runs one as
# nobody).
if [ $rc -eq 0 ] && getent group kvm >/dev/null; then
	chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
if [ -e "$run/shell" ]; then
	# NESTED_SHELL: a shell on the second serial port, again after each exit.
	(while :; do setsid -w -c bash -i </dev/ttyS1 >/dev/ttyS1 2>&1; done) &
fi
# A sign of life for run.sh, whose host side ends a VM that stopped.
(while :; do : >"$run/alive"; sleep 10; done) &
if [ $rc -eq 0 ]; then
	if [ -e "$run/interactive" ]; then
		# The serial line as the shell's controlling terminal: job
		# control and ^C.
		setsid -w -c bash "$run/cmd.sh" </dev/ttyS0 >/dev/ttyS0 2>&1
	else
		# No terminal, as under CI: a terminal would stop a background
		# process that reads stdin (SIGTTIN).
		setsid -w bash "$run/cmd.sh" </dev/null >/dev/ttyS0 2>&1
	fi
	rc=$?
fi
echo "$rc" >"$run/rc"
sync
dmesg -n 1
echo o >/proc/sysrq-trigger
sleep 30
