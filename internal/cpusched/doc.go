// Package cpusched puts the threads of the process under Linux's
// SCHED_BATCH policy, which rrproxy uses by default (cpu_scheduling in
// rrproxy.yaml).
//
// Why: a proxy sits between two peers that wake it with every packet.
// Under the normal policy a woken thread may preempt the task running on
// its CPU at once, so when the client or the database writes to rrproxy
// it is often switched out before its own write returns, in the middle of
// its work, and switched back in soon after. A SCHED_BATCH thread that
// wakes does not preempt anyone (the kernel's wakeup check skips batch
// and idle tasks): it runs when the CPU's current task waits or its time
// slice ends. Nice values, time slices and fairness between processes
// are unchanged; what is given up is that a woken rrproxy thread can
// wait for another task's slice on a saturated machine, where something
// waits either way.
//
// Measured on the 2-core benchmark machine (sysbench point selects,
// alternating the policy of one running rrproxy with chrt): 8 threads
// +3 to +24% QPS, 32 threads -4 to +20%, 1 thread unchanged (p99 0.34
// and 0.42 ms against 0.43 and 0.50). HAProxy under SCHED_BATCH gained
// nothing (-3% and -13%).
package cpusched
