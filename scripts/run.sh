#!/usr/bin/env bash
# Builds the release binary (site embedded) and serves it on
# http://127.0.0.1:3000 with data in ./data. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. scripts/env.sh
cargo leptos build --release --precompress --split
exec target/release/twofold serve "$@"
