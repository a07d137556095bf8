#!/bin/sh
# vmm ctl NAME save FILE is durable: after the file is fsync'ed and renamed
# into place, the directory that holds the new name is fsync'ed too (else a
# crash soon after could lose the rename).  Seen from the vmm's system calls
# (strace): rename to FILE, then an fsync of FILE's directory.
. "$(dirname "$0")/../common.sh"
need_kvm
command -v strace >/dev/null || fail "strace is missing (setup.sh installs it)"

name=snapsync-$$
mkdir "$T/dir"
bg_vmm vm run --kernel "$GUESTS/counter.elf" --serial "unix:$T/s" --control "$name"
LOG=$T/vm.err
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s" --expect "counter ready" >/dev/null ||
	fail "the counter guest did not start"
strace -f -qq -y -p "$vm_pid" -e trace=rename,renameat,renameat2,fsync,fdatasync \
	-o "$T/trace" 2>"$T/strace.err" &
st_pid=$!
PIDS="$PIDS $st_pid"
# strace has attached when the vmm's status says it is traced.
end=$(deadline 10)
until grep -q '^TracerPid:[[:space:]]*[1-9]' "/proc/$vm_pid/status"; do
	[ "$(date +%s)" -le "$end" ] || fail "strace did not attach: $(cat "$T/strace.err")"
	sleep 0.05
done
"$VMM" ctl "$name" save "$T/dir/snap" >"$T/ctl" 2>&1 || fail "save: $(cat "$T/ctl")"
kill "$st_pid"; wait "$st_pid" 2>/dev/null
[ -s "$T/dir/snap" ] || fail "no snapshot"
# The rename's line, then an fsync of an fd that is the directory.
awk -v dir="$T/dir" -v file="$T/dir/snap" '
	/rename/ && index($0, "\"" file "\"") { renamed = 1; next }
	renamed && /fsync\(/ && index($0, "<" dir ">") { synced = 1 }
	END { exit !(renamed && synced) }' "$T/trace" ||
	fail "no fsync of $T/dir after the rename: $(grep -E 'rename|fsync' "$T/trace" | tail -n 5)"
pass "save: rename, then fsync of the directory"
"$VMM" ctl "$name" quit >/dev/null 2>&1
