#!/usr/bin/env bash
# Start a private MariaDB for development, as scripts/test.sh does for the
# suite, and leave it running: ./scripts/dev-mariadb.sh DIR [PORT]
# Then: source DIR/env && go test ./e2e ...   Stop it: kill "$(cat DIR/pid)"
set -euo pipefail
dir=${1:?usage: scripts/dev-mariadb.sh DIR [PORT]}
port=${2:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$(dirname "$0")/.."
if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
  echo "dev-mariadb: a server started here is still running (pid $(cat "$dir/pid")); source $dir/env, or stop it first" >&2
  exit 1
fi
go run ./cmd/rrproxy certs -dir "$dir/certs" >/dev/null
# A directory used before keeps its data and root password: reuse it
# rather than fail on the password below.
fresh=1
if [ -d "$dir/data/mysql" ]; then
  fresh=0
else
  mariadb-install-db --user=root --datadir="$dir/data" --auth-root-authentication-method=normal >"$dir/install.log" 2>&1
fi
mariadbd --user=root --datadir="$dir/data" --socket="$dir/data/sock" --port="$port" --bind-address=127.0.0.1 \
  --skip-log-bin --max-allowed-packet=256M \
  --ssl-cert="$dir/certs/server.pem" --ssl-key="$dir/certs/server-key.pem" --ssl-ca="$dir/certs/ca.pem" \
  --innodb-buffer-pool-size=256M --log-error="$dir/mariadb.err" >/dev/null 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 1 100); do
  mariadb --socket="$dir/data/sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
  mariadb --socket="$dir/data/sock" -uroot -prrproxy-test-root -e 'SELECT 1' >/dev/null 2>&1 && break
  # A server that exited (port taken, bad datadir) will not come up:
  # say why instead of timing out into a socket error.
  if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "dev-mariadb: mariadbd exited; the end of $dir/mariadb.err:" >&2
    tail -n 5 "$dir/mariadb.err" >&2
    exit 1
  fi
  sleep 0.2
done
[ "$fresh" = 1 ] && mariadb --socket="$dir/data/sock" -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED BY 'rrproxy-test-root'; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'rrproxy-test-root'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
cat >"$dir/env" <<ENV
export RRPROXY_TEST_MARIADB="root:rrproxy-test-root@tcp(127.0.0.1:$port)/"
export RRPROXY_TEST_MARIADB_CA="$dir/certs/ca.pem"
export RRPROXY_TEST_MARIADB_PID="$(cat "$dir/pid")"
ENV
echo "MariaDB on 127.0.0.1:$port (pid $(cat "$dir/pid")); source $dir/env"
