package sqlscope

import "testing"

func BenchmarkAnalyzePointSelect(b *testing.B) {
	const sql = "SELECT c FROM sbtest1 WHERE id=4242"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(sql, "sbtest"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyzeJoinCTE(b *testing.B) {
	const sql = "WITH recent AS (SELECT subject_id, max(visit_date) AS d FROM study.visits GROUP BY subject_id) " +
		"SELECT s.site, v.treatment_arm, count(*) FROM study.subjects s JOIN study.visits v USING (subject_id) " +
		"JOIN recent r ON r.subject_id = s.subject_id AND r.d = v.visit_date WHERE s.site IN ('A', 'B') GROUP BY s.site, v.treatment_arm"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(sql, "study"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Normalize("SELECT c FROM sbtest1 WHERE id=4242")
	}
}
