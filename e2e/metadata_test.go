package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// What mona does see: metadata listing exactly her grants, masked values
// in both protocols, pseudonyms that are the keyed HMAC of the real value
// and so join and count like the real ones.

var (
	visitsSeen   = []string{"visit_id", "subject_id", "visit_name", "visit_date", "systolic_bp"}
	subjectsSeen = []string{"subject_id", "site_id", "initials", "birth_year", "sex"}
	pseudonymRE  = regexp.MustCompile(`^psn-[0-9a-f]{24}$`)
)

func TestMetadataListsExactlyTheGrants(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	db := r.open("mona", monaPW, "trial")
	db.SetMaxOpenConns(1)

	list := func(q string, col int) []string {
		t.Helper()
		rows := table(t, db, q)
		var out []string
		for _, row := range rows {
			out = append(out, row[col])
		}
		return out
	}
	for _, c := range []struct {
		q    string
		col  int
		want []string
	}{
		{"SHOW DATABASES", 0, []string{"information_schema", "trial"}},
		{"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1", 0, []string{"information_schema", "trial"}},
		{"SHOW TABLES", 0, []string{"subjects", "visits"}},
		{"SHOW FULL TABLES FROM trial", 0, []string{"subjects", "visits"}},
		{"SHOW TABLE STATUS", 0, []string{"subjects", "visits"}},
		{"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'trial' ORDER BY 1", 0, []string{"subjects", "visits"}},
		// Masked columns are listed (their values can be read, masked);
		// withheld ones are not.
		{"SHOW COLUMNS FROM visits", 0, visitsSeen},
		{"SHOW FULL COLUMNS FROM visits", 0, visitsSeen},
		{"DESCRIBE visits", 0, visitsSeen},
		{"SHOW COLUMNS FROM subjects", 0, subjectsSeen},
		{"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'trial' AND TABLE_NAME = 'visits' ORDER BY ORDINAL_POSITION", 0, visitsSeen},
		{"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'trial' AND TABLE_NAME = 'subjects' ORDER BY ORDINAL_POSITION", 0, subjectsSeen},
	} {
		if got := list(c.q, c.col); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.q, got, c.want)
		}
	}

	// COM_FIELD_LIST agrees.
	c := rawConn(t, r, "mona", monaPW, "trial")
	for tbl, want := range map[string][]string{"visits": visitsSeen, "subjects": subjectsSeen} {
		fields, err := c.FieldList(tbl, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fields {
			got = append(got, string(f.Name))
		}
		if !slices.Equal(got, want) {
			t.Errorf("COM_FIELD_LIST %s: %v, want %v", tbl, got, want)
		}
	}

	// SHOW CREATE TABLE leaves the withheld column, and every index,
	// constraint and foreign key naming it or the withheld table, out;
	// what is left is DDL MariaDB accepts, and it creates the columns
	// mona sees.
	ref := direct(t)
	for tbl, want := range map[string][]string{"visits": visitsSeen, "subjects": subjectsSeen} {
		ddl := table(t, db, "SHOW CREATE TABLE "+tbl)[0][1]
		for _, tok := range leakTokens {
			if containsFold(ddl, tok) {
				t.Errorf("SHOW CREATE TABLE %s names %q:\n%s", tbl, tok, ddl)
			}
		}
		scratch := "leak_ddl_check"
		for _, q := range []string{"DROP DATABASE IF EXISTS " + scratch, "CREATE DATABASE " + scratch} {
			if _, err := ref.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ref.Exec(strings.Replace(ddl, "CREATE TABLE `"+tbl+"`", "CREATE TABLE `"+scratch+"`.`"+tbl+"`", 1)); err != nil {
			t.Errorf("SHOW CREATE TABLE %s is not valid DDL: %v\n%s", tbl, err, ddl)
		} else {
			var got []string
			rows, err := ref.Query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", scratch, tbl)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				rows.Scan(&n)
				got = append(got, n)
			}
			rows.Close()
			if !slices.Equal(got, want) {
				t.Errorf("SHOW CREATE TABLE %s creates %v, want %v", tbl, got, want)
			}
		}
		if _, err := ref.Exec("DROP DATABASE " + scratch); err != nil {
			t.Fatal(err)
		}
	}

	// CURRENT_USER() and friends name the person, in both protocols.
	for _, mode := range []string{"interpolateParams=false", "interpolateParams=true"} {
		bdb := r.open("mona", monaPW, "trial", mode)
		st, err := bdb.Prepare("SELECT CURRENT_USER(), USER(), SESSION_USER(), SYSTEM_USER(), CURRENT_USER, ?")
		if err != nil {
			t.Fatal(err)
		}
		var a, b, c, d, e, x string
		if err := st.QueryRow("x").Scan(&a, &b, &c, &d, &e, &x); err != nil {
			t.Fatal(err)
		}
		st.Close()
		for _, v := range []string{a, b, c, d, e} {
			if !strings.HasPrefix(v, "mona@") || strings.Contains(v, svcUser) {
				t.Errorf("%s: account functions return %q, want the person (mona@...)", mode, v)
			}
		}
	}
}

