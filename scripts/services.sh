#!/usr/bin/env bash
# Makes sure the services Tandem needs are installed and running, and that its
# database exists:
#   - PostgreSQL (required) on 127.0.0.1:5432, with a login role `tandem`
#     (password `tandem`, CREATEDB) and a database `tandem` owned by it;
#   - Redis (optional for the server, used by the tests) on 127.0.0.1:6379.
# Missing Debian packages are installed with apt-get (postgresql, redis-server,
# and libpq-dev + pkg-config, which diesel_cli needs). Services are started
# without systemd, so this works in containers and on CI machines too.
# Idempotent: on a machine where everything is in place it changes nothing.
# Runs as root on Debian 12 (installing and starting need root; a non-root
# user can run it once everything is installed and running).
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
DB_ROLE=tandem
DB_PASSWORD=tandem
DB_NAME=tandem
WAIT_SECS=30

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo when not root).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

pkg_installed() { dpkg -s "$1" >/dev/null 2>&1; }

# --- 1. packages -------------------------------------------------------------
missing=()
if ! pkg_installed postgresql && ! { command -v psql >/dev/null 2>&1 &&
        compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }; then
    missing+=(postgresql)
fi
if ! pkg_installed redis-server && ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server)
fi
if ! pkg_installed libpq-dev; then
    missing+=(libpq-dev)
fi
if ! pkg_installed pkg-config && ! command -v pkg-config >/dev/null 2>&1; then
    missing+=(pkg-config)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get; install them by hand"
    say "installing ${missing[*]}"
    # C.UTF-8 so that the cluster the postgresql package creates is UTF-8
    # (a bare container has no locale, which would give SQL_ASCII).
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "packages present (postgresql, redis-server, libpq-dev, pkg-config)"
fi

# --- 2. PostgreSQL -----------------------------------------------------------
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

if pg_ready; then
    say "postgresql already running on $PG_HOST:$PG_PORT"
else
    version=""
    if [ -d /etc/postgresql ]; then
        version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
            sort -V | tail -n 1)
    fi
    if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/main" ]; then
        if [ -z "$version" ] && [ -d /usr/lib/postgresql ]; then
            version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
                sort -V | tail -n 1)
        fi
        [ -n "$version" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
        say "creating postgresql cluster $version/main"
        as_root pg_createcluster --locale C.UTF-8 --port "$PG_PORT" "$version" main >/dev/null
    fi
    if as_root pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
        say "postgresql $version/main is running; waiting for it to answer on $PG_HOST:$PG_PORT"
    else
        say "starting postgresql $version/main"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
fi

# --- 3. Redis ----------------------------------------------------------------
redis_ready() {
    [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

if redis_ready; then
    say "redis already running on $REDIS_HOST:$REDIS_PORT"
else
    say "starting redis on $REDIS_HOST:$REDIS_PORT"
    (cd / && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no >/dev/null)
fi

# --- 4. wait until both answer ----------------------------------------------
deadline=$((SECONDS + WAIT_SECS))
until pg_ready && redis_ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        pg_ready || die "postgresql does not answer on $PG_HOST:$PG_PORT after ${WAIT_SECS}s (see /var/log/postgresql/)"
        die "redis does not answer on $REDIS_HOST:$REDIS_PORT after ${WAIT_SECS}s"
    fi
    sleep 0.5
done
say "postgresql and redis answer"

# --- 5. role and database ----------------------------------------------------
# SQL runs as the postgres superuser: over the Unix socket with peer auth
# (a fresh Debian), else over TCP (a machine with trust auth on 127.0.0.1).
super_mode=""
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1 && id postgres >/dev/null 2>&1 &&
    (cd / && runuser -u postgres -- psql -X -qAt -d postgres -c 'SELECT 1') >/dev/null 2>&1; then
    super_mode=runuser
elif psql -X -w -qAt -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    super_mode=tcp
else
    die "cannot connect to PostgreSQL as superuser postgres (run as root, or allow postgres on $PG_HOST)"
fi

# psql_super DB SQL: runs SQL in database DB as postgres, prints rows.
psql_super() {
    local db=$1 sql=$2
    if [ "$super_mode" = runuser ]; then
        (cd / && runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -qAt -d "$db" -c "$sql")
    else
        psql -X -w -v ON_ERROR_STOP=1 -qAt -h "$PG_HOST" -p "$PG_PORT" -U postgres -d "$db" -c "$sql"
    fi
}

role_attrs=$(psql_super postgres \
    "SELECT rolcanlogin::text || ' ' || rolcreatedb::text FROM pg_roles WHERE rolname = '$DB_ROLE'")
if [ -z "$role_attrs" ]; then
    psql_super postgres "CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
    say "created role $DB_ROLE (password $DB_PASSWORD, CREATEDB)"
elif [ "$role_attrs" != "true true" ]; then
    psql_super postgres "ALTER ROLE $DB_ROLE LOGIN CREATEDB"
    say "role $DB_ROLE exists; granted LOGIN CREATEDB"
else
    say "role $DB_ROLE exists"
fi

db_owner=$(psql_super postgres \
    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$DB_NAME'")
if [ -z "$db_owner" ]; then
    psql_super postgres "CREATE DATABASE $DB_NAME OWNER $DB_ROLE"
    say "created database $DB_NAME owned by $DB_ROLE"
else
    if [ "$db_owner" != "$DB_ROLE" ]; then
        psql_super postgres "ALTER DATABASE $DB_NAME OWNER TO $DB_ROLE"
        say "database $DB_NAME was owned by $db_owner; now owned by $DB_ROLE"
    fi
    # Tables created by another role (say, migrations run as postgres) would
    # stop the server, which connects as $DB_ROLE, from migrating or reading them.
    foreign=$(psql_super "$DB_NAME" "SELECT count(*) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> '$DB_ROLE'")
    if [ "$foreign" != 0 ]; then
        # Tables first (their owned sequences follow), then what is left.
        psql_super "$DB_NAME" "DO \$\$
            DECLARE r record;
            BEGIN
              FOR r IN SELECT c.relname, c.relkind FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
                         AND pg_get_userbyid(c.relowner) <> '$DB_ROLE'
              LOOP
                EXECUTE format('ALTER %s public.%I OWNER TO $DB_ROLE',
                  CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 ELSE 'TABLE' END, r.relname);
              END LOOP;
              FOR r IN SELECT c.relname FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind = 'S'
                         AND pg_get_userbyid(c.relowner) <> '$DB_ROLE'
              LOOP
                EXECUTE format('ALTER SEQUENCE public.%I OWNER TO $DB_ROLE', r.relname);
              END LOOP;
            END \$\$"
        say "database $DB_NAME: gave $foreign objects in schema public to $DB_ROLE"
    fi
    say "database $DB_NAME exists (owner $DB_ROLE)"
fi

say "ready: postgres://$DB_ROLE:$DB_PASSWORD@$PG_HOST:$PG_PORT/$DB_NAME and redis://$REDIS_HOST:$REDIS_PORT"
