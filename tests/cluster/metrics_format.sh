#!/bin/sh
# The whole GET /metrics text of every node, validated by a Prometheus
# exposition-format parser (python3-prometheus-client's, tests/cluster/
# scrape.py check: parsed, HELP and TYPE for every family, hasvc_ names,
# counters in _total, no sample twice), with a protected and an unprotected
# VM running, served on IPv6 (metrics_address = ::1; metrics.sh uses the
# default 127.0.0.1).  Other paths and methods are refused; bad metrics_*
# keys and a port already in use stop hasvcd with an error that names them.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
PORT=9466
URL="http://[::1]:$PORT"
need_prom_parser

cluster_setup 3

# bad_key LINE EXPECTED: hasvcd --check-config refuses [cluster] LINE with EXPECTED.
bad_key() {
	HLIB_CLUSTER_EXTRA=$1 write_hasvc_conf web1
	if "$HASVCD" --check-config -c "$T/hasvc.conf" >"$T/check.out" 2>&1; then
		fail "hasvcd took '$1'"
	fi
	grep -q "$2" "$T/check.out" || fail "'$1': $(cat "$T/check.out")"
	echo "refused '$1': $(cat "$T/check.out")"
}
bad_key "metrics_port = 70000" "metrics_port '70000' is not a TCP port"
bad_key "metrics_port = 9x" "metrics_port '9x' is not a TCP port"
bad_key "metrics_address = localhost" "metrics_address 'localhost' is not an IPv4 or IPv6"

HLIB_CLUSTER_EXTRA="metrics_port = $PORT
metrics_address = ::1"
HLIB_PROTECT_web2=no
start_cluster web1:a,b web2:c
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
wait_vm a web2 'v["primary"] == "c" and v["state"] == "unprotected"' 60
# The primary's figures are in once the poll has read protect-status.
end=$(deadline 10)
until [ "$(node_exec a "$PY" "$SCRAPE" "$URL/metrics" get hasvc_vm_checkpoint_pause_seconds_count vm=web1)" != absent ]; do
	[ "$(date +%s)" -le "$end" ] || fail "a: no pause summary for web1"
	sleep 0.2
done
for n in a b c; do
	r=$(node_exec $n "$PY" "$SCRAPE" "$URL/metrics" check) || fail "$n: the text does not validate"
	echo "$n: $r: valid"
	node_exec $n "$PY" -c 'import urllib.request, sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
		"$URL/metrics" >"$T/metrics.$n" || fail "$n: cannot scrape"
done
# Each family appears once, on every node; the checkpoint figures only on a.
for fam in hasvc_cluster_quorate hasvc_cluster_config_info hasvc_vm_state hasvc_vm_generation \
	hasvc_vm_checkpoint_epochs_total hasvc_vm_checkpoint_pause_seconds \
	hasvc_vm_output_held_bytes hasvc_cluster_failovers_total; do
	for n in a b c; do
		[ "$(grep -c "^# TYPE $fam " "$T/metrics.$n")" = 1 ] || fail "$n: TYPE of $fam not once"
	done
done
grep -q '^hasvc_vm_checkpoint_pause_seconds{vm="web1",quantile="0.99"} ' "$T/metrics.a" ||
	fail "a: no p99 pause of web1"
grep -q '^hasvc_vm_state{vm="web2",state="unprotected"} 1$' "$T/metrics.b" ||
	fail "b: web2 is not unprotected: $(grep hasvc_vm_state "$T/metrics.b")"
grep -q '^hasvc_vm_checkpoint' "$T/metrics.b" && fail "b reports checkpoint figures"
grep -q 'hasvc_vm_checkpoint_epochs_total{vm="web2"}' "$T/metrics.c" &&
	fail "c reports checkpoint figures of the unprotected web2"
digest=$(sed -n 's/^hasvc_cluster_config_info{digest="\([0-9a-f]*\)"} 1$/\1/p' "$T/metrics.a")
[ "${#digest}" = 64 ] || fail "a: no config digest"
for n in b c; do
	grep -q "^hasvc_cluster_config_info{digest=\"$digest\"} 1$" "$T/metrics.$n" ||
		fail "$n: another config digest"
done
echo "families once per node, checkpoint figures only from web1's primary, one digest"

[ "$(node_exec a "$PY" "$SCRAPE" "$URL/" status GET)" = 404 ] || fail "/ is not 404"
[ "$(node_exec a "$PY" "$SCRAPE" "$URL/metrics" status POST)" = 405 ] || fail "POST is not 405"
[ "$(node_exec a "$PY" "$SCRAPE" "$URL/metrics" status HEAD)" = 200 ] || fail "HEAD is not 200"
echo "/ 404, POST 405, HEAD 200"

# A second hasvcd in a, with its port taken, stops before it joins.
if node_exec a "$HASVCD" -c "$T/hasvc.conf" -n a -r "$T/a/run2" -s other --vmm "$VMM" \
	>"$T/second.out" 2>&1; then
	fail "a second hasvcd ran with its metrics port taken"
fi
grep -q "cannot serve metrics on \[::1\]:$PORT: Address already in use" "$T/second.out" ||
	fail "the second hasvcd said: $(cat "$T/second.out")"
echo "port taken: $(grep "cannot serve" "$T/second.out")"
replicas_agree 3 30
echo "ok"
