#!/usr/bin/env bash
# Every test: formatting, clippy (server and wasm builds), unit and
# integration tests (the integration suite twice: on SQLite, then on a
# throwaway PostgreSQL cluster), and the Playwright tests against the
# release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. scripts/env.sh

step() { echo; echo "== $* =="; }
t0=$(date +%s)

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy: server (ssr)"
cargo clippy -p app -p server -p bench --all-targets -- -D warnings

step "clippy: browser (hydrate, wasm32)"
cargo clippy -p frontend -p app --features frontend/hydrate,app/hydrate \
  --target wasm32-unknown-unknown -- -D warnings

step "release build (site first, then the binary that embeds it)"
cargo leptos build --release --precompress --split

step "unit and integration tests (SQLite)"
cargo test --workspace

step "integration tests again, on PostgreSQL (a throwaway cluster)"
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_TEST_DIR"' EXIT
TWOFOLD_TEST_POSTGRES_URL="$TWOFOLD_TEST_POSTGRES_URL" cargo test -p server --test integration
scripts/pg.sh stop "$PG_TEST_DIR"
trap - EXIT

step "browser tests (Playwright, Debian Chromium)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$(mktemp -d)
# The default sign-up mode (confirm, links read from the outbox); every
# test signs up from 127.0.0.1, so the per-address sign-up budget is raised.
# Texts go to DATA_DIR/sms-outbox/, where the tests read their codes.
target/release/twofold serve --addr "127.0.0.1:$port" --data-dir "$data" \
  --signup-per-hour 1000 --sms-provider outbox >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
if ! (cd end2end && CI=1 BASE_URL="http://127.0.0.1:$port" DATA_DIR="$data" TWOFOLD_BIN="$PWD/../target/release/twofold" npx playwright test); then
  echo "--- server log ---"; tail -50 "$data/server.log"; exit 1
fi

echo; echo "all tests passed in $(( $(date +%s) - t0 )) s"
