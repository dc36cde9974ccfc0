#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, starts a
# private MariaDB on a free loopback port, runs vet and the race-enabled
# tests (unit and end-to-end), stops MariaDB. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

need=()
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
# The audit report test renders the HTML report in headless Chromium.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# Real clients of the compatibility matrix (e2e/compat_*_test.go).
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -f /usr/share/java/mariadb-java-client.jar ] || need+=(libmariadb-java)
command -v isql >/dev/null 2>&1 || need+=(unixodbc)
[ -f /usr/lib/x86_64-linux-gnu/odbc/libmaodbc.so ] || need+=(odbc-mariadb)
/usr/bin/python3 -c 'import pyodbc' >/dev/null 2>&1 || need+=(python3-pyodbc)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
# The benchmark's smoke test (bench/) compares against HAProxy.
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
/usr/bin/python3 -c 'import pymysql' >/dev/null 2>&1 || need+=(python3-pymysql)
/usr/bin/python3 -c 'import MySQLdb' >/dev/null 2>&1 || need+=(python3-mysqldb)
command -v mycli >/dev/null 2>&1 || need+=(mycli)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the package from starting the system MariaDB: the
  # suite runs its own private instance.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/rrproxy-test.XXXXXX)
data="$work/mariadb"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== dev certificates for the upstream's TLS"
go run ./cmd/rrproxy certs -dir "$work/certs" >/dev/null
export RRPROXY_TEST_MARIADB_CA="$work/certs/ca.pem"

echo "== starting private MariaDB on 127.0.0.1:$port"
mariadb-install-db --user=root --datadir="$data" --auth-root-authentication-method=normal >"$work/install.log" 2>&1
mariadbd --user=root --datadir="$data" --socket="$data/sock" --port="$port" --bind-address=127.0.0.1 \
  --skip-log-bin --max-allowed-packet=256M \
  --ssl-cert="$work/certs/server.pem" --ssl-key="$work/certs/server-key.pem" --ssl-ca="$work/certs/ca.pem" --innodb-buffer-pool-size=256M --log-error="$work/mariadb.err" &
pid=$!
for _ in $(seq 1 100); do
  mariadb --socket="$data/sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/mariadb.err"; exit 1; }
  sleep 0.2
done
mariadb --socket="$data/sock" -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED BY 'rrproxy-test-root'; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'rrproxy-test-root'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"

# End-to-end tests read this DSN and fail (never skip) without it.
export RRPROXY_TEST_MARIADB="root:rrproxy-test-root@tcp(127.0.0.1:$port)/"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./... 2>&1 | tee "$work/test.log"
status=${PIPESTATUS[0]}
echo "== done (exit $status)"
exit "$status"
