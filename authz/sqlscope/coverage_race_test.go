package sqlscope

import (
	"sync"
	"testing"
)

// TestCoveragePlansConcurrent analyses different statements from many
// goroutines while the reflection plans are being built: run under -race
// it catches a plan published before the plans it points to are
// finished (found by sysbench's concurrent prepares through rrproxy).
func TestCoveragePlansConcurrent(t *testing.T) {
	stmts := []string{
		"SELECT c FROM sbtest1 WHERE id = ?",
		"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
		"SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?",
		"SELECT a.x, (SELECT MAX(y) FROM t2 WHERE t2.id = a.id) FROM t1 a JOIN t3 USING (id) WHERE a.z IN (1, 2) GROUP BY a.x HAVING COUNT(*) > 1",
		"SHOW FULL COLUMNS FROM t1 LIKE 'x%'",
		"SET autocommit = 1, sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')",
		"EXPLAIN SELECT * FROM t1 WHERE x = 1",
		"SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'study'",
		"WITH c AS (SELECT 1 AS n) SELECT n FROM c UNION ALL SELECT 2",
		"KILL QUERY 42",
	}
	for range 20 {
		plans.Clear()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range stmts {
					if _, err := Analyze(stmts[(i+g)%len(stmts)], "study"); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
}
