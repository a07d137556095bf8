#!/bin/sh
# hasvcd --check-config: the daemon's own parser on whole files.  The example
# conf/hasvc.conf passes; two VMs on one disk image or one MAC address, and a
# cluster of fewer than 3 nodes that does not say two_node = yes, are
# refused with exit status 1 and a message naming what is wrong (both VMs).
set -u
HASVCD="${top_builddir:-$(dirname "$0")/../..}/hasvc/hasvcd"
SRC="${top_srcdir:-$(dirname "$0")/../..}"
[ -x "$HASVCD" ] || { echo "no $HASVCD: build first"; exit 99; }
T=$(mktemp -d "${TMPDIR:-/tmp}/hasvcd_check.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
fails=0 passes=0

# expect STATUS WORDS FILE: hasvcd --check-config -c FILE exits STATUS and
# prints WORDS (stdout or stderr).
expect() {
	out=$("$HASVCD" --check-config -c "$3" 2>&1)
	rc=$?
	if [ "$rc" -eq "$1" ] && printf '%s' "$out" | grep -qF -- "$2"; then
		passes=$((passes + 1))
	else
		echo "FAIL: $3: exit $rc (want $1), output: $out (want '$2')"
		fails=$((fails + 1))
	fi
}

expect 0 "$SRC/conf/hasvc.conf: ok (3 nodes, 2 VMs)" "$SRC/conf/hasvc.conf"

nodes() {
	printf '[cluster]\nallow_plaintext = yes\n'
	for n in 1 2 3; do printf '[node n%s]\nreplication = 10.0.0.%s:7400\n' $n $n; done
}
{ nodes; printf '[vm w]\nmemory = 1G\nkernel = /k\ndisk = /srv/x.img\ndisk_size = 1G\n'
  printf '[vm u]\nmemory = 1G\nkernel = /k\ndisk = /srv/x.img\ndisk_size = 1G\n'; } >"$T/disk.conf"
expect 1 "disk.conf:14: vm u: disk /srv/x.img is also the disk of vm w (line 9)" "$T/disk.conf"
{ nodes; printf '[vm w]\nmemory = 1G\nkernel = /k\nbridge = br0\nmac = 52:54:00:00:00:01\n'
  printf '[vm u]\nmemory = 1G\nkernel = /k\nbridge = br0\nmac = 52:54:00:00:00:01\n'; } >"$T/mac.conf"
expect 1 "mac.conf:14: vm u: mac 52:54:00:00:00:01 is also the mac of vm w (line 9)" "$T/mac.conf"
printf '[cluster]\nallow_plaintext = yes\n[node a]\nreplication = h:1\n[node b]\nreplication = h:2\n' \
	>"$T/two.conf"
expect 1 "two.conf:3: 2 nodes declared: a cluster of fewer than 3 nodes" "$T/two.conf"
printf '[cluster]\nallow_plaintext = yes\ntwo_node = yes\n[node a]\nreplication = h:1\n[node b]\nreplication = h:2\n' \
	>"$T/two_ok.conf"
expect 0 "two_ok.conf: ok (2 nodes, 0 VMs)" "$T/two_ok.conf"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
