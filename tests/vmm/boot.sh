#!/bin/sh
# Boot the hello guest: its line, its command line, its exit status; with
# several vCPU counts and memory sizes (64 GiB is sparse and costs nothing).
. "$(dirname "$0")/../common.sh"
need_kvm

for spec in "1 64M" "2 256M" "4 1G" "8 64G"; do
	set -- $spec
	run_vmm 30 run --cpus "$1" --memory "$2" --kernel "$GUESTS/hello.elf" \
		--cmdline "greeting=hi-$1" --serial stdio
	[ "$rc" -eq 0 ] || fail "hello with $1 vCPUs, $2: exit status $rc, want 0"
	grep -q "Hello from the hasvc test guest" "$T/out" || fail "no greeting ($1 vCPUs)"
	grep -q "greeting=hi-$1" "$T/out" || fail "the guest did not see its command line"
	grep -q "powered off with status 0" "$T/err" || fail "no power-off message"
	pass "hello, $1 vCPU(s), $2"
done

# Serial to a file gives the same output.
run_vmm 30 run --kernel "$GUESTS/hello.elf" --serial "file:$T/serial.txt"
[ "$rc" -eq 0 ] && grep -q "Hello from the hasvc" "$T/serial.txt" || fail "file: serial backend"
[ -s "$T/out" ] && fail "file: backend still wrote to stdout"
pass "serial to a file"
