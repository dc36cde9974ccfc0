package auditlog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestRecordSequenceAndJSONLines(t *testing.T) {
	for _, mode := range []string{SyncAlways, SyncBatch, SyncNone} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a", "audit.jsonl")
			w, err := Open(path, mode)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < 50; j++ {
						if _, err := w.Record(&Event{Action: "statement", User: "alice", Statement: "SELECT 1"}); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			if _, err := w.Record(&Event{Action: "late"}); err == nil {
				t.Fatal("Record after Close must fail: no audit, no query")
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			f, _ := os.Open(path)
			defer f.Close()
			sc := bufio.NewScanner(f)
			// audit-start, 400 statements, audit-stop.
			var want uint64 = 1
			prev := zeroHash
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %d not JSON: %v", want, err)
				}
				action := map[uint64]string{1: "audit-start", 402: "audit-stop"}[want]
				if action == "" {
					action = "statement"
				}
				if uint64(m["event.sequence"].(float64)) != want || m["event.action"] != action || m["@timestamp"] == nil ||
					m["rrproxy.chain.prev"] != prev || (action == "statement" && m["user.name"] != "alice") {
					t.Fatalf("line %d: %v", want, m)
				}
				prev = m["rrproxy.chain.hash"].(string)
				want++
			}
			if want != 403 {
				t.Fatalf("%d records, want 402", want-1)
			}
		})
	}
}

func TestOpenFailsOnUnwritablePath(t *testing.T) {
	if _, err := Open("/proc/rrproxy-cannot-write/audit.jsonl", SyncBatch); err == nil {
		t.Fatal("want error")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x"), "sometimes"); err == nil {
		t.Fatal("bad sync mode accepted")
	}
}