func TestMasksInTextAndBinaryProtocol(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ref := directTo(t, "trial")

	// The real subject of every visit, and the pseudonym each must get.
	realOf := map[string]string{}
	for _, row := range table(t, ref, "SELECT visit_id, subject_id FROM visits") {
		realOf[row[0]] = row[1]
	}
	psn := func(real string) string { return string(pol.Pseudonym([]byte(real))) }
	var allReal []string
	for _, row := range table(t, ref, "SELECT subject_id FROM subjects") {
		allReal = append(allReal, row[0])
	}

	for _, mode := range []string{"text", "binary"} {
		t.Run(mode, func(t *testing.T) {
			db := r.open("mona", monaPW, "trial", "interpolateParams=false")
			db.SetMaxOpenConns(1)
			q := func(sql string) ([]string, [][]string) {
				t.Helper()
				if mode == "binary" {
					return query(t, db, sql, true)
				}
				return query(t, db, sql, false)
			}

			cols, rows := q("SELECT * FROM subjects")
			if !slices.Equal(cols, subjectsSeen) {
				t.Errorf("SELECT * FROM subjects: columns %v, want %v", cols, subjectsSeen)
			}
			var gotPsn, wantPsn []string
			for _, row := range rows {
				gotPsn = append(gotPsn, row[0])
				if row[2] != "XX" || row[3] != "NULL" {
					t.Errorf("subjects row %v: initials must be the fixed XX and birth_year NULL", row)
				}
			}
			for _, real := range allReal {
				wantPsn = append(wantPsn, psn(real))
			}
			slices.Sort(gotPsn)
			slices.Sort(wantPsn)
			if !slices.Equal(gotPsn, wantPsn) {
				t.Errorf("subject pseudonyms are not HMAC(key, real id) of the %d subjects", len(allReal))
			}

			cols, rows = q("SELECT * FROM visits")
			if !slices.Equal(cols, visitsSeen) {
				t.Errorf("SELECT * FROM visits: columns %v, want %v", cols, visitsSeen)
			}
			if len(rows) != visitCount {
				t.Fatalf("SELECT * FROM visits: %d rows, want %d", len(rows), visitCount)
			}
			for _, row := range rows {
				if !pseudonymRE.MatchString(row[1]) || row[1] != psn(realOf[row[0]]) {
					t.Fatalf("visit %s: subject_id %q, want the pseudonym of its subject", row[0], row[1])
				}
			}

			// Equal real values have equal pseudonyms across tables, so a
			// join on the pseudonymised columns finds the real pairs.
			_, rows = q("SELECT v.visit_id, s.subject_id, v.subject_id FROM visits v JOIN subjects s ON s.subject_id = v.subject_id")
			if len(rows) != visitCount {
				t.Errorf("join on pseudonymised ids: %d rows, want %d", len(rows), visitCount)
			}
			for _, row := range rows {
				if row[1] != row[2] || row[1] != psn(realOf[row[0]]) {
					t.Fatalf("join row %v: both sides must be the pseudonym of visit %s's subject", row, row[0])
				}
			}

			_, rows = q("SELECT COUNT(DISTINCT subject_id) FROM visits")
			if rows[0][0] != fmt.Sprint(subjectsWithVisits) {
				t.Errorf("COUNT(DISTINCT subject_id) = %s, want %d", rows[0][0], subjectsWithVisits)
			}
			_, rows = q("SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id")
			perSubject := map[string]int{}
			for _, real := range realOf {
				perSubject[psn(real)]++
			}
			if len(rows) != subjectsWithVisits {
				t.Errorf("GROUP BY subject_id: %d groups, want %d", len(rows), subjectsWithVisits)
			}
			for _, row := range rows {
				if row[1] != fmt.Sprint(perSubject[row[0]]) {
					t.Errorf("GROUP BY subject_id: %s has %s visits, want %d", row[0], row[1], perSubject[row[0]])
				}
			}
		})
	}

	// A cursor (COM_STMT_FETCH) pseudonymises too.
	c := rawConn(t, r, "mona", monaPW, "trial")
	id, errPkt := rawPrepare(t, c, "SELECT visit_id, subject_id FROM visits")
	if errPkt != nil {
		t.Fatalf("prepare: %q", errPkt)
	}
	n := 0
	for _, p := range cursorFetchAll(t, c, id, 11) {
		if p[0] != 0 || len(p) < 7 { // binary rows start 0x00; skip definitions and EOFs
			continue
		}
		// 0x00, 1-byte NULL bitmap, INT visit_id, length-encoded subject_id.
		visit := fmt.Sprint(int32(p[2]) | int32(p[3])<<8 | int32(p[4])<<16 | int32(p[5])<<24)
		r := reader{b: p[6:]}
		l := r.lenencInt()
		got := string(r.b[:l])
		if got != psn(realOf[visit]) {
			t.Fatalf("cursor row for visit %s: subject_id %q, want its pseudonym", visit, got)
		}
		n++
	}
	if n != visitCount {
		t.Errorf("cursor fetched %d rows, want %d", n, visitCount)
	}
}

