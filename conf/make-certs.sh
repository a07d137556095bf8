#!/bin/sh
# Make a cluster CA and node certificates for the replication channels
# (live migration, checkpointing): TLS 1.3 with mutual authentication, so
# every node presents a certificate signed by the cluster CA and accepts
# only peers whose certificate that CA signed and that names the node it
# expects (--tls-peer NODE: the certificate's DNS subjectAltName).
#
# usage: conf/make-certs.sh DIR NODE [NODE...]
#        conf/make-certs.sh --revoke DIR NODE [NODE...]
#        conf/make-certs.sh --crl DIR
#   DIR/ca.pem, DIR/ca.key          the cluster CA (keep ca.key offline)
#   DIR/NODE.pem, DIR/NODE.key      one certificate and key per node
#   DIR/crl.pem                     the CA's revocation list, valid 365 days:
#                                   written by every run; --revoke adds the
#                                   nodes' current certificates to it, --crl
#                                   only issues it again (do so before it
#                                   expires: an expired CRL refuses every peer)
#   DIR/ca-index.txt, DIR/ca-crlnumber  the CA's record of revocations (openssl
#                                   ca keeps .old and .attr copies beside them)
# A NODE that looks like an IPv4 address also gets it as an IP SAN.  A node
# whose certificate was revoked gets a new one by running this again.
# Give each node ca.pem, crl.pem, its own NODE.pem and NODE.key:
#   vmm run --incoming tcp:ADDR:PORT --tls-ca ca.pem --tls-cert NODE.pem \
#       --tls-key NODE.key --tls-peer SOURCE-NODE [--tls-crl crl.pem]
#   vmm ctl VM migrate tcp:ADDR:PORT --tls-ca ca.pem --tls-cert NODE.pem \
#       --tls-key NODE.key --tls-peer DESTINATION-NODE [--tls-crl crl.pem]
# Keys are EC P-256, certificates valid 825 days.  Needs the openssl CLI.
set -eu
usage() {
	echo "usage: $0 DIR NODE [NODE...] | --revoke DIR NODE [NODE...] | --crl DIR" >&2
	exit 2
}
mode=issue
case ${1:-} in
--revoke) mode=revoke; shift; [ $# -ge 2 ] || usage ;;
--crl) mode=crl; shift; [ $# -eq 1 ] || usage ;;
*) [ $# -ge 2 ] || usage ;;
esac
dir=$1; shift
[ "$mode" = issue ] || [ -f "$dir/ca.pem" ] || { echo "$0: no CA in $dir" >&2; exit 1; }
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 \
		-subj "/CN=hasvc cluster CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# `openssl ca` for the revocation list only: its configuration is written
# for each run (the paths are this DIR's), its database stays in DIR.
[ -f "$dir/ca-index.txt" ] || : >"$dir/ca-index.txt"
[ -f "$dir/ca-crlnumber" ] || echo 01 >"$dir/ca-crlnumber"
cnf=$(mktemp)
trap 'rm -f "$cnf"' EXIT
printf '[ca]\ndefault_ca = hasvc\n[hasvc]\ndatabase = %s\ncrlnumber = %s\n' \
	"$dir/ca-index.txt" "$dir/ca-crlnumber" >"$cnf"
printf 'certificate = %s\nprivate_key = %s\ndefault_md = sha256\n' \
	"$dir/ca.pem" "$dir/ca.key" >>"$cnf"
printf 'default_crl_days = 365\nunique_subject = no\n' >>"$cnf"
ca() {
	out=$(openssl ca -config "$cnf" -batch "$@" 2>&1) || {
		echo "$0: openssl ca $*: $out" >&2
		exit 1
	}
}

if [ "$mode" = issue ]; then
	for node in "$@"; do
		san="DNS:$node"
		case $node in
		*[!0-9.]*) ;;
		*) san="$san,IP:$node" ;;
		esac
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$node.key" -out "$dir/$node.csr" -subj "/CN=$node" 2>/dev/null
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
			"$san" >"$dir/$node.ext"
		openssl x509 -req -in "$dir/$node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-CAcreateserial -out "$dir/$node.pem" -days 825 -extfile "$dir/$node.ext" 2>/dev/null
		rm -f "$dir/$node.csr" "$dir/$node.ext"
	done
elif [ "$mode" = revoke ]; then
	for node in "$@"; do
		[ -f "$dir/$node.pem" ] || { echo "$0: no certificate $dir/$node.pem" >&2; exit 1; }
		ca -revoke "$dir/$node.pem"
	done
fi
ca -gencrl -out "$dir/crl.pem"
