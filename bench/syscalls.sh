#!/usr/bin/env bash
# System calls per query of one proxy process, counted by the kernel:
#
#   ./bench/syscalls.sh PID PORT [THREADS] [SECONDS] [PS_MODE]
#
# PID is the proxy (rrproxy, HAProxy, the Go relay) and PORT its listener,
# as printed by `./bench/run.sh -only serve`, which leaves MariaDB, HAProxy
# and rrproxy running with the benchmark's sysbench tables and user.
# sysbench oltp_point_select runs against PORT for SECONDS (default 5)
# with THREADS (default 8) and PS_MODE (disable: text; auto: prepared),
# while `perf stat` counts PID's system calls; the script prints each
# call's count divided by the queries sysbench made.
#
# Why the kernel's count and not strace: strace stops the process at
# every call, which slows it until the peer's reply is usually there when
# it reads, and hides the reads that find nothing (EAGAIN).
set -euo pipefail
pid=${1:?usage: bench/syscalls.sh PID PORT [THREADS] [SECONDS] [PS_MODE]}
port=${2:?usage: bench/syscalls.sh PID PORT [THREADS] [SECONDS] [PS_MODE]}
threads=${3:-8}
secs=${4:-5}
ps=${5:-disable}
command -v perf >/dev/null || { echo "syscalls.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
calls=(read write recvfrom sendto readv writev epoll_wait epoll_pwait futex nanosleep fdatasync pwrite64 fadvise64 madvise)
events=$(printf 'syscalls:sys_enter_%s,' "${calls[@]}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The benchmark's user and tables (bench/sysbench.go); the quick run's
# smaller tables answer the same queries.
rows=$(mariadb -h127.0.0.1 -P"$port" -ubench -pbench-password-not-a-secret -N -e 'SELECT COUNT(*) FROM sbtest.sbtest1' 2>/dev/null || echo 20000)
perf stat -x, -e "${events%,}" -p "$pid" -o "$out/perf" -- \
  sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
  --mysql-user=bench --mysql-password=bench-password-not-a-secret --mysql-db=sbtest \
  --tables=4 --table-size="$rows" --threads="$threads" --time="$secs" --db-ps-mode="$ps" \
  --rand-type=uniform run >"$out/sysbench"
queries=$(sed -nE 's/^ *queries: *([0-9]+).*/\1/p' "$out/sysbench")
[ -n "$queries" ] && [ "$queries" -gt 0 ] || { echo "syscalls.sh: sysbench made no queries:" >&2; cat "$out/sysbench" >&2; exit 1; }
echo "$(ps -o comm= -p "$pid") (pid $pid), $threads threads, ps=$ps, $queries queries in ${secs}s"
awk -F, -v q="$queries" '$3 ~ /syscalls:sys_enter_/ && $1+0 > 0 {
  name = $3; sub(/.*sys_enter_/, "", name)
  printf "  %-12s %8.2f per query\n", name, $1 / q; total += $1 / q
} END { printf "  %-12s %8.2f per query\n", "all above", total }' "$out/perf"
