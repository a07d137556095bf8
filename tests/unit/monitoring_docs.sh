#!/bin/sh
# docs/operations.md lists what the code has: every metric family hasvcd
# renders (hasvc/metrics.c, hasvc/local_metrics.c) is a row of the metric
# tables in "Monitoring" and no row names one it does not render; every
# cluster event (hasvc/events.c) is in the "Cluster events" list of
# "Monitoring" and in the table of "Cluster events and alerts", and neither
# names an event the code does not have.
set -u
src=${top_srcdir:-$(dirname "$0")/../..}
doc=$src/docs/operations.md
T=$(mktemp -d) || exit 99
trap 'rm -rf "$T"' EXIT
fails=0

# same WHAT CODE_FILE DOC_FILE: the two sorted lists are equal.
same() {
	if ! diff -u "$2" "$3" >"$T/diff"; then
		echo "FAIL: $1 (- the code, + docs/operations.md):"
		cat "$T/diff"
		fails=$((fails + 1))
	elif [ ! -s "$2" ]; then
		echo "FAIL: $1: no names found in the code"
		fails=$((fails + 1))
	else
		echo "ok: $1: $(wc -l <"$2") names"
	fi
}

# A summary's _sum and _count samples belong to its family.
grep -oh '"hasvc_[a-z_]*"' "$src/hasvc/metrics.c" "$src/hasvc/local_metrics.c" | tr -d '"' |
	sed 's/_\(sum\|count\)$//' | sort -u >"$T/code_metrics"
sed -n '/^## Monitoring$/,/^## /p' "$doc" | sed -n 's/^| `\(hasvc_[a-z_]*\).*/\1/p' |
	sort -u >"$T/doc_metrics"
same "metric families" "$T/code_metrics" "$T/doc_metrics"

sed -n 's/^\t\[EVENT_[A-Z_]*\] = "\([a-z_]*\)",$/\1/p' "$src/hasvc/events.c" | sort >"$T/code_events"
sed -n '/^### Cluster events$/,/^### /p' "$doc" | grep -o '`[a-z_]*`' | tr -d '`' |
	grep -vx 'alert_command' | sort >"$T/doc_list"
same "the event list in Monitoring" "$T/code_events" "$T/doc_list"
sed -n '/^## Cluster events and alerts$/,/^## /p' "$doc" | sed -n 's/^| \(`[a-z_]*`\(, `[a-z_]*`\)*\) |.*/\1/p' |
	grep -o '[a-z_]*' | sort >"$T/doc_table"
same "the event table of Cluster events and alerts" "$T/code_events" "$T/doc_table"

[ "$fails" -eq 0 ]
