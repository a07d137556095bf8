#!/bin/sh
# Save and restore (vmm ctl NAME save FILE --quit; vmm run --restore FILE):
# - the dirty guest, saved at 100 random moments and restored each time in a
#   new vmm process, keeps verifying its whole working set against its own
#   counts (every lost or stale page would show as "dirty BAD");
# - the counter guest keeps every acknowledged update across restores;
# - a snapshot that does not fit the VM is refused before anything runs.
. "$(dirname "$0")/../common.sh"
need_kvm

CYCLES=${SNAPSHOT_CYCLES:-100}
name=snap-$$
args="--cpus 2 --memory 64M --control $name"
bg_vmm vm run $args --kernel "$GUESTS/dirty.elf" --serial "file:$T/serial.0" \
	--cmdline "mem_mib=8 rate_mib=0 hb_us=20000 verify_every=2 cpus=2"
LOG=$T/vm.err
wait_for_line "$T/serial.0" '^hb 2 ' 30 || fail "the dirty guest did not start"

i=0
while [ $i -lt "$CYCLES" ]; do
	# A random moment: 0-40 ms after the guest was (re)started.
	sleep "0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 40 ))"
	"$VMM" ctl "$name" save "$T/snap" --quit >"$T/ctl" 2>&1 || fail "save $i: $(cat "$T/ctl")"
	wait "$vm_pid"; rc=$?
	[ "$rc" -eq 0 ] || fail "cycle $i: the saving vmm exited with $rc"
	grep -q "dirty BAD" "$T/serial.$i" && fail "cycle $i: $(grep 'dirty BAD' "$T/serial.$i")"
	i=$((i + 1))
	bg_vmm vm run $args --restore "$T/snap" --serial "file:$T/serial.$i"
	LOG=$T/vm.err
	wait_for_line "$T/serial.$i" '^hb ' 30 || fail "cycle $i: the restored guest is silent"
done
# After the last restore the guest must verify itself twice more.
last=$(last_hb "$T/serial.$i")
wait_for_line "$T/serial.$i" "^hb $((last + 5)) " 30 || {
	# Which vCPU threads still run guest code (state, CPU ticks 1 s apart)?
	threads() { for t in /proc/"$vm_pid"/task/*; do
		echo "$(cat "$t/comm") $(sed 's/.*) //' "$t/stat" | cut -d' ' -f1,12,13) $(cat "$t/wchan")"; done; }
	echo "threads: $(threads | tr '\n' ';')"; sleep 1; echo "1 s later: $(threads | tr '\n' ';')"
	echo "serial: $(tail -c 300 "$T/serial.$i")"
	fail "no heartbeat after the last restore (hb $last was the last)"
}
"$VMM" ctl "$name" quit >/dev/null || fail "quit"
wait "$vm_pid"
cat "$T"/serial.* | grep "dirty BAD" && fail "the working set was corrupted"
pass "$CYCLES save/restore cycles of the dirty guest at random moments, working set intact"

# The counter guest: acknowledged values survive every restore.
bg_vmm vm run $args --kernel "$GUESTS/counter.elf" --serial "unix:$T/s0"
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s0" --expect "counter ready" >/dev/null ||
	fail "the counter guest did not start"
want=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s$((i - 1))" --send "inc $i" \
		>"$T/c" || fail "inc $i: $(cat "$T/c")"
	want=$((want + i))
	grep -qx "guest: val $want" "$T/c" || fail "inc $i answered $(cat "$T/c"), want $want"
	"$VMM" ctl "$name" save "$T/snap" --quit >"$T/ctl" 2>&1 || fail "save: $(cat "$T/ctl")"
	wait "$vm_pid"
	bg_vmm vm run $args --restore "$T/snap" --serial "unix:$T/s$i"
done
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s10" --send get --send check >"$T/c" ||
	fail "after the restores: $(cat "$T/c")"
grep -qx "guest: val $want" "$T/c" && grep -q "check ok 10" "$T/c" ||
	fail "the counter lost updates: $(cat "$T/c"), want $want"
"$VMM" ctl "$name" quit >/dev/null
wait "$vm_pid"
pass "counter: 10 restores, every acknowledged update kept"

# A snapshot refused: wrong memory size, wrong vCPU count, damaged bytes.
LOG=$T/err
run_vmm 30 run --cpus 2 --memory 128M --restore "$T/snap"
[ "$rc" -eq 1 ] && grep -qi "memory" "$T/err" || fail "memory size mismatch not refused (rc $rc)"
run_vmm 30 run --cpus 1 --memory 64M --restore "$T/snap"
[ "$rc" -eq 1 ] && grep -qi "cpu" "$T/err" || fail "vCPU count mismatch not refused (rc $rc)"
size=$(stat -c %s "$T/snap")
head -c $((size / 2)) "$T/snap" >"$T/half"
run_vmm 30 run --cpus 2 --memory 64M --restore "$T/half" --serial "file:$T/none"
[ "$rc" -eq 1 ] && [ ! -s "$T/none" ] || fail "a truncated snapshot was not refused (rc $rc)"
cp "$T/snap" "$T/flip"
printf '\377' | dd of="$T/flip" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
run_vmm 30 run --cpus 2 --memory 64M --restore "$T/flip" --serial "file:$T/none"
[ "$rc" -eq 1 ] && [ ! -s "$T/none" ] || fail "a damaged snapshot was not refused (rc $rc)"
pass "mismatched, truncated and damaged snapshots refused, nothing run"
