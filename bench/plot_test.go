package main

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

// sampleResults is a plausible quick run on a 2-CPU machine.
func sampleResults() *Results {
	r := &Results{
		Date:    time.Date(2025, 5, 14, 9, 30, 0, 0, time.UTC),
		Mode:    "quick",
		Machine: Machine{CPUs: 2},
	}
	base := map[string]map[int]float64{
		"oltp_point_select": {1: 9800, 8: 31500, 32: 33800},
		"oltp_read_only":    {1: 7200, 8: 21400, 32: 22900},
	}
	share := map[string]float64{
		TargetDirect: 1, TargetHAProxy: 0.81, TargetRRProxy: 0.74,
		TargetRRProxyTLS: 0.66, TargetNoAudit: 0.78, TargetHAProxyTLS: 0.7,
	}
	for _, wl := range []string{"oltp_point_select", "oltp_read_only"} {
		for _, th := range []int{1, 8, 32} {
			for _, tg := range []string{TargetDirect, TargetHAProxy, TargetRRProxy, TargetRRProxyTLS, TargetNoAudit, TargetHAProxyTLS} {
				for _, mode := range []string{"auto", "disable"} {
					r.Sysbench = append(r.Sysbench, SysbenchRun{
						Workload: wl, PSMode: mode, Threads: th, Target: tg,
						QPS: base[wl][th] * share[tg],
					})
				}
			}
		}
	}
	r.Stream = []StreamRun{
		{Target: TargetRRProxy, Rows: 2_000_000, MBps: 181.4, ProxyMaxRSSMB: 23.6},
		{Target: TargetDirect, Rows: 2_000_000, MBps: 212.2},
		{Target: TargetHAProxy, Rows: 2_000_000, MBps: 190.9, ProxyMaxRSSMB: 9},
	}
	r.Storm = []StormRun{
		{Target: TargetRRProxy, Credential: "local", PerSec: 2100, P99Ms: 8},
		{Target: TargetRRProxyTLS, Credential: "local", TLS: true, Workers: 16, PerSec: 1234.4, P99Ms: 21.37},
	}
	return r
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	img := testtool.DecodePNG(t, path)
	if got := img.Bounds().Size(); got != image.Pt(plotWidth, plotHeight) {
		t.Fatalf("size = %v, want %dx%d", got, plotWidth, plotHeight)
	}
	return img
}

func colours(img image.Image) map[color.RGBA]int {
	seen := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	return seen
}

func TestWritePlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plot.png")
	if err := writePlot(path, sampleResults()); err != nil {
		t.Fatal(err)
	}
	seen := colours(decodePNG(t, path))
	if len(seen) < 20 {
		t.Errorf("only %d distinct colours; the chart looks blank", len(seen))
	}
	for name, c := range map[string]color.RGBA{
		"direct grey": colDirect, "haproxy blue": colHAProxy,
		"rrproxy orange": colRRProxy, "rrproxy-tls red": colRRProxyTLS,
	} {
		// A bar is far more than a few anti-aliased text pixels.
		if seen[c] < 500 {
			t.Errorf("%s %v: %d pixels, want a bar", name, c, seen[c])
		}
	}
}

func TestWritePlotEmpty(t *testing.T) {
	for name, r := range map[string]*Results{
		"empty": {},
		"nil":   nil,
		// No haproxy to divide by, QPS all zero, one lone storm run.
		"sparse": {
			Sysbench: []SysbenchRun{
				{Workload: "oltp_read_only", PSMode: "auto", Threads: 4, Target: TargetRRProxy},
				{Workload: "oltp_read_only", PSMode: "auto", Threads: 4, Target: TargetHAProxy},
			},
			Stream: []StreamRun{{Target: TargetRRProxy}},
			Storm:  []StormRun{{Target: TargetRRProxyTLS}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plot.png")
			if err := writePlot(path, r); err != nil {
				t.Fatal(err)
			}
			if n := len(colours(decodePNG(t, path))); n < 2 {
				t.Errorf("%d distinct colours; want at least the title on white", n)
			}
		})
	}
}

func TestNiceScale(t *testing.T) {
	for _, hi := range []float64{0.3, 1, 4.9, 5, 5.1, 10.1, 12.6, 37000, 37180, 99999, 1e6} {
		step, top := niceScale(hi)
		if top < hi {
			t.Errorf("niceScale(%g) top %g below max", hi, top)
		}
		if n := top/step + 1; n < 4 || n > 6 {
			t.Errorf("niceScale(%g) = step %g top %g: %g ticks, want 4-6", hi, step, top, n)
		}
	}
	if step, top := niceScale(0); step <= 0 || top <= 0 {
		t.Errorf("niceScale(0) = %g, %g; want a positive default", step, top)
	}
}

func TestFormatQPS(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 500: "500", 20000: "20k", 2500: "2.5k", 1.5e6: "1.5M"} {
		if got := formatQPS(v); got != want {
			t.Errorf("formatQPS(%g) = %q, want %q", v, got, want)
		}
	}
	if got := thousands(2000000); got != "2,000,000" {
		t.Errorf("thousands(2000000) = %q", got)
	}
}

// TestMedianStream: a target read in rounds reports its median round,
// every round's MB/s in the order run and the largest RSS of any; the
// goal line pairs rounds of the two targets one by one.
func TestMedianStream(t *testing.T) {
	direct := medianStream([]StreamRun{{Target: TargetDirect, MBps: 100, Seconds: 4}, {Target: TargetDirect, MBps: 80, Seconds: 5}, {Target: TargetDirect, MBps: 90, Seconds: 4.4}})
	if direct.MBps != 90 || direct.Seconds != 4.4 || !slices.Equal(direct.RoundsMBps, []float64{100, 80, 90}) {
		t.Errorf("median of three: %+v", direct)
	}
	proxy := medianStream([]StreamRun{{MBps: 95, ProxyMaxRSSMB: 30}, {MBps: 60, ProxyMaxRSSMB: 41}, {MBps: 85, ProxyMaxRSSMB: 35}})
	if proxy.MBps != 85 || proxy.ProxyMaxRSSMB != 41 {
		t.Errorf("median %.0f MB/s (want 85), RSS %.0f MB (want the largest, 41)", proxy.MBps, proxy.ProxyMaxRSSMB)
	}
	// The goal's ratio is the median of the paired rounds' ratios (95%
	// 75% 94%), not the ratio of the medians (85 / 90).
	if x, how := streamRatio(proxy, direct); math.Abs(x-0.94444) > 0.001 || how != "94% (median of 3 paired rounds, each 95% 75% 94%; median MB/s 85 / 90)" {
		t.Errorf("streamRatio = %.4f %q", x, how)
	}
	// Two rounds: the lower is the median (no averaging of rates).
	if two := medianStream([]StreamRun{{MBps: 70}, {MBps: 90}}); two.MBps != 70 {
		t.Errorf("median of two = %.0f, want 70", two.MBps)
	}
	// One read: no rounds listed, and nothing to pair.
	one := medianStream([]StreamRun{{MBps: 50}})
	if x, how := streamRatio(one, direct); one.MBps != 50 || one.RoundsMBps != nil || x != 50.0/90 || how != "56% (50 / 90 MB/s)" {
		t.Errorf("single read: %+v", one)
	}
}
