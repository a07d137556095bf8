#!/bin/sh
# The demo: boot the counter guest in the vmm, talk to it over its serial
# socket, pause and resume it through the control socket, live-migrate it to
# a second vmm (the counter keeps its value), then stop it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
VMM=$top/vmm/vmm
GUEST=$top/tests/guests/counter.elf
[ -c /dev/kvm ] || { echo "demo: /dev/kvm is missing: KVM is not available here"; exit 77; }

d=$(mktemp -d /tmp/hasvc-demo.XXXXXX)
pid="" pid2="" pid3=""
cleanup() {
	for p in $pid $pid2 $pid3; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$d"
}
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
port=$(( 40000 + $$ % 20000 ))
say "live migration to a second vmm: vmm run --incoming tcp:127.0.0.1:$port (plaintext on loopback)"
"$VMM" run -v --incoming "tcp:127.0.0.1:$port" --tls-none --memory 64M \
	--serial "unix:$d/serial2" --control "$name-b" 2>"$d/vmm2.log" &
pid2=$!
until grep -q "waiting for an incoming migration" "$d/vmm2.log" 2>/dev/null; do
	kill -0 "$pid2" 2>/dev/null || { cat "$d/vmm2.log"; exit 1; }
	sleep 0.05 # the destination is starting up
done
"$VMM" ctl "$name" migrate "tcp:127.0.0.1:$port" --tls-none --wait
wait "$pid"; pid=""
say "the counter on the destination still holds its value"
python3 "$top/tests/vmm/serial_client.py" "$d/serial2" --send 'get' --send 'inc 1' --send 'check'
port3=$((port + 1))
say "protect it: a hot standby (vmm run --standby), checkpoints every 20 ms"
"$VMM" run --standby "tcp:127.0.0.1:$port3" --tls-none --memory 64M \
	--serial "unix:$d/serial3" --control "$name-c" 2>"$d/vmm3.log" &
pid3=$!
until grep -q "waiting for an incoming migration" "$d/vmm3.log" 2>/dev/null; do
	kill -0 "$pid3" 2>/dev/null || { cat "$d/vmm3.log"; exit 1; }
	sleep 0.05 # the standby is starting up
done
"$VMM" ctl "$name-b" protect "tcp:127.0.0.1:$port3" --tls-none --interval 20
until grep -q "initial sync to .* done" "$d/vmm2.log"; do sleep 0.05; done
python3 "$top/tests/vmm/serial_client.py" "$d/serial2" --send 'inc 100' --send 'get'
"$VMM" ctl "$name-b" protect-status | head -n 6
say "kill -9 the primary vmm (pid $pid2); activate the standby"
kill -9 "$pid2"; wait "$pid2" 2>/dev/null || true; pid2=""
"$VMM" ctl "$name-c" activate
say "the client reconnects to the standby: every acknowledged update is there"
python3 "$top/tests/vmm/serial_client.py" "$d/serial3" --send 'get' --send 'check'
say "vmm ctl $name-c quit"
"$VMM" ctl "$name-c" quit
wait "$pid3"; rc=$?; pid3=""
say "the standby exited with status $rc; the three logs:"
cat "$d/vmm.log" "$d/vmm2.log" "$d/vmm3.log"
