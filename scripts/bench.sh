#!/usr/bin/env bash
# Reproduces the figures in docs/BENCHMARKS.md. Builds the release binary,
# then measures sizes, startup, idle memory and sign-in throughput against a
# baseline measured in the same run (raw argon2id, plain GETs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
. scripts/env.sh
SECS=${SECS:-10}
CONC=${CONC:-16}

cargo leptos build --release --precompress >/dev/null 2>&1
cargo build --release -p bench >/dev/null 2>&1

echo "machine: $(nproc) cores, $(uname -m), rustc $(rustc --version | cut -d' ' -f2)"
bin=target/release/twofold
echo "binary: $(stat -c %s $bin | awk '{printf "%.1f MB", $1/1e6}') (site embedded)"
wasm=target/site/pkg/twofold.wasm; js=target/site/pkg/twofold.js; css=target/site/pkg/twofold.css
gz() { gzip -9 -c "$1" | wc -c; }
echo "wasm: $(stat -c %s $wasm) B raw, $(gz $wasm) B gzip -9"
echo "js:   $(stat -c %s $js) B raw, $(gz $js) B gzip -9"
echo "css:  $(stat -c %s $css) B raw, $(gz $css) B gzip -9"
echo "sign-in page total (wasm+js+css, gzip -9): $(( $(gz $wasm) + $(gz $js) + $(gz $css) )) B"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$(mktemp -d)
t0=$(date +%s%N)
# Open sign-up: the load tool makes its account in one request.
$bin serve --addr "127.0.0.1:$port" --data-dir "$data" --signup open 2>"$data/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.005; done
t1=$(date +%s%N)
echo "start to first 200 on /healthz (new data dir, migrations included): $(( (t1 - t0) / 1000000 )) ms"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

target/release/twofold-bench argon2 "$SECS"
target/release/twofold-bench logins "http://127.0.0.1:$port" "$SECS" "$CONC"
target/release/twofold-bench get "http://127.0.0.1:$port" "$SECS" "$CONC"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"

# Second-factor verifications over HTTP against a bare axum "hello", both
# served and loaded in one process on this machine's cores.
target/release/twofold-bench factor "${USERS:-6400}" 64
