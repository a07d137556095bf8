#!/bin/sh
# Print "N passed, N failed, N skipped" from automake's .trs result files.
# With test names as arguments (make -s list-tests), a named test that left
# no result (it never ran: a nested VM that died, say) is named and counted
# as failed, and the exit status is 1.
cd "$(dirname "$0")/.." || exit 1
missing=0
for t in "$@"; do
	# automake names a script's results without its extension (boot.sh: boot.trs).
	if [ ! -f "${t%.sh}.trs" ]; then
		echo "NOT RUN: $t"
		missing=$((missing + 1))
	fi
done
find . -path './.*' -prune -o -name '*.trs' -exec grep -h '^:test-result:' {} + | awk -v m="$missing" '
	$2 == "PASS" || $2 == "XFAIL" { p++ }
	$2 == "FAIL" || $2 == "XPASS" || $2 == "ERROR" { f++ }
	$2 == "SKIP" { s++ }
	END { printf "%d passed, %d failed, %d skipped\n", p, f + m, s }'
[ "$missing" -eq 0 ]
