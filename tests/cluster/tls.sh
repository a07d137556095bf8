#!/bin/sh
# hasvcd holds every replication channel to the node at the other end: node
# b is configured with node a's certificate (signed by the cluster CA, so a
# CA check alone accepts it).  a's primary refuses b as web2's standby (a
# sender expecting b that reaches a receiver presenting a), and c's standby
# refuses b as web3's primary (a receiver expecting b, a client presenting
# a); web1 between a and c, the right certificates, is protected.  Every
# node has tls_crl (the CA's CRL, revoking an unused certificate d), which
# hasvcd passes on and the vmm loads.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# wait_vmm_log NODE VM REGEX SECS: until one of NODE's vmm logs of VM has a
# line matching REGEX (polled: the log is the vmm's account).
wait_vmm_log() {
	_end=$(deadline "$4")
	until cat "$T/$1/run/hasvc.$2".*.log 2>/dev/null | grep -Eq -- "$3"; do
		[ "$(date +%s)" -le "$_end" ] ||
			fail "$2 on $1: no '$3' in $(tail -n 3 "$T/$1/run/hasvc.$2".*.log 2>/dev/null)"
		sleep 0.1
	done
	cat "$T/$1/run/hasvc.$2".*.log | grep -Eo -- "$3" | head -n 1
}

cluster_setup 3
sh "$top_srcdir/conf/make-certs.sh" "$T/pki" a b c d >"$T/certs.out" 2>&1 &&
	sh "$top_srcdir/conf/make-certs.sh" --revoke "$T/pki" d >>"$T/certs.out" 2>&1 ||
	fail "make-certs.sh: $(cat "$T/certs.out")"
write_hasvc_conf web1:a,c web2:a,b web3:b,c
sed -i -e "s|$T/pki/b\\.pem|$T/pki/a.pem|; s|$T/pki/b\\.key|$T/pki/a.key|" \
	-e "/^tls_key = /a tls_crl = $T/pki/crl.pem" "$T/hasvc.conf"
grep -q "tls_cert = $T/pki/a.pem" "$T/hasvc.conf" && [ "$(grep -c '^tls_crl' "$T/hasvc.conf")" = 3 ] ||
	fail "hasvc.conf not as meant: $(cat "$T/hasvc.conf")"
for _n in $CL_NODES; do start_corosync "$_n"; done
wait_members "$CL_NODES" 3 20
for _n in $CL_NODES; do start_hasvcd "$_n"; done

wait_placed web1 90; set -- $PLACED
[ "$1 $2" = "a c" ] || fail "web1 placed on $1/$2, not a/c"
# c's standby of web1 got the node's tls_crl and the primary's name.
pid=$(cat "$T/c/run/hasvc.web1".*.rec 2>/dev/null | awk '{ print $5 }' | tail -n 1)
tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>/dev/null | grep -q -- "--tls-peer a --tls-crl $T/pki/crl.pem" ||
	fail "web1's standby on c: no --tls-peer a --tls-crl: $(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>&1)"
echo "web1 protected from a to c (right certificates, with the CRL)"

m=$(wait_vmm_log a web2 "the peer is not node b: [^;]*CN=a, DNS:a" 60)
echo "a's primary of web2: $m"
m=$(wait_vmm_log c web3 "the peer is not node b: [^;]*CN=a, DNS:a" 60)
echo "c's standby of web3: $m"

# Neither got protected through b meanwhile.
[ "$(vm_get a web2 'v.get("state") == "protected" and v.get("standby") == "b"')" = False ] ||
	fail "web2 protected to b: $(hactl_on a status)"
[ "$(vm_get a web3 'v.get("state") == "protected" and v.get("primary") == "b"')" = False ] ||
	fail "web3 protected from b: $(hactl_on a status)"
echo "ok: a node with another node's certificate is refused both ways"
