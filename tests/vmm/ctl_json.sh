#!/bin/sh
# vmm ctl --json prints one line of valid JSON whatever its strings hold.
# Error texts quote what an operator typed (a VM name, a path, a URI) and
# what the OS said: quotes, backslashes, control characters and bytes that
# are not UTF-8 go through status, save, migrate-status, protect-status,
# net-status, dirty-rate and quit, and through the refusal object
# {"ok":false,"error":...,"code":N} of every command that takes --json.  Checked by python3's json module, strictly: UTF-8, no raw
# control characters, no NaN.
. "$(dirname "$0")/../common.sh"
need_kvm

# The operator's words: quote, backslash, \001, newline, \377 (not UTF-8).
NASTY=$(printf 'a"b\\c\001\n\377d')
# How they read back: \377 is U+FFFD.
WANT='a"b\\c\x01\n\ufffdd'

# check FILE [KEY WANT]: FILE is one line holding one JSON object whose
# string KEY contains WANT (Python escapes).
check() {
	python3 - "$@" <<'EOF'
import json, sys
path = sys.argv[1]
raw = open(path, 'rb').read()
def refuse(c):
    raise ValueError(c + ' is not JSON')
try:
    text = raw.decode('utf-8')
    if text.count('\n') != 1 or not text.endswith('\n'):
        raise ValueError('not one line')
    d = json.loads(text, parse_constant=refuse)
    if not isinstance(d, dict):
        raise ValueError('not an object')
except ValueError as e:
    sys.exit('%s: %r: %s' % (path, raw, e))
if len(sys.argv) > 2:
    key, want = sys.argv[2], sys.argv[3].encode().decode('unicode_escape')
    if want not in d.get(key, ''):
        sys.exit('%s: %s is %r, lacks %r' % (path, key, d.get(key), want))
EOF
}

# No vmm by that name: the refusal names it.
for cmd in status protect-status net-status migrate-status dirty-rate; do
	"$VMM" ctl "$NASTY" $cmd --json >"$T/none" 2>/dev/null && fail "$cmd: no vmm, yet exit 0"
	check "$T/none" error "'$WANT'" || fail "$cmd --json without a vmm"
done
pass "no vmm: the refusal of every --json command is JSON"

name=ctl-json-$$
bg_vmm vm run --cpus 1 --memory 64M --kernel "$GUESTS/counter.elf" --serial "unix:$T/s" \
	--control "$name"
LOG=$T/vm.err
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s" --expect "counter ready" >/dev/null ||
	fail "the counter guest did not start"

"$VMM" ctl "$name" status --json >"$T/status" || fail "status --json"
check "$T/status" || fail "status --json"
pass "status --json"

# A save that worked: its size, as the text says "saved N bytes".
"$VMM" ctl "$name" save "$T/snap" --json >"$T/saved" || fail "save --json: $(cat "$T/saved")"
check "$T/saved" || fail "save --json"
python3 - "$T/saved" "$(stat -c %s "$T/snap")" <<'EOF2' || fail "save --json: $(cat "$T/saved")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get("ok") is True and d.get("saved_bytes") == int(sys.argv[2]) > 0 else
         "saved_bytes is not the file's size %s" % sys.argv[2])
EOF2
rm -f "$T/snap"
pass "save --json: {\"ok\":true,\"saved_bytes\":N}, N the file's size"

# A refusal: {"ok":false,"error":...,"code":N} with the path in the error.
"$VMM" ctl "$name" save "/nonexistent/$NASTY" --json >"$T/save" 2>/dev/null &&
	fail "save to /nonexistent succeeded"
check "$T/save" error "/nonexistent/$WANT" || fail "save --json"
pass "refused save --json: the path in the error is escaped"

# A migration that fails: the URI is in migrate-status's error.
"$VMM" ctl "$name" migrate "tcp:$NASTY:1" --tls-none >"$T/out" 2>&1 || fail "migrate: $(cat "$T/out")"
end=$(deadline 10)
until "$VMM" ctl "$name" migrate-status --json >"$T/mig" && ! grep -q '"state":"active"' "$T/mig"; do
	[ "$(date +%s)" -le "$end" ] || fail "the migration to a bad host is still active"
	sleep 0.05
done
check "$T/mig" error "$WANT" || fail "migrate-status --json"
pass "failed migration: migrate-status --json"

# Protection that fails: the same in protect-status's error.
"$VMM" ctl "$name" protect "tcp:$NASTY:1" --tls-none >"$T/out" 2>&1 || fail "protect: $(cat "$T/out")"
end=$(deadline 10)
until "$VMM" ctl "$name" protect-status --json >"$T/prot" && grep -q '"state":"failed"' "$T/prot"; do
	[ "$(date +%s)" -le "$end" ] || fail "protection to a bad host did not fail: $(cat "$T/prot")"
	sleep 0.05
done
check "$T/prot" error "$WANT" || fail "protect-status --json"
pass "failed protection: protect-status --json"

# The vmm says no (it has no network device): a refusal object.
"$VMM" ctl "$name" net-status --json >"$T/net" 2>/dev/null && fail "net-status without --net: exit 0"
check "$T/net" error "no network device" || fail "net-status --json refused"
pass "refused net-status --json"

"$VMM" ctl "$name" dirty-rate --seconds 1 --json >"$T/dr" || fail "dirty-rate --json"
check "$T/dr" || fail "dirty-rate --json"
"$VMM" ctl "$name" quit --json >"$T/quit" || fail "quit --json"
check "$T/quit" || fail "quit --json"
wait "$vm_pid"; rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after quit"
pass "dirty-rate --json, quit --json"
