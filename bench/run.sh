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
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Keep the packages from starting system services: the run starts its
  # own private MariaDB and HAProxy on free loopback ports.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# 2,000 idle connections need 4,000+ sockets in rrproxy and in MariaDB.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec go run ./bench "$@"
