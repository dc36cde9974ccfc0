package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// TestAdminHandler: the metrics listener serves /metrics, and the
// profiler only when metrics.pprof asks for it.
func TestAdminHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	for _, withPprof := range []bool{false, true} {
		h := adminHandler(reg, withPprof)
		if code, body := get(h, "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
			t.Errorf("pprof=%v: /metrics answered %d", withPprof, code)
		}
		code, body := get(h, "/debug/pprof/")
		if withPprof && (code != 200 || !strings.Contains(body, "goroutine")) {
			t.Errorf("pprof on: /debug/pprof/ answered %d", code)
		}
		if !withPprof && code != 404 {
			t.Errorf("pprof off: /debug/pprof/ answered %d, want 404", code)
		}
		if code, _ := get(h, "/"); code != 404 {
			t.Errorf("pprof=%v: / answered %d, want 404", withPprof, code)
		}
	}
}
