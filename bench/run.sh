#!/usr/bin/env bash
# The benchmark, one command: ./bench/run.sh [-quick] [-keep] [-only sysbench,stream,storm,idle,gobench]
# Installs what it needs (Debian), then runs bench/ from the repository
# root. Results: bench/results/<date>[-quick].{json,md,png}.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in mariadbd:mariadb-server mariadb:mariadb-client haproxy:haproxy sysbench:sysbench; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# 2,000 idle connections need 4,000+ sockets in rrproxy and in MariaDB.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec go run ./bench "$@"
