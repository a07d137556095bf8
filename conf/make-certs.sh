#!/bin/sh
# Make a cluster CA and node certificates for the replication channels
# (live migration, checkpointing): TLS 1.3 with mutual authentication, so
# every node presents a certificate signed by the cluster CA and accepts
# only peers whose certificate that CA signed.
#
# usage: conf/make-certs.sh DIR NODE [NODE...]
#   DIR/ca.pem, DIR/ca.key          the cluster CA (keep ca.key offline)
#   DIR/NODE.pem, DIR/NODE.key      one certificate and key per node
# A NODE that looks like an IPv4 address also gets it as an IP SAN.
# Give each node ca.pem, its own NODE.pem and NODE.key:
#   vmm run --incoming tcp:ADDR:PORT --tls-ca ca.pem --tls-cert NODE.pem --tls-key NODE.key
#   vmm ctl VM migrate tcp:ADDR:PORT --tls-ca ca.pem --tls-cert NODE.pem --tls-key NODE.key
# Keys are EC P-256, certificates valid 825 days.  Needs the openssl CLI.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR NODE [NODE...]" >&2; exit 2; }
dir=$1; shift
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 \
		-subj "/CN=hasvc cluster CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
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
