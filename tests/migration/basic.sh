#!/bin/sh
# Live migration of the dirty guest over loopback: idle, moderate and heavy
# dirtying; 2 vCPUs; several connections with compression; a destination
# whose configuration differs is refused before anything runs.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

one() { # NAME CPUS CMDLINE MIGRATE-ARGS...
	_n=$1 _c=$2 _cmd=$3; shift 3
	start_dst "d$_n" 128M "$_c" --tls-none
	start_src "s$_n" 128M "$_c" "$_cmd"
	migrate_done "$_n" "$@"
	pass "$_n: $(cat "$T/ctl.out")"
}

one idle 1 "mem_mib=32 rate_mib=1 hb_us=20000 verify_every=2"
one moderate 1 "mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2"
one heavy 1 "mem_mib=32 rate_mib=0 hb_us=20000 verify_every=2" --timeout 5 --on-timeout force
one smp 2 "mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2 cpus=2"
one parallel 1 "mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2" --parallel 4 --compress

# A destination with other memory refuses before anything runs; the source carries on.
start_dst dm 64M 1 --tls-none
start_src sm 128M 1 "mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2"
LOG=$T/sm.err
migrate sm "$PORT" --tls-none
[ "$rc" -ne 0 ] && grep -qi "memory size differs" "$T/ctl.err" ||
	fail "a memory size mismatch was not refused: rc $rc, $(cat "$T/ctl.err")"
wait "$dm_pid"; drc=$?
[ "$drc" -ne 0 ] && [ ! -s "$T/dm.ser" ] || fail "the mismatched destination ran (rc $drc)"
hb_continues "$T/sm.ser" "$T/sm.ser"
"$VMM" ctl "sm-$$" migrate-status | grep -q "state: failed" || fail "status does not say failed"
pass "memory size mismatch refused: $(cat "$T/ctl.err")"
