#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests of the Electric example's Postgres mode (logical
# replication on, trust auth, loopback only). Debian's PostgreSQL is installed if it is missing.
#   .ci/postgres.sh start DIR    initdb + start under DIR; prints the URL (postgres://postgres@127.0.0.1:PORT/postgres)
#                                with PG_NEXT_XID=N, the cluster's next transaction id and oid are N
#                                (pg_resetwal: past 2^31 they arrive as negative 32-bit numbers in
#                                some decoders).
#                                N < 2^31 + ~700: the catalog rows initdb wrote (unfrozen, xids ~700)
#                                must stay in the past, or the database "postgres" is not found
#   .ci/postgres.sh restart DIR  fast restart (the tests restart it under load)
#   .ci/postgres.sh stop DIR     immediate stop; DIR is left for the caller to remove
set -euo pipefail
cmd=${1:?start|restart|stop}
dir=${2:?data directory}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] && [ "$cmd" = start ]; then
  echo "postgres.sh: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; } >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
[ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL binaries" >&2; exit 1; }

# initdb and the server refuse to run as root: run them as the postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    if [ -n "${PG_NEXT_XID:-}" ]; then
      # pg_resetwal needs the commit-log segments of the new xids to exist (256 KiB of zeros,
      # one per 2^20 xids, named by xid / 2^20 in hex); the oldest xid goes just below, so the
      # wraparound limits are computed from there.
      oldest=$((PG_NEXT_XID - 1000))
      for xid in "$oldest" "$PG_NEXT_XID"; do
        segment=$(printf '%04X' $((xid / 1048576)))
        as_owner dd if=/dev/zero of="$dir/data/pg_xact/$segment" bs=262144 count=1 status=none
      done
      # The next oid just past 2^31 too: relations and types created from here get such oids.
      as_owner "$bin/pg_resetwal" -x "$PG_NEXT_XID" -u "$oldest" -o "$PG_NEXT_XID" -D "$dir/data" >>"$dir/initdb.log" 2>&1
      # Autovacuum would recompute the wraparound limits from initdb's databases (frozen at ~700,
      # 2^31 behind) and refuse new xids.
      echo "autovacuum = off" >>"$dir/data/postgresql.conf"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c wal_level=logical -c max_replication_slots=100 -c max_wal_senders=100 -c max_connections=200 -c fsync=off" \
      start >&2
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -m fast restart >&2
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 60 -m immediate stop >&2 || true
    ;;
  *)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
