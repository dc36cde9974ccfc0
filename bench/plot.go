package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

const (
	plotWidth  = 1400
	plotHeight = 900
)

// Colours of the chart. Bars are solid fills, so the exact values appear
// in the PNG and the tests can look for them.
var (
	colBackground = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colText       = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colMuted      = color.RGBA{0x66, 0x66, 0x66, 0xff}
	colGrid       = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	colAxis       = color.RGBA{0x99, 0x99, 0x99, 0xff}
	colDirect     = color.RGBA{0x9e, 0x9e, 0x9e, 0xff}
	colHAProxy    = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colRRProxy    = color.RGBA{0xff, 0x8c, 0x1a, 0xff}
	colRRProxyTLS = color.RGBA{0xc4, 0x3c, 0x0c, 0xff}
	colGoRelay    = color.RGBA{0x5a, 0xa0, 0x5a, 0xff}
)

// plotTarget is one bar of a thread group. The chart shows only these
// targets, in this order (the Go relay only where it ran): the TLS
// pass-through variants are in the .md table, and more bars per group
// would not be readable.
type plotTarget struct {
	name   string
	colour color.RGBA
	ratio  bool // print the ratio to haproxy above the bar
}

var plotTargets = []plotTarget{
	{TargetDirect, colDirect, false},
	{TargetHAProxy, colHAProxy, false},
	{TargetGoRelay, colGoRelay, true},
	{TargetRRProxy, colRRProxy, true},
	{TargetRRProxyTLS, colRRProxyTLS, true},
}

// plotWorkloads are the two panels, left to right.
var plotWorkloads = []string{"oltp_point_select", "oltp_read_only"}

// plotPSMode is the prepared-statement mode the chart shows; "disable"
// runs are in the .md table only.
const plotPSMode = "auto"

