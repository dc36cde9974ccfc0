package cpusched

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Batch sets SCHED_BATCH on every thread of the process. Threads created
// later inherit the policy of the thread that creates them, so one call
// at start covers the process for good. A thread the Go runtime creates
// while Batch runs, from a thread not yet changed, is found by the next
// pass: Batch returns once a pass changes nothing.
func Batch() error {
	for range 10 {
		changed, err := setAll(unix.SCHED_BATCH)
		if err != nil || changed == 0 {
			return err
		}
	}
	return errors.New("cpusched: threads kept appearing unchanged")
}

// setAll gives every thread of the process policy (nice value kept),
// and reports how many it had to change.
func setAll(policy uint32) (changed int, err error) {
	attrs, err := threadAttrs()
	if err != nil {
		return 0, err
	}
	for tid, attr := range attrs {
		if attr.Policy == policy {
			continue
		}
		attr.Policy, attr.Priority = policy, 0
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			return changed, fmt.Errorf("cpusched: thread %d: %w", tid, err)
		}
		changed++
	}
	return changed, nil
}

// Policies returns the scheduling policy of each thread of the process,
// by thread id.
func Policies() (map[int]uint32, error) {
	attrs, err := threadAttrs()
	if err != nil {
		return nil, err
	}
	out := make(map[int]uint32, len(attrs))
	for tid, attr := range attrs {
		out[tid] = attr.Policy
	}
	return out, nil
}

// threadAttrs returns the scheduling attributes of each thread of the
// process, by thread id; threads that exit meanwhile are left out.
func threadAttrs() (map[int]*unix.SchedAttr, error) {
	tids, err := threads()
	if err != nil {
		return nil, err
	}
	out := make(map[int]*unix.SchedAttr, len(tids))
	for _, tid := range tids {
		attr, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread has exited
		}
		if err != nil {
			return nil, fmt.Errorf("cpusched: thread %d: %w", tid, err)
		}
		out[tid] = attr
	}
	return out, nil
}

func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("cpusched: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