// table runs q as a plain query and returns its rows, NULL as "NULL".
func table(t *testing.T, db *sql.DB, q string) [][]string {
	t.Helper()
	_, rows := query(t, db, q, false)
	return rows
}

// query runs q as a plain query or a server-side prepared statement and
// returns the column titles and the rows, NULL as "NULL".
func query(t *testing.T, db *sql.DB, q string, binary bool) ([]string, [][]string) {
	t.Helper()
	cols, rows, err := runQuery(db, q, binary)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return cols, rows
}

// tryQuery is query as a plain query, returning the error.
func tryQuery(db *sql.DB, q string) ([]string, [][]string, error) { return runQuery(db, q, false) }

func runQuery(db *sql.DB, q string, binary bool) ([]string, [][]string, error) {
	ctx := context.Background()
	var rows *sql.Rows
	var err error
	if binary {
		var st *sql.Stmt
		if st, err = db.PrepareContext(ctx, q); err != nil {
			return nil, nil, err
		}
		defer st.Close()
		rows, err = st.QueryContext(ctx)
	} else {
		rows, err = db.QueryContext(ctx, q)
	}
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

// TestStarExpansionIgnoresSessionSettings: SELECT * over a table with
// withheld or masked columns is expanded from the replica's column list,
// read on the user's own session and cached for everyone. A session
// setting that changes that read (sql_select_limit truncates it,
// character_set_results re-encodes it) must not change what anybody's
// SELECT * returns.
func TestStarExpansionIgnoresSessionSettings(t *testing.T) {
	pol := leakWorld(t)
	for _, set := range []string{"SET sql_select_limit = 1", "SET character_set_results = 'utf16'"} {
		t.Run(set, func(t *testing.T) {
			r := startRig(t, rigOpts{requireTLS: true, policy: pol}) // a cold column-list cache
			a := r.open("mona", monaPW, "trial")
			a.SetMaxOpenConns(1)
			if _, err := a.Exec(set); err == nil {
				tryQuery(a, "SELECT * FROM visits") // whatever mona gets, with her settings
			}
			cols, rows, err := tryQuery(r.open("vera", veraPW, "trial"), "SELECT * FROM visits")
			if err != nil || !slices.Equal(cols, visitsSeen) || len(rows) != visitCount {
				t.Errorf("after another session's %q, SELECT * FROM visits gives columns %v, %d rows, %v; want %v, %d rows",
					set, cols, len(rows), err, visitsSeen, visitCount)
			}
		})
	}
}
