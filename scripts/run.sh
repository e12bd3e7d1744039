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
echo "run: cargo run --release -- serve --config $config"
exec cargo run --release -- serve --config "$config"
