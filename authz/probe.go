package authz

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// Objects a user may not see must be indistinguishable from objects
// that do not exist. Imitating the server's errors is fragile (MariaDB
// 10.11 and MySQL word them differently, name the clause, keep the
// user's spelling and report the first unknown name they meet), so a
// statement refused only because it names hidden objects is answered by
// the server itself: rrproxy sends a probe, the statement with each
// hidden name replaced by a placeholder that exists nowhere, and relays
// the answer with the user's spelling put back (Decision.ProbeNames).
// The probe is itself checked like any statement; it can read nothing,
// since every name it could reach through is gone.

// placeholderPrefix starts every placeholder name.
const placeholderPrefix = "rrproxy_missing_"

func placeholderName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return placeholderPrefix + hex.EncodeToString(b[:])
}

// probeHooks names the hidden objects for sqlscope.Rewrite and asks for
// nothing else: masks and stars are applied when the probe is checked.
type probeHooks struct {
	g  *grants
	st *sqlscope.Statement // tables of all statements, for unresolved columns
}

func (h *probeHooks) HideSchema(s string) bool {
	return s != "" && !h.g.schemaVisible(s)
}

func (h *probeHooks) HideTable(t sqlscope.Table) bool {
	if t.Schema == "" || (t.Schema == "information_schema" && publicOrFiltered(t.Name)) {
		return false
	}
	return h.g.tableRule(t) != ""
}

func (h *probeHooks) HideIndex(t sqlscope.Table, index string) bool {
	return h.g.indexHidden(t, index) != ""
}

func (h *probeHooks) HideColumn(c sqlscope.Column) bool {
	return h.g.columnDeniedAny(h.st, c) != ""
}

func (h *probeHooks) Column(sqlscope.Column, sqlscope.Use) (sqlscope.ColumnAction, error) {
	return sqlscope.ColumnAction{}, nil
}
func (h *probeHooks) Star(sqlscope.Table) ([]string, bool, error) { return nil, false, nil }
func (h *probeHooks) Catalog(string) (string, error)              { return "", nil }
func (h *probeHooks) Function(string) (string, bool)              { return "", false }

func publicOrFiltered(name string) bool {
	_, filtered := catalogColumns[name]
	return filtered || publicCatalog[name] || emptiedCatalog[name]
}

// isHidden reports whether err refuses an object the user may not see.
func isHidden(err error) bool {
	var de *DeniedError
	return errors.As(err, &de) && de.Hidden
}

// probe turns a hidden-object denial into a probe, when one can be
// built; otherwise d keeps its plain denial.
func (p *Policy) probe(g *grants, id *Identity, sess Session, sql string, d *Decision) {
	res, err := sqlscope.AnalyzeMode(sql, sess.DB, sess.SQLMode)
	if err != nil {
		return
	}
	rw, err := sqlscope.Rewrite(sql, sess.DB, sess.SQLMode, &probeHooks{g: g, st: allTables(res.Statements)})
	if err != nil || len(rw.Names) == 0 {
		return
	}
	// Placeholders for hidden schemas are readable, as a schema that
	// does not exist is to anyone: the server then says it does not.
	pg := *g
	pg.allow = append([]ruleTable(nil), g.allow...)
	for ph := range rw.Names {
		pg.allow = append(pg.allow, ruleTable{tablePattern{strings.ToLower(ph), "*"}, RuleDefaultDeny})
	}
	pd, _ := p.checkQuery(&pg, id, sess, rw.SQL)
	if pd.Err != nil {
		var de *DeniedError
		if errors.As(pd.Err, &de) && !de.Hidden {
			// Refused for another reason too, as the same statement
			// naming a missing object would be.
			d.Err = pd.Err
		}
		return
	}
	d.Probe, d.ProbeNames = true, rw.Names
	d.SQL = pd.SQL
	if d.SQL == "" {
		d.SQL = rw.SQL
	}
	d.RecordedSQL = p.RecordedSQL(d.SQL)
	d.Rows, d.Pseudonyms, d.Diagnostics, d.UseDB = pd.Rows, pd.Pseudonyms, pd.Diagnostics, ""
}

// probeName returns a placeholder standing for name, for commands that
// carry a single name (COM_INIT_DB, COM_FIELD_LIST).
func probeName(d *Decision, name string) {
	ph := placeholderName()
	d.Probe, d.SQL, d.ProbeNames = true, ph, map[string]string{ph: name}
}
