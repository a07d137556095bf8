#!/bin/sh
# 20 live migrations back and forth between two vmm processes; the dirty
# guest verifies its working set all along.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

N=${PINGPONG:-20}
start_src v0 64M 1 "mem_mib=16 rate_mib=20 hb_us=20000 verify_every=2"
i=0
while [ $i -lt "$N" ]; do
	j=$((i + 1))
	start_dst "v$j" 64M 1 --tls-none
	LOG=$T/v$i.err
	migrate "v$i" "$PORT" --tls-none
	[ "$rc" -eq 0 ] || fail "migration $j failed: $(cat "$T/ctl.err")"
	eval "wait \$v${i}_pid" || fail "migration $j: the source exited with $?"
	LOG=$T/v$j.err
	hb_continues "$T/v$j.ser" "$T/v$i.ser" 1
	i=$j
done
hb_continues "$T/v$N.ser" "$T/v$N.ser" 3
first=$(grep -a '^hb ' "$T/v0.ser" | head -n 1 | cut -d' ' -f2)
"$VMM" ctl "v$N-$$" quit >/dev/null
pass "$N migrations back and forth: heartbeat $first..$(last_hb "$T/v$N.ser"), no corruption"
