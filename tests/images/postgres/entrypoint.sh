#!/bin/sh
# A cut-down version of the official postgres image's entrypoint: on the first
# start, create the cluster with POSTGRES_USER (default postgres) and
# POSTGRES_PASSWORD (required; SCRAM for every TCP login), create POSTGRES_DB
# (default: the user's name) on a temporary socket-only server, then run the
# server. Like the official image, the server says "ready to accept connections"
# twice on a first start, once for the temporary server.
set -eu

# Arguments that start with '-' are options for postgres, as in the official image.
case "${1:-}" in -*) set -- postgres "$@" ;; esac

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo 'postgres-entrypoint: POSTGRES_PASSWORD is required (logins over TCP use SCRAM)' >&2
    exit 1
  fi
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >/dev/null
  rm -f "$pwfile"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres --set=db="$db" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
fi

exec "$@"
