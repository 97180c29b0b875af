# Sourced by the scripts: puts the pinned tools first on PATH, so cargo-leptos
# finds wasm-bindgen and wasm-opt locally and never tries to download them.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
