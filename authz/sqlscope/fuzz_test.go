package sqlscope

import (
	"errors"
	"testing"
)

// FuzzAnalyze checks that Analyze never panics, that it returns either a
// result or an error wrapping ErrUnparseable, and that every statement
// has a Kind, with "other" never read-only.
func FuzzAnalyze(f *testing.F) {
	for _, tc := range analyzeCases {
		f.Add(tc.sql, tc.db)
	}
	f.Fuzz(func(t *testing.T, sql, db string) {
		if len(sql) > 1<<16 {
			t.Skip() // the proxy caps statement size before analysis
		}
		res, err := Analyze(sql, db)
		if err != nil {
			if !errors.Is(err, ErrUnparseable) {
				t.Fatalf("error does not wrap ErrUnparseable: %v", err)
			}
			if res != nil {
				t.Fatal("result returned with an error")
			}
			return
		}
		if res == nil || len(res.Statements) == 0 {
			t.Fatal("no error and no statements")
		}
		for _, st := range res.Statements {
			checkStatement(t, &st)
		}
	})
}

func checkStatement(t *testing.T, st *Statement) {
	t.Helper()
	if st.Kind == "" {
		t.Fatal("empty Kind")
	}
	if st.Kind == KindOther && st.ReadOnly {
		t.Fatal("other and read-only")
	}
	if (st.Locking || st.IntoFile) && st.ReadOnly {
		t.Fatal("locking or file-writing statement is read-only")
	}
	if st.Inner != nil {
		checkStatement(t, st.Inner)
	}
}

// FuzzNormalize checks that Normalize never panics and always digests.
func FuzzNormalize(f *testing.F) {
	for _, tc := range analyzeCases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if d, _ := Normalize(sql); len(d) != 64 {
			t.Fatalf("digest %q", d)
		}
	})
}
