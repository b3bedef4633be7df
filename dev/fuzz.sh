#!/usr/bin/env bash
# Runs every fuzz target in the repository for the given time each (default 5s).
# Fuzz targets are found by name (func FuzzXxx in *_test.go), so a new one is never forgotten.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz: $pkg $target ($fuzztime)"
		log=$(mktemp)
		for try in 1 2; do
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
				break
			fi
			# The fuzz engine itself sometimes ends a short run with "context deadline
			# exceeded" and no failing input on a loaded machine; only that is retried.
			if [ "$try" = 2 ] || grep -q 'Failing input' "$log" ||
				! grep -q 'context deadline exceeded' "$log"; then
				cat "$log"; rm -f "$log"; exit 1
			fi
			echo "fuzz: $target: engine timeout without a failing input; running again"
		done
		rm -f "$log"
	done
done
