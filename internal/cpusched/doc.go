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
// +2% to +24% QPS (eight pairs, median +9%) with a lower p99 in every
// pair; 32 threads -4% to +35% (five pairs, median +1%); 1 thread no
// difference beyond the noise. HAProxy under SCHED_BATCH gained nothing
// (-3% and -13%).
package cpusched
