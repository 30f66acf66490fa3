#!/usr/bin/env bash
# Installs (Debian packages) and starts PostgreSQL and Redis on loopback for
# the scale-out tests, then prints the environment that tells the tests where
# they are. Sourced by .ci/run; also usable by hand: `eval "$(.ci/services.sh)"`.
set -euo pipefail

if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql redis-server >&2
fi

# Redis: a daemon on loopback only; the fault tests start their own private
# redis-server from the same binary so they can stop it.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >&2
fi

# PostgreSQL: the Debian cluster, listening on loopback (its default), with a
# password role the tests log in as over TCP.
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 50); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 0.2
done
su postgres -c "psql -q -v ON_ERROR_STOP=1" >&2 <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lookalike') THEN
        CREATE ROLE lookalike LOGIN CREATEDB PASSWORD 'lookalike';
    END IF;
END $$;
SQL

echo "export LOOKALIKE_TEST_POSTGRES_URL=postgresql+psycopg://lookalike:lookalike@127.0.0.1:5432/postgres"
echo "export LOOKALIKE_TEST_REDIS_URL=redis://127.0.0.1:6379/0"
