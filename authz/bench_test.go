package authz

import (
	"testing"
	"time"
)

// Decision cost for typical BI statements. Figures for the issue note:
//
//	go test -run '^$' -bench . -benchmem ./authz
var benchQueries = map[string]string{
	"point":  "SELECT name, country FROM study.sites WHERE site_id = 101",
	"join3":  "SELECT s.name, COUNT(DISTINCT su.subject_id) AS n, AVG(v.weight_kg) FROM study.sites s JOIN study.subjects su ON su.site_id = s.site_id JOIN study.visits v ON v.subject_id = su.subject_id WHERE v.visit_name = 'Week 4' GROUP BY s.name ORDER BY n DESC",
	"star":   "SELECT * FROM study.visits WHERE visit_date >= '2025-01-01'",
	"schema": "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'study' ORDER BY TABLE_NAME",
}

func benchPolicy(b *testing.B) (*Policy, *Identity) {
	p, err := Load("../policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	id, _ := p.IdentityOf("alice")
	return p, id
}

// BenchmarkDecideCold is parse + analyse + decide (+ rewrite), no cache.
func BenchmarkDecideCold(b *testing.B) {
	p, id := benchPolicy(b)
	sess := Session{DB: "study", Catalog: sampleCatalog}
	for _, name := range []string{"point", "join3", "star", "schema"} {
		q := benchQueries[name]
		b.Run(name, func(b *testing.B) {
			g := p.grantsFor(id, false)
			for b.Loop() {
				if d, _ := p.checkQuery(g, id, sess, q); d.Err != nil {
					b.Fatal(d.Err)
				}
			}
		})
	}
}

// BenchmarkDecideCached is the repeated dashboard query: a cache hit.
func BenchmarkDecideCached(b *testing.B) {
	p, id := benchPolicy(b)
	sess := Session{DB: "study", Catalog: sampleCatalog}
	for _, name := range []string{"point", "join3", "schema"} {
		q := benchQueries[name]
		b.Run(name, func(b *testing.B) {
			p.CheckQuery(id, sess, q)
			for b.Loop() {
				if d := p.CheckQuery(id, sess, q); !d.Cached || d.Err != nil {
					b.Fatalf("not a cache hit: %+v", d)
				}
			}
		})
	}
	b.Run("join3-parallel", func(b *testing.B) {
		q := benchQueries["join3"]
		p.CheckQuery(id, sess, q)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d := p.CheckQuery(id, sess, q); !d.Cached {
					b.Fatal("miss")
				}
			}
		})
	})
}

// Login cost: a full argon2id verification (m=19456 KiB, t=2, p=1, the
// example policy's hashes) against a login cache hit. Both run on every
// CPU, as a storm of logins does:
//
//	go test -run '^$' -bench Login -benchmem ./authz
func BenchmarkLoginCold(b *testing.B) {
	p, _ := benchPolicy(b)
	p.SetLoginCacheTTL(0)
	loginParallel(b, p)
}

// loginParallel logs alice in from every benchmark goroutine and reports
// logins per second.
func loginParallel(b *testing.B, p *Policy) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.AuthenticatePassword("alice", "alice-demo-password"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func BenchmarkLoginCached(b *testing.B) {
	p, _ := benchPolicy(b)
	p.SetLoginCacheTTL(time.Hour) // no expiry mid-run
	if _, err := p.AuthenticatePassword("alice", "alice-demo-password"); err != nil {
		b.Fatal(err)
	}
	runs := p.logins.argonCalls.Load()
	b.ResetTimer()
	loginParallel(b, p)
	if p.logins.argonCalls.Load() != runs {
		b.Fatal("a login missed the cache")
	}
}
