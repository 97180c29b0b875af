#!/usr/bin/env bash
# Installs what building and testing Twofold needs, skipping what is there:
# the wasm target, cargo-leptos and wasm-bindgen-cli at pinned versions,
# Debian's Chromium, nginx, Caddy and PostgreSQL, and the end2end npm
# packages (Playwright, wasm-opt).
# Nothing is downloaded from outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130

say() { echo "setup: $*" >&2; }

# Toolchain and wasm target (named in rust-toolchain.toml; rustup adds them).
rustup show active-toolchain >/dev/null
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 14 minutes on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Its lock file names a crate version the registry lacks, so no --locked.
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --force
fi

# Debian packages: Chromium for the browser tests; zbarimg and rsvg-convert
# to prove the QR code decodes to the otpauth URI; nginx and Caddy.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
# Real reverse proxies in front of Twofold for the forward-auth tests (run
# by the tests as the test user on free ports, never as services).
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v caddy >/dev/null || missing+=(caddy)
# PostgreSQL for the second run of the integration tests (a throwaway
# cluster started by scripts/pg.sh, never the package's service).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Playwright (using the system Chromium, never its own download) and
# binaryen's wasm-opt 132 (Debian's older wasm-opt breaks hydration).
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -x end2end/node_modules/.bin/playwright ] \
   || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing end2end npm packages"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
