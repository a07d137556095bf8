#!/bin/sh
# Every vCPU comes up: the smp guest starts its APs by INIT-SIPI-SIPI through
# the in-kernel LAPIC and waits until each has checked in from ring 3.
# --test-port: a failed check of the guest's is reported with its reason.
. "$(dirname "$0")/../common.sh"
need_kvm

for n in 1 2 4; do
	run_vmm 60 run --test-port --cpus $n --memory 128M --kernel "$GUESTS/smp.elf" --cmdline "cpus=$n"
	[ "$rc" -eq 0 ] || fail "smp guest with $n vCPUs: exit status $rc"
	grep -q "smp ok $n" "$T/out" || fail "smp guest with $n vCPUs did not report all CPUs"
	pass "$n vCPU(s) all running"
done
