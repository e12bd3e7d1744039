#!/usr/bin/env bash
# Runs the Tandem server (release build) on the address in the config file,
# 127.0.0.1:8080 with the shipped config.toml. PostgreSQL and Redis are
# installed and started first when missing (scripts/services.sh); the server
# applies its migrations at start.
#
#   scripts/run.sh                      # uses ./config.toml
#   TANDEM_CONFIG=/path/to/config.toml scripts/run.sh
set -euo pipefail

config=${TANDEM_CONFIG:-config.toml}
config=$(realpath -m -- "$config")   # relative to where you ran this
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# What building the server needs on a bare Debian 12: a C toolchain and
# pkg-config (openssl-sys, ring), OpenSSL headers (web-push links OpenSSL),
# and curl (for the rustup command below, when Rust is missing).
missing=()
for pkg in build-essential pkg-config libssl-dev curl ca-certificates; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    cat >&2 <<'MSG'
run: cargo not found. Install Rust with rustup, then open a new shell (or run
`. "$HOME/.cargo/env"`) and try again:
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
MSG
    exit 1
fi

scripts/services.sh
echo "run: building the release binary (the first build takes several minutes)"
cargo build --release --bin tandem
echo "run: target/release/tandem serve --config $config (in the foreground; Ctrl-C stops it)"
# One file descriptor per connection: the server raises its soft open-files
# limit to this hard limit itself. To hold more connections, raise the hard
# limit (README, "Open files").
echo "run: open files hard limit $(ulimit -Hn) (one per connection; README \"Open files\")"
echo "run: open http://127.0.0.1:8080/ for the demo app (with the shipped config.toml)"
exec target/release/tandem serve --config "$config"
