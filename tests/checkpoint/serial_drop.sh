#!/bin/sh
# Held serial output lost to a full buffer is said in protect-status, not
# only in the log.  The primary's guest (fault.elf mode=spew) writes to its
# UART as fast as it can, never waiting for the transmitter, to a serial
# socket nobody reads.  With epochs of 60 s everything it writes after the
# protect stays held until the UART's 64 KiB buffer is full of held bytes
# (epochs by time only: held output would end them, --output-epochs off);
# protect-status (JSON and text) then counts the held bytes dropped.  (An
# idle KVM host writes 64 KiB in well under a second; an emulated or very
# loaded one, or a KVM that takes every byte of `rep outsb` as an exit of
# its own (kvm-pvm), at about 1 ms an exit, needs most of it: the guest
# writes on both of its vCPUs.)
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

start_standby sb --cpus 2
bg_vmm pr run --kernel "$GUESTS/fault.elf" --memory 32M --cpus 2 \
	--cmdline "mode=spew" --serial "unix:$T/pr.sock" --control "pr-$$"
LOG=$T/pr.err
protect pr "$PORT" --interval 60000 --output-epochs off
ck_status pr | grep -q '"output_dropped_bytes":0,' || fail "dropped before the test: $(ck_status pr)"
wait_status pr '"output_dropped_bytes":[1-9]' 60 ||
	fail "no held bytes counted as dropped: $(ck_status pr)"
"$VMM" ctl "pr-$$" protect-status >"$T/text" || fail "protect-status failed"
grep -Eq "^output: .* [1-9][0-9]* held bytes dropped \(buffer full\)" "$T/text" ||
	fail "the text status does not say it: $(cat "$T/text")"
grep -q "serial: held output dropped: the [0-9]*-byte buffer is full" "$T/pr.err" ||
	fail "no log line: $(tail -n 5 "$T/pr.err")"
pass "held output dropped: $(grep '^output:' "$T/text")"
