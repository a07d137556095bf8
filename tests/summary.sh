#!/bin/sh
# Print "N passed, N failed, N skipped" from automake's .trs result files.
cd "$(dirname "$0")/.." || exit 1
find . -name '*.trs' -exec grep -h '^:test-result:' {} + | awk '
	$2 == "PASS" || $2 == "XFAIL" { p++ }
	$2 == "FAIL" || $2 == "XPASS" || $2 == "ERROR" { f++ }
	$2 == "SKIP" { s++ }
	END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
