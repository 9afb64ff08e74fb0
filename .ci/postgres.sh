# shellcheck shell=bash
# Throwaway PostgreSQL server for the isolint.runtime tests. Source it:
#
#   source .ci/postgres.sh      # installs PostgreSQL if needed, starts a cluster,
#                               # exports ISOLINT_TEST_POSTGRES_URL
#   ...run the tests...
#   isolint_stop_postgres       # stops the cluster and deletes its files
#
# The cluster lives in a temporary directory, listens on a free port on 127.0.0.1
# only, trusts local connections (it holds nothing but test data) and runs as a
# non-root user: `postgres` when run as root (PostgreSQL refuses to run as root),
# the current user otherwise. Durability is off: it only has to be fast.

_isolint_pg_bindir() {
  local initdb_path
  initdb_path=$(command -v initdb 2>/dev/null || true)
  if [ -n "$initdb_path" ]; then
    dirname "$(readlink -f "$initdb_path")"
    return 0
  fi
  # Debian keeps the binaries out of PATH, one directory per major version.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
  return 0  # "not found" is an empty answer, not an error (callers may run under set -e)
}

_isolint_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$ISOLINT_PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

_isolint_pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

isolint_start_postgres() {
  local bindir
  bindir=$(_isolint_pg_bindir)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "postgres.sh: PostgreSQL is not installed and installing it needs root" >&2
      return 1
    fi
    echo "postgres.sh: installing PostgreSQL with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    bindir=$(_isolint_pg_bindir)
    [ -n "$bindir" ] || { echo "postgres.sh: initdb not found after install" >&2; return 1; }
  fi

  if [ "$(id -u)" -eq 0 ]; then
    ISOLINT_PG_OWNER=postgres
    if ! id -u "$ISOLINT_PG_OWNER" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$ISOLINT_PG_OWNER" || return 1
    fi
  else
    ISOLINT_PG_OWNER=$(id -un)
  fi

  ISOLINT_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/isolint-pg.XXXXXX") || return 1
  [ "$(id -u)" -eq 0 ] && chown "$ISOLINT_PG_OWNER" "$ISOLINT_PG_DIR"
  ISOLINT_PG_BINDIR=$bindir
  local port
  port=$(_isolint_pg_free_port) || return 1

  _isolint_pg_as_owner "$bindir/initdb" -D "$ISOLINT_PG_DIR/data" -U isolint \
    --auth=trust --encoding=UTF8 --no-locale >"$ISOLINT_PG_DIR/initdb.log" 2>&1 || {
    cat "$ISOLINT_PG_DIR/initdb.log" >&2
    return 1
  }
  _isolint_pg_as_owner "$bindir/pg_ctl" -D "$ISOLINT_PG_DIR/data" -l "$ISOLINT_PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $ISOLINT_PG_DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || {
    cat "$ISOLINT_PG_DIR/server.log" >&2
    return 1
  }
  _isolint_pg_as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U isolint isolint_test || return 1

  export ISOLINT_TEST_POSTGRES_URL="postgresql+asyncpg://isolint@127.0.0.1:$port/isolint_test"
  echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($ISOLINT_PG_DIR)" >&2
}

isolint_stop_postgres() {
  if [ -n "${ISOLINT_PG_DIR:-}" ] && [ -d "$ISOLINT_PG_DIR" ]; then
    _isolint_pg_as_owner "$ISOLINT_PG_BINDIR/pg_ctl" -D "$ISOLINT_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$ISOLINT_PG_DIR"
  fi
  unset ISOLINT_TEST_POSTGRES_URL ISOLINT_PG_DIR ISOLINT_PG_BINDIR ISOLINT_PG_OWNER
}

isolint_start_postgres
