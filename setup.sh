#!/bin/sh
# Set up a fresh Debian 12 machine (as root) and build the project, then:
#   ./setup.sh demo    run the demo
#   ./setup.sh check   run the whole test suite
# Safe to run again: installs are idempotent and the build is incremental.
set -eu
cd "$(dirname "$0")"
what=${1:-demo}

PACKAGES="build-essential autoconf automake libtool pkg-config \
  libqb-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libzstd-dev \
  corosync libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcorosync-common-dev \
  libinih-dev check iproute2 openssl python3 util-linux procps"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure --quiet
make -j"$(nproc)"

case "$what" in
demo)
	exec tests/demo.sh ;;
check)
	rc=0
	make -j"$(nproc)" check || rc=$?
	# A failed test's own log, so a CI that keeps only the console can tell why.
	for trs in $(find . -name '*.trs' -exec grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' {} +); do
		echo "==== ${trs%.trs}.log (last 60 lines)"
		tail -n 60 "${trs%.trs}.log"
	done
	# One closing line any CI can read, from automake's per-test results.
	tests/summary.sh
	exit $rc ;;
*)
	echo "usage: $0 demo|check" >&2
	exit 2 ;;
esac
