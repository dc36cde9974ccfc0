// Package cpusched puts the threads of the process under Linux's
// SCHED_BATCH policy, which rrproxy uses by default (cpu_scheduling in
// rrproxy.yaml).
//
// Why: a proxy's every write wakes a peer, the client or the database.
// Under the normal policy the woken task preempts the writer as its
// write(2) returns, so on a busy machine the proxy is switched out once
// or twice per statement, in the middle of its work; profiles of rrproxy
// under 8 sysbench threads put a tenth of its CPU time in those
// switches. A SCHED_BATCH thread is not preempted by wakeups (it runs
// until its time slice ends or it waits for I/O), and its own wakeups do
// not preempt others. Nice values and fairness between processes are
// unchanged; what is given up is that a woken rrproxy thread waits for
// the current task's slice instead of taking the CPU at once, which only
// matters when the machine is saturated anyway.
//
// Measured on the 2-core benchmark machine (sysbench point selects,
// alternating the policy of one running rrproxy with chrt): 8 threads
// +3 to +24% QPS, 32 threads -4 to +20%, 1 thread unchanged; HAProxy
// under SCHED_BATCH gained nothing (-3%, -13%).
package cpusched
