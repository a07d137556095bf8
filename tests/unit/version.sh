#!/bin/sh
# vmm, hasvcd and hactl --version: the package version of configure.ac's
# AC_INIT on stdout as "PROGRAM (hasvc) VERSION", exit status 0, no other
# argument needed (hasvcd without -c, hactl without a daemon).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
version=$(sed -n 's/^AC_INIT(\[hasvc\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
[ -n "$version" ] || { echo "FAIL: no version in $top_srcdir/configure.ac"; exit 1; }
fails=0

# check PROGRAM PATH: PATH --version says "PROGRAM (hasvc) VERSION" first.
check() {
	out=$("$2" --version 2>&1)
	rc=$?
	first=$(printf '%s\n' "$out" | head -n 1)
	if [ "$rc" -eq 0 ] && [ "$first" = "$1 (hasvc) $version" ]; then
		echo "ok: $1 --version: $first"
	else
		echo "FAIL: $1 --version: exit $rc, printed '$out' (want '$1 (hasvc) $version')"
		fails=$((fails + 1))
	fi
}

check vmm "$top_builddir/vmm/vmm"
check hasvcd "$top_builddir/hasvc/hasvcd"
check hactl "$top_builddir/hasvc/hactl"
[ "$fails" -eq 0 ]
