#!/bin/sh
# The demo: boot the counter guest in the vmm, talk to it over its serial
# socket, pause and resume it through the control socket, then stop it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
VMM=$top/vmm/vmm
GUEST=$top/tests/guests/counter.elf
[ -c /dev/kvm ] || { echo "demo: /dev/kvm is missing: KVM is not available here"; exit 77; }

d=$(mktemp -d /tmp/hasvc-demo.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
name=demo-$$

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "boot the counter guest: vmm run --memory 64M --cpus 1 --serial unix:$d/serial --control $name"
"$VMM" run -v --memory 64M --kernel "$GUEST" --serial "unix:$d/serial" --control "$name" \
	2>"$d/vmm.log" &
pid=$!
python3 "$top/tests/vmm/serial_client.py" "$d/serial" --expect 'counter ready' \
	--send 'inc 5' --send 'inc 37' --send 'get' --send 'check'

say "vmm ctl $name status"
"$VMM" ctl "$name" status
say "vmm ctl $name pause   (the guest stops answering)"
"$VMM" ctl "$name" pause
"$VMM" ctl "$name" status | grep state
say "vmm ctl $name resume"
"$VMM" ctl "$name" resume
python3 "$top/tests/vmm/serial_client.py" "$d/serial" --send 'inc 1' --send 'get'
say "vmm ctl $name quit"
"$VMM" ctl "$name" quit
wait "$pid"; rc=$?; pid=""
say "vmm exited with status $rc; its log:"
cat "$d/vmm.log"
