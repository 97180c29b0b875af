#!/usr/bin/env bash
# A throwaway PostgreSQL cluster from Debian's `postgresql` package: initdb
# in a temp dir, a free port on 127.0.0.1, no system service, trust auth for
# the user `twofold`. For the tests and the benchmarks.
#
#   eval "$(scripts/pg.sh start)"   # exports TWOFOLD_TEST_POSTGRES_URL, PG_TEST_DIR
#   scripts/pg.sh stop "$PG_TEST_DIR"
#
# `start --durable` keeps fsync on (benchmarks); tests turn it off, since a
# crash only loses a cluster that is thrown away anyway.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg.sh: PostgreSQL is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: then the cluster belongs to `postgres`.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    durable=no
    [ "${2:-}" = "--durable" ] && durable=yes
    dir=$(mktemp -d /tmp/twofold-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U twofold -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500 -c shared_buffers=128MB"
    if [ "$durable" = no ]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" start -w >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "export TWOFOLD_TEST_POSTGRES_URL=postgres://twofold@127.0.0.1:$port PG_TEST_DIR=$dir"
    ;;
  stop)
    dir=${2:?usage: pg.sh stop DIR}
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg.sh start [--durable] | stop DIR" >&2
    exit 2
    ;;
esac
