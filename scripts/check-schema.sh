#!/usr/bin/env bash
# Fails when src/db/schema.rs differs from what `diesel print-schema` prints
# for a database migrated with migrations/. Runs the migrations into a scratch
# database (created as role tandem, dropped on exit); it touches no real
# database, and src/db/schema.rs only with --fix.
#
# With --fix, rewrites src/db/schema.rs instead of failing.
#
# Needs diesel_cli on PATH and a PostgreSQL role that may CREATE DATABASE;
# TANDEM_TEST_DATABASE_URL (default below) names that role and any database
# it can connect to.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fix=0
case "${1:-}" in
    --fix) fix=1 ;;
    "") ;;
    *) echo "usage: scripts/check-schema.sh [--fix]" >&2; exit 2 ;;
esac

admin_url=${TANDEM_TEST_DATABASE_URL:-postgres://tandem:tandem@127.0.0.1:5432/postgres}
schema_file=src/db/schema.rs
scratch_db="tandem_schema_check_$$"

command -v diesel >/dev/null 2>&1 || {
    echo "check-schema: diesel not found; install it with:" >&2
    echo "  cargo install diesel_cli --version 2.3.14 --no-default-features --features postgres --locked" >&2
    exit 1
}

# diesel print-schema formats its output with rustfmt when it can find it;
# schema.rs is formatted, so without rustfmt every line would differ.
command -v rustfmt >/dev/null 2>&1 || {
    echo "check-schema: rustfmt not found (diesel print-schema formats with it); install it with:" >&2
    echo "  rustup component add rustfmt" >&2
    exit 1
}

# Same server and credentials, database replaced by the scratch one.
url_no_query=${admin_url%%\?*}
query=${admin_url#"$url_no_query"}
scratch_url="${url_no_query%/*}/${scratch_db}${query}"

tmp=$(mktemp -d)
created=0
cleanup() {
    if [ "$created" = 1 ]; then
        psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS $scratch_db WITH (FORCE)" >/dev/null ||
            echo "check-schema: could not drop scratch database $scratch_db" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $scratch_db" >/dev/null
created=1

# `diesel migration run` rewrites print_schema.file from diesel.toml after
# migrating; give it a config without one so src/db/schema.rs stays as it is.
: >"$tmp/diesel.toml"
diesel migration run --database-url "$scratch_url" \
    --migration-dir "$PWD/migrations" --config-file "$tmp/diesel.toml" >/dev/null

# print-schema only writes to stdout; it uses diesel.toml's print_schema options.
diesel print-schema --database-url "$scratch_url" >"$tmp/schema.rs"

if ! diff -u --label "$schema_file" --label "generated from migrations/" \
    "$schema_file" "$tmp/schema.rs"; then
    if [ "$fix" = 1 ]; then
        cp "$tmp/schema.rs" "$schema_file"
        echo "check-schema: rewrote $schema_file from migrations/"
        exit 0
    fi
    echo >&2
    echo "check-schema: $schema_file drifted from migrations/; regenerate with: scripts/check-schema.sh --fix" >&2
    exit 1
fi
echo "check-schema: $schema_file matches migrations/"
