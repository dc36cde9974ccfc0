// Package gcfloor keeps the Go garbage collector's heap goal from falling
// below a floor while the live heap is small (gc_heap_floor_mb in
// rrproxy.yaml).
//
// Why: the collector starts a cycle when the heap has grown by GOGC
// percent (100) of what was live after the last one, and at 4 MB at the
// least. rrproxy's live heap is small, 1-3 MB, so a login storm, whose
// TLS handshakes allocate about 70 KB each (mostly crypto/tls's own), ran
// a cycle every 25 ms, 40 a second (GODEBUG=gctrace=1). Each cycle's
// freed pages are partly handed back to the kernel by the runtime's
// scavenger and faulted in again by the next handshakes, and in a VM a
// page faulted in is dear. Alternating 4-second storms of 8
// go-sql-driver workers against three proxies of one build: with a floor
// of 8 MiB, 526-582 µs of CPU per login and 1,296-1,396 logins a second;
// without one, 776-903 µs and 1,035-1,123 a second; 12 MiB did no better
// than 8. Resident memory after the storms: 37 MB with the 8 MiB floor,
// 47 MB with 12, 29 MB without.
//
// A floor rather than a larger GOGC: the floor costs at most its size in
// extra resident memory while the live heap is small, and nothing once
// the live heap is half the floor or more, where GOGC's proportional
// headroom is already larger. A larger GOGC would also have multiplied the
// memory of 2,000 idle connections.
//
// How: after every collection (a finalizer re-armed each cycle), the
// live heap is read from runtime/metrics and GOGC is set so that the next
// goal is at least the floor, never below the GOGC the process started
// with, and at most maxPercent.
package gcfloor
