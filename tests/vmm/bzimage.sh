#!/bin/sh
# The Linux boot path: the bootparams guest is a real bzImage; it checks the
# boot_params, e820 map, command line and initrd it was handed and reports
# (through the test-call port: --test-port).
. "$(dirname "$0")/../common.sh"
need_kvm

printf 'INITRD-MAGIC and some more bytes\n' >"$T/initrd"
for mem in 256M 5G; do
	run_vmm 60 run -v --test-port --cpus 2 --memory $mem --kernel "$GUESTS/bootparams.bzimage" \
		--initrd "$T/initrd" --cmdline "bootparams expect=hello-linux want-initrd=1"
	[ "$rc" -eq 0 ] || fail "bootparams guest ($mem): exit status $rc"
	grep -q "bootparams: ok expect=hello-linux" "$T/out" || fail "no ok line ($mem)"
	grep -q "report initrd_size=33" "$T/err" || fail "initrd size not reported as 33"
	grep -q "report e820_entries=" "$T/err" || fail "no e820 report"
	pass "bzImage boot with initrd, $mem"
done

# Without the initrd it promised, the guest's own check fails: exit 3.
run_vmm 60 run --test-port --memory 256M --kernel "$GUESTS/bootparams.bzimage" \
	--cmdline "bootparams expect=x want-initrd=1"
[ "$rc" -eq 3 ] || fail "missing initrd not detected by the guest (rc $rc)"
pass "the guest's checks can fail"
