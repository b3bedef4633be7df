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
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/h2k-fuzz.log 2>&1 || {
			cat /tmp/h2k-fuzz.log; exit 1; }
	done
done
