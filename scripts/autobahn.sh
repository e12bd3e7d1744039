#!/usr/bin/env bash
# Runs the Autobahn WebSocket fuzzing client, cases 1-7 (framing, pings,
# reserved bits, opcodes, fragmentation, UTF-8, close handling), from the
# PyPI package `kosoku` against /ws and /yjs of a locally started server, and
# fails on any protocol-level failure.
#
# Tandem is not an echo server, so the cases are judged by
# scripts/autobahn_judge.py at the protocol level; the differences that are
# by design are listed there with their reasons:
#   - ECHO: cases that expect their message echoed (Tandem answers with its
#     own messages and never echoes); their control frames and closes are
#     still judged.
#   - YJS_DATA (/yjs): y-websocket is binary with its own message format, so
#     text and arbitrary binary messages are refused with close 1003.
# Nothing else is excused. (Invalid UTF-8 in a text message must close with
# 1007, cases 6.*; that is NOT on the list.)
#
# Needs python3 with venv, psql, and a PostgreSQL role that may CREATE
# DATABASE (TANDEM_TEST_DATABASE_URL, default below); builds the server.
# Reports go to target/autobahn/{ws,yjs}/ (index.html to browse).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

admin_url=${TANDEM_TEST_DATABASE_URL:-postgres://tandem:tandem@127.0.0.1:5432/postgres}
# The binary is where cargo builds it (CARGO_TARGET_DIR, else target/).
bin=${CARGO_TARGET_DIR:-target}/debug/tandem
venv=target/autobahn/venv
reports=target/autobahn
scratch_db="tandem_autobahn_$$"
url_no_query=${admin_url%%\?*}
query=${admin_url#"$url_no_query"}
db_url="${url_no_query%/*}/${scratch_db}${query}"

mkdir -p "$reports"
if [ ! -x "$venv/bin/kosoku" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 needs python3-venv for `-m venv`.
        rm -rf "$venv"
        if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check kosoku==0.1.0
fi
# `--tests` builds the binary with the same dependency features as
# `cargo test --all-targets` (dev-dependencies turn some on), so after the
# tests this is a no-op; without it cargo builds a second copy of about a
# third of the dependencies (a minute, and disk that a CI run once ran out of).
cargo build -q --bin tandem --tests

tmp=$(mktemp -d)
server_pid=""
created=0
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$created" = 1 ]; then
        psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" >/dev/null ||
            echo "autobahn: could not drop scratch database $scratch_db" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $scratch_db" >/dev/null
created=1

secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat >"$tmp/config.toml" <<TOML
[server]
host = "127.0.0.1"
port = 0
workers = 1
[database]
url = "$db_url"
[auth]
secret = "autobahn-$secret"
leeway_secs = 0
TOML

: >"$tmp/server.log"   # exists before the first read below (no race with the server's start)
RUST_LOG=warn,tandem=info "$bin" serve --config "$tmp/config.toml" 2>"$tmp/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/server.log" | head -n 1)
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$tmp/server.log" >&2
        echo "autobahn: the server exited at start" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/server.log" >&2; echo "autobahn: the server did not start" >&2; exit 1; }

token=$("$bin" token --config "$tmp/config.toml" --user autobahn --tenant autobahn --ttl 3600)
status=0
for endpoint in ws yjs; do
    case $endpoint in
        ws) url="ws://127.0.0.1:$port/ws?token=$token" ;;
        yjs) url="ws://127.0.0.1:$port/yjs/autobahn-doc?token=$token" ;;
    esac
    rm -rf "${reports:?}/$endpoint"
    # kosoku's own verdict counts every missing echo as a failure; the judge
    # below decides. Its exit status is therefore ignored.
    "$venv/bin/kosoku" -p 8 -i '1.*' -i '2.*' -i '3.*' -i '4.*' -i '5.*' -i '6.*' -i '7.*' \
        -o "$reports/$endpoint" "$url" >"$reports/$endpoint.log" 2>&1 || true
    if [ ! -f "$reports/$endpoint/index.json" ]; then
        cat "$reports/$endpoint.log" >&2
        echo "autobahn: no report for /$endpoint" >&2
        status=1
        continue
    fi
    python3 scripts/autobahn_judge.py "$reports/$endpoint" "$endpoint" || status=1
done
exit $status
