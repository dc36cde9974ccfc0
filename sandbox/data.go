package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// seed fixes the sample data: every Start serves the same rows, so tests and
// demo scripts can quote exact counts and values.
const (
	seed1 = 20240611
	seed2 = 42
)

// sample is the generated data set: one INSERT per table, and row counts.
type sample struct {
	inserts []string       // in dependency order
	counts  map[string]int // "schema.table" -> rows
}

// sampleData builds the data set once; it is pure, so sharing it between
// concurrent Starts is safe.
var sampleData = sync.OnceValue(generate)

// SampleCounts returns the number of rows each sample table holds, keyed by
// "schema.table" (for example "study.subjects": 120). The map is a copy.
func SampleCounts() map[string]int {
	src := sampleData().counts
	out := make(map[string]int, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

type study struct {
	id, title, phase, sponsor, status string
	start                             time.Time
	// metabolic studies measure weight loss, cardiovascular ones blood
	// pressure; the drift applied to the ACTIVE arm follows from it.
	metabolic bool
}

type site struct {
	id                          int
	study                       string
	name, country, investigator string
}

var studies = []study{
	{"RR-CARD-202", "Dose-finding study of rrx-101 in stage 2 hypertension", "II", "Rhine River Pharma", "ACTIVE_NOT_RECRUITING", date(2022, 6, 15), false},
	{"RR-CARD-301", "Randomised, double-blind, placebo-controlled trial of rrx-101 in resistant hypertension", "III", "Rhine River Pharma", "RECRUITING", date(2023, 3, 1), false},
	{"RR-MET-105", "Randomised, double-blind study of rrx-220 in adults with obesity", "II", "Rhône Metabolic SA", "RECRUITING", date(2024, 1, 10), true},
}

// Fictional sites and investigators; names carry non-ASCII letters on purpose
// so the demo exercises utf8mb4 end to end.
var sites = []site{
	{101, "RR-CARD-301", "Berlin Cardiovascular Research Unit", "DE", "Dr. Anna Köhler"},
	{102, "RR-CARD-301", "Lyon Clinical Trials Centre", "FR", "Dr. Étienne Marchand"},
	{103, "RR-CARD-301", "Leiden Hypertension Clinic", "NL", "Dr. Sanne de Vries"},
	{104, "RR-CARD-301", "Uppsala Heart Studies", "SE", "Dr. Lars Öberg"},
	{105, "RR-CARD-202", "Barcelona Vascular Institute", "ES", "Dr. Núria Puig"},
	{106, "RR-CARD-202", "Bologna Cardiology Research", "IT", "Dr. Marco Bellini"},
	{107, "RR-MET-105", "Vienna Metabolic Research Centre", "AT", "Dr. Johanna Gruber"},
	{108, "RR-MET-105", "Copenhagen Obesity Unit", "DK", "Dr. Mette Sørensen"},
}

const subjectsPerSite = 15

// visitSchedule is the protocol's visit plan: name and target day relative
// to baseline (day 0).
var visitSchedule = []struct {
	name string
	day  int
}{
	{"Screening", -14},
	{"Baseline", 0},
	{"Week 4", 28},
	{"Week 8", 56},
	{"Week 12", 84},
}

func generate() sample {
	r := rand.New(rand.NewPCG(seed1, seed2))
	var (
		studyRows, siteRows, subjectRows, visitRows, paymentRows []string
	)
	studyByID := map[string]study{}
	for _, s := range studies {
		studyByID[s.id] = s
		studyRows = append(studyRows, tuple(q(s.id), q(s.title), q(s.phase), q(s.sponsor), q(s.status), qd(s.start)))
	}
	for _, s := range sites {
		siteRows = append(siteRows, tuple(fmt.Sprint(s.id), q(s.study), q(s.name), q(s.country), q(s.investigator)))
	}

	visitID := 0
	for _, st := range sites {
		stdy := studyByID[st.study]
		for n := 1; n <= subjectsPerSite; n++ {
			id := fmt.Sprintf("S-%03d-%04d", st.id, n)
			sex := []string{"F", "M"}[r.IntN(2)]
			birth := 1945 + r.IntN(56)
			// Baselines spread over the first 18 months of the study.
			baseline := stdy.start.AddDate(0, 0, 14+r.IntN(540))
			status, nVisits := subjectStatus(r)
			arm := []string{"ACTIVE", "PLACEBO"}[r.IntN(2)]
			subjectRows = append(subjectRows, tuple(q(id), q(st.study), fmt.Sprint(st.id), q(sex), fmt.Sprint(birth), qd(baseline), q(status)))

			sys := 138 + r.IntN(30)
			dia := 84 + r.IntN(16)
			weight := 680 + r.IntN(600) // tenths of a kilogram, so DECIMAL(5,1) stays exact
			if stdy.metabolic {
				weight += 250
			}
			for v := 0; v < nVisits; v++ {
				visitID++
				sv := visitSchedule[v]
				day := sv.day
				if v > 1 {
					day += r.IntN(7) - 3 // the visit window: target day ±3
				}
				weeks := max(day, 0) / 7
				s, d, w := sys+r.IntN(9)-4, dia+r.IntN(7)-3, weight+r.IntN(11)-5
				if arm == "ACTIVE" {
					// A visible treatment effect makes unblinding the arm
					// column worth protecting in the demo.
					if stdy.metabolic {
						w -= weeks * 7 // 0.7 kg a week
					} else {
						s -= weeks * 3 / 2
						d -= weeks * 2 / 3
					}
				}
				visitRows = append(visitRows, tuple(
					fmt.Sprint(visitID), q(id), q(sv.name), qd(baseline.AddDate(0, 0, day)),
					fmt.Sprint(s), fmt.Sprint(d), fmt.Sprintf("%d.%d", w/10, w%10), q(arm)))
			}
		}
	}

	const payments = 30
	paid := date(2024, 1, 31)
	for i := 1; i <= payments; i++ {
		st := sites[(i-1)%len(sites)]
		cents := 150000 + r.IntN(2350000)
		paymentRows = append(paymentRows, tuple(
			fmt.Sprint(i), fmt.Sprint(st.id), fmt.Sprintf("%d.%02d", cents/100, cents%100),
			qd(paid.AddDate(0, 0, (i-1)*12)), q(fmt.Sprintf("PAY-%d-%04d", st.id, 7000+i))))
	}

	tables := []struct {
		name string
		rows []string
	}{
		{"study.studies", studyRows},
		{"study.sites", siteRows},
		{"study.subjects", subjectRows},
		{"study.visits", visitRows},
		{"ops.site_payments", paymentRows},
	}
	out := sample{counts: map[string]int{}}
	for _, t := range tables {
		out.counts[t.name] = len(t.rows)
		out.inserts = append(out.inserts, "INSERT INTO "+t.name+" VALUES\n"+strings.Join(t.rows, ",\n"))
	}
	return out
}

// subjectStatus draws a subject's status and how many scheduled visits have
// taken place: screen failures stop after screening, completers did them all.
func subjectStatus(r *rand.Rand) (string, int) {
	switch p := r.IntN(100); {
	case p < 10:
		return "SCREEN_FAILED", 1
	case p < 20:
		return "WITHDRAWN", 2 + r.IntN(2)
	case p < 32:
		return "COMPLETED", len(visitSchedule)
	default:
		return "ENROLLED", 2 + r.IntN(2)
	}
}

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func tuple(vals ...string) string { return "(" + strings.Join(vals, ", ") + ")" }

// q quotes a string literal. The data is ours and fixed, but quoting properly
// costs nothing and keeps a future apostrophe ("O'Brien") from breaking Start.
func q(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

func qd(t time.Time) string { return "'" + t.Format(time.DateOnly) + "'" }
