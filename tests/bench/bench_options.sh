# Shared by the benchmark scripts that take --record, --runs N and --help
# (sourced).  bench_options NAME HELP_LINES "$@" sets srcdir, builddir,
# cmd (the command line to print in the report), args (for the
# measuring program) and baseline (--baseline-vmm PATH, absolute; "" without); bench_need_build exits 1 unless /dev/kvm is usable
# and the build tree is configured.
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir}

bench_options() {
	_name=$1 _help=$2
	shift 2
	cmd="tests/bench/$_name"
	args="" baseline=""
	while [ $# -gt 0 ]; do
		case $1 in
		--record) args="$args --record $srcdir/docs/performance.md"; cmd="$cmd --record" ;;
		--runs)
			case ${2:-} in
			''|*[!0-9]*) echo "$_name: --runs needs a number" >&2; exit 2 ;;
			esac
			args="$args --runs $2"; cmd="$cmd --runs $2"; shift ;;
		--baseline-vmm)
			# Another build's vmm (say, one built before a change), measured
			# in the same run as ours: $baseline, its absolute path.
			[ -x "${2:-}" ] || { echo "$_name: --baseline-vmm needs an executable vmm" >&2; exit 2; }
			baseline=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
			cmd="$cmd --baseline-vmm $2"; shift ;;
		-h|--help) sed -n "2,${_help}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) echo "$_name: unknown option '$1' (try --help)" >&2; exit 2 ;;
		esac
		shift
	done
}

bench_need_build() {
	if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "$_name: /dev/kvm is missing or not writable: nothing to measure" >&2
		exit 1
	fi
	if [ ! -f "$builddir/Makefile" ]; then
		echo "$_name: no Makefile in $builddir: run autoreconf -fi && ./configure first" >&2
		exit 1
	fi
}
