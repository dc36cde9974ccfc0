package sqlscope

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// showWhat names the SHOW statements MySQL and MariaDB have. The parser
// also knows TiDB-only ones (stats, placement, regions...); those are
// KindOther.
var showWhat = map[ast.ShowStmtType]string{
	ast.ShowEngines:         "engines",
	ast.ShowDatabases:       "databases",
	ast.ShowTables:          "tables",
	ast.ShowTableStatus:     "table status",
	ast.ShowColumns:         "columns",
	ast.ShowWarnings:        "warnings",
	ast.ShowErrors:          "errors",
	ast.ShowCharset:         "charset",
	ast.ShowVariables:       "variables",
	ast.ShowStatus:          "status",
	ast.ShowCollation:       "collation",
	ast.ShowCreateTable:     "create table",
	ast.ShowCreateView:      "create view",
	ast.ShowCreateUser:      "create user",
	ast.ShowCreateSequence:  "create sequence",
	ast.ShowCreateDatabase:  "create database",
	ast.ShowCreateProcedure: "create procedure",
	ast.ShowGrants:          "grants",
	ast.ShowTriggers:        "triggers",
	ast.ShowProcedureStatus: "procedure status",
	ast.ShowFunctionStatus:  "function status",
	ast.ShowIndex:           "index",
	ast.ShowProcessList:     "processlist",
	ast.ShowEvents:          "events",
	ast.ShowPlugins:         "plugins",
	ast.ShowProfile:         "profile",
	ast.ShowProfiles:        "profiles",
	ast.ShowMasterStatus:    "master status",
	ast.ShowBinlogStatus:    "binlog status",
	ast.ShowReplicaStatus:   "replica status",
	ast.ShowPrivileges:      "privileges",
	ast.ShowOpenTables:      "open tables",
}

func (w *walker) enterShow(n *ast.ShowStmt) {
	what, ok := showWhat[n.Tp]
	if !ok {
		w.unknown(fmt.Sprintf("SHOW type %d", n.Tp))
		return
	}
	if w.st.ShowWhat == "" {
		w.st.ShowWhat = what
	}
	db := strings.ToLower(n.DBName)
	if w.hooks != nil {
		n.DBName, _ = w.hideSchemaName(n.DBName)
	}
	switch n.Tp {
	case ast.ShowTables, ast.ShowTableStatus, ast.ShowTriggers, ast.ShowEvents,
		ast.ShowOpenTables, ast.ShowCreateDatabase, ast.ShowProcedureStatus, ast.ShowFunctionStatus:
		// These list the objects of one schema: the named one, else the
		// current one (SHOW OPEN TABLES and SHOW * STATUS without FROM
		// cover every schema; reporting the current one is harmless).
		if db == "" {
			db = w.db
		}
		if db != "" {
			w.st.Schemas = w.addString(w.st.Schemas, "schema", db)
		}
	}
	if n.Procedure != nil {
		// ShowStmt.Accept does not visit Procedure.
		w.seen[n.Procedure] = false
		schema := n.Procedure.Schema.L
		if schema == "" {
			schema = db
		}
		w.st.Routines = w.addTable(w.st.Routines, w.qualify(schema, n.Procedure.Name.L))
	}
	if n.ShowProfileLimit != nil {
		// Not visited by ShowStmt.Accept either; it holds only numbers.
		n.ShowProfileLimit.Accept(w)
	}
}