// writePlot draws r as the PNG the README shows: sysbench QPS per thread
// count and target for both workloads, with the streaming and connection
// storm figures in a footer. Missing data leaves its part of the chart
// empty rather than failing.
func writePlot(path string, r *Results) error {
	if r == nil {
		r = &Results{}
	}
	c, err := newCanvas(plotWidth, plotHeight)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	c.drawChart(r)

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := png.Encode(f, c.img); err != nil {
		f.Close()
		return fmt.Errorf("bench: plot: encode %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// canvas is the image being drawn and the faces it draws text with.
type canvas struct {
	img                        *image.RGBA
	title, heading, body, tiny font.Face
}

func newCanvas(w, h int) (*canvas, error) {
	regular, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse goregular: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse gobold: %w", err)
	}
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	for _, s := range []struct {
		dst  *font.Face
		f    *opentype.Font
		size float64
	}{
		{&c.title, bold, 22},
		{&c.heading, bold, 17},
		{&c.body, regular, 15},
		{&c.tiny, regular, 13},
	} {
		if *s.dst, err = face(s.f, s.size); err != nil {
			return nil, fmt.Errorf("font face: %w", err)
		}
	}
	c.fill(c.img.Bounds(), colBackground)
	return c, nil
}

func (c *canvas) fill(r image.Rectangle, col color.Color) {
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

// text draws s with its baseline at y; x is its left edge, centre or right
// edge according to a.
func (c *canvas) text(face font.Face, col color.Color, x, y int, a align, s string) {
	w := font.MeasureString(face, s).Ceil()
	switch a {
	case alignCenter:
		x -= w / 2
	case alignRight:
		x -= w
	}
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(face font.Face, s string) int {
	return font.MeasureString(face, s).Ceil()
}

func (c *canvas) drawChart(r *Results) {
	w := c.img.Bounds().Dx()
	c.text(c.title, colText, w/2, 42, alignCenter, plotTitle(r))

	panels := make([]panelData, len(plotWorkloads))
	var shown []plotTarget
	for i, wl := range plotWorkloads {
		panels[i] = collectPanel(r.Sysbench, wl)
	}
	for _, t := range plotTargets {
		for _, p := range panels {
			if slices.Contains(p.targets, t.name) {
				shown = append(shown, t)
				break
			}
		}
	}
	c.drawLegend(w/2, 80, shown)

	// Two panels side by side; the left margin of each holds its Y labels.
	const top, bottom, gap, margin, yLabels = 150, 785, 70, 30, 56
	pw := (w - 2*margin - gap - 2*yLabels) / 2
	for i, p := range panels {
		left := margin + yLabels + i*(pw+gap+yLabels)
		c.drawPanel(image.Rect(left, top, left+pw, bottom), p)
	}

	y := bottom + 52
	if len(shown) > 0 {
		note := "sysbench --db-ps-mode=" + plotPSMode + "."
		if slices.ContainsFunc(shown, func(t plotTarget) bool { return t.name == TargetHAProxy }) {
			note += "  The percentage above an rrproxy bar is its QPS relative to haproxy at the same thread count."
		}
		c.text(c.tiny, colMuted, w/2, y, alignCenter, note)
	}
	y += 27
	for _, l := range footerLines(r, c.body, w-2*margin) {
		c.text(c.body, colText, w/2, y, alignCenter, l)
		y += 23
	}
}

func plotTitle(r *Results) string {
	var parts []string
	if r.Mode != "" {
		parts = append(parts, r.Mode+" run")
	}
	if !r.Date.IsZero() {
		parts = append(parts, r.Date.Format("2006-01-02"))
	}
	if n := r.Machine.CPUs; n > 0 {
		parts = append(parts, plural(n, "CPU", "CPUs"))
	}
	t := "rrproxy vs HAProxy vs direct MariaDB — sysbench QPS"
	if len(parts) > 0 {
		t += " (" + strings.Join(parts, ", ") + ")"
	}
	return t
}

func (c *canvas) drawLegend(cx, y int, targets []plotTarget) {
	const swatch, pad, spacing = 14, 7, 30
	total := 0
	for i, t := range targets {
		if i > 0 {
			total += spacing
		}
		total += swatch + pad + textWidth(c.body, t.name)
	}
	x := cx - total/2
	for _, t := range targets {
		c.fill(image.Rect(x, y-swatch+2, x+swatch, y+2), t.colour)
		x += swatch + pad
		c.text(c.body, colText, x, y, alignLeft, t.name)
		x += textWidth(c.body, t.name) + spacing
	}
}

// panelData is the QPS of one workload per thread count and target.
type panelData struct {
	workload string
	threads  []int
	targets  []string // of plotTargets, those with data, in that order
	qps      map[int]map[string]float64
	max      float64
}

// collectPanel picks the ps_mode auto runs of workload. Repeated runs of
// the same thread count and target are averaged.
func collectPanel(runs []SysbenchRun, workload string) panelData {
	p := panelData{workload: workload, qps: map[int]map[string]float64{}}
	type key struct {
		threads int
		target  string
	}
	sum := map[key]float64{}
	n := map[key]int{}
	for _, s := range runs {
		if s.Workload != workload || s.PSMode != plotPSMode {
			continue
		}
		if !slices.ContainsFunc(plotTargets, func(t plotTarget) bool { return t.name == s.Target }) {
			continue
		}
		q := s.QPS
		if math.IsNaN(q) || math.IsInf(q, 0) || q < 0 {
			q = 0
		}
		k := key{s.Threads, s.Target}
		sum[k] += q
		n[k]++
	}
	for k, v := range sum {
		avg := v / float64(n[k])
		if p.qps[k.threads] == nil {
			p.qps[k.threads] = map[string]float64{}
			p.threads = append(p.threads, k.threads)
		}
		p.qps[k.threads][k.target] = avg
		p.max = max(p.max, avg)
	}
	slices.Sort(p.threads)
	for _, t := range plotTargets {
		for _, m := range p.qps {
			if _, ok := m[t.name]; ok {
				p.targets = append(p.targets, t.name)
				break
			}
		}
	}
	return p
}

func (c *canvas) drawPanel(area image.Rectangle, p panelData) {
	c.text(c.heading, colText, (area.Min.X+area.Max.X)/2, area.Min.Y-22, alignCenter, p.workload)
	c.text(c.tiny, colMuted, area.Min.X-8, area.Min.Y-22, alignRight, "QPS")

	c.fill(image.Rect(area.Min.X, area.Min.Y, area.Min.X+1, area.Max.Y+1), colAxis)
	c.fill(image.Rect(area.Min.X, area.Max.Y, area.Max.X, area.Max.Y+1), colAxis)
	if len(p.threads) == 0 || len(p.targets) == 0 {
		c.text(c.body, colMuted, (area.Min.X+area.Max.X)/2, (area.Min.Y+area.Max.Y)/2, alignCenter,
			"no "+p.workload+" runs (ps_mode "+plotPSMode+")")
		return
	}

	// Leave headroom above the tallest bar for its ratio label.
	step, top := niceScale(p.max * 1.1)
	h := float64(area.Dy())
	yOf := func(v float64) int { return area.Max.Y - int(math.Round(v/top*h)) }
	for i := 0; float64(i)*step <= top+step/2; i++ {
		v := float64(i) * step
		y := yOf(v)
		if i > 0 {
			c.fill(image.Rect(area.Min.X+1, y, area.Max.X, y+1), colGrid)
		}
		c.text(c.tiny, colMuted, area.Min.X-8, y+5, alignRight, formatQPS(v))
	}

	gw := float64(area.Dx()) / float64(len(p.threads))
	// "128 threads" under each of many groups would run together; then the
	// groups show bare numbers and the axis says "threads" once.
	groupLabel := func(th int) string { return plural(th, "thread", "threads") }
	for _, th := range p.threads {
		if textWidth(c.body, groupLabel(th)) > int(gw)-12 {
			groupLabel = strconv.Itoa
			c.text(c.tiny, colMuted, area.Min.X-8, area.Max.Y+22, alignRight, "threads")
			break
		}
	}
	nb := len(p.targets)
	pitch := min(gw*0.8/float64(nb), 64)
	barW := int(pitch * 0.86)
	for gi, th := range p.threads {
		gx := float64(area.Min.X) + gw*float64(gi)
		x0 := gx + (gw-pitch*float64(nb))/2
		haproxy, hasHA := p.qps[th][TargetHAProxy]
		for bi, name := range p.targets {
			t := plotTargets[slices.IndexFunc(plotTargets, func(t plotTarget) bool { return t.name == name })]
			v, ok := p.qps[th][name]
			if !ok {
				continue
			}
			bx := int(x0 + pitch*float64(bi) + (pitch-float64(barW))/2)
			by := yOf(v)
			c.fill(image.Rect(bx, by, bx+barW, area.Max.Y), t.colour)
			if t.ratio && hasHA && haproxy > 0 {
				label := fmt.Sprintf("%.0f%%", v/haproxy*100)
				// A label wider than its slot would run into the next one's.
				if textWidth(c.tiny, label) <= int(pitch)+4 {
					c.text(c.tiny, colText, bx+barW/2, by-5, alignCenter, label)
				}
			}
		}
		c.text(c.body, colText, int(gx+gw/2), area.Max.Y+22, alignCenter, groupLabel(th))
	}
}

// niceScale returns a tick step of 1, 2, 2.5 or 5 times a power of ten
// and the axis top, a multiple of it at or above hi, so the axis has
// four to six ticks counting zero.
func niceScale(hi float64) (step, top float64) {
	if !(hi > 0) || math.IsInf(hi, 0) {
		return 0.25, 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(hi/5)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * mag
		if n := math.Ceil(hi / step); n <= 5 {
			return step, n * step
		}
	}
	return step, math.Ceil(hi/step) * step
}

// formatQPS labels an axis tick: 20000 is "20k", 2500 is "2.5k".
func formatQPS(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
}

// footerLines is the streaming and connection storm summary, on one line
// if it fits in width and on two otherwise; nil without either.
func footerLines(r *Results, face font.Face, width int) []string {
	var parts []string
	if s := streamSummary(r.Stream); s != "" {
		parts = append(parts, s)
	}
	if s := stormSummary(r.Storm); s != "" {
		parts = append(parts, s)
	}
	if one := strings.Join(parts, "   |   "); len(parts) < 2 || textWidth(face, one) <= width {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	return parts
}

func streamSummary(runs []StreamRun) string {
	if len(runs) == 0 {
		return ""
	}
	order := []string{TargetDirect, TargetHAProxy, TargetRRProxy, TargetRRProxyTLS,
		TargetNoAudit, TargetDirectTLS, TargetHAProxyTLS}
	rank := func(t string) int {
		if i := slices.Index(order, t); i >= 0 {
			return i
		}
		return len(order)
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b StreamRun) int { return rank(a.Target) - rank(b.Target) })

	rows := 0
	var items []string
	for _, s := range sorted {
		rows = max(rows, s.Rows)
		item := fmt.Sprintf("%s %s MB/s", s.Target, formatMB(s.MBps))
		if strings.HasPrefix(s.Target, TargetRRProxy) && s.ProxyMaxRSSMB > 0 {
			item += fmt.Sprintf(" (RSS %s MB)", formatMB(s.ProxyMaxRSSMB))
		}
		items = append(items, item)
	}
	head := "Bulk stream"
	if rows > 0 {
		head += " " + thousands(int64(rows)) + " rows"
	}
	return head + ": " + strings.Join(items, " · ")
}

// stormSummary reports rrproxy-tls with local credentials, the login path
// a client of rrproxy normally takes, or the closest run there is.
func stormSummary(runs []StormRun) string {
	prefs := []func(s StormRun) bool{
		func(s StormRun) bool { return s.Target == TargetRRProxyTLS && s.Credential == "local" },
		func(s StormRun) bool { return s.Target == TargetRRProxyTLS },
		func(s StormRun) bool { return s.Target == TargetRRProxy && s.Credential == "local" },
		func(s StormRun) bool { return s.Target == TargetRRProxy },
	}
	for _, pref := range prefs {
		i := slices.IndexFunc(runs, pref)
		if i < 0 {
			continue
		}
		s := runs[i]
		who := s.Target
		if s.Credential != "" {
			who += " " + s.Credential
		}
		if s.KeyExchange != "" {
			who += " " + s.KeyExchange
		}
		out := fmt.Sprintf("Connection storm: %s %s logins/s", who, thousands(int64(math.Round(s.PerSec))))
		if s.P99Ms > 0 {
			out += fmt.Sprintf(", p99 %s ms", strconv.FormatFloat(s.P99Ms, 'f', 1, 64))
		}
		if s.Workers > 0 {
			out += fmt.Sprintf(" (%s)", plural(s.Workers, "worker", "workers"))
		}
		return out
	}
	return ""
}

func formatMB(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "?"
	}
	if v >= 100 {
		return thousands(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// thousands writes n with comma separators: 2000000 is "2,000,000".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
