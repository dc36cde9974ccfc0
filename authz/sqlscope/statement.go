package sqlscope

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// classify gives a statement's Kind and whether that kind is read-only.
// The walk may still clear ReadOnly or turn the Kind into KindOther.
func classify(s ast.StmtNode) (Kind, bool) {
	switch n := s.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return KindSelect, true
	case *ast.ShowStmt:
		return KindShow, true
	case *ast.ExplainStmt:
		if show, ok := n.Stmt.(*ast.ShowStmt); ok && show.Tp == ast.ShowColumns {
			return KindDescribe, true
		}
		return KindExplain, true // ReadOnly is then taken from the inner statement
	case *ast.UseStmt:
		return KindUse, true
	case *ast.SetStmt:
		return KindSet, true // SET GLOBAL clears ReadOnly in the walk
	case *ast.BeginStmt:
		return KindBegin, true
	case *ast.CommitStmt:
		return KindCommit, true
	case *ast.RollbackStmt:
		return KindRollback, true
	case *ast.SavepointStmt:
		return KindSavepoint, true
	case *ast.ReleaseSavepointStmt:
		return KindRelease, true
	case *ast.DoStmt:
		return KindDo, true
	case *ast.HelpStmt:
		return KindHelp, true
	case *ast.SetRoleStmt:
		return KindSetRole, true // changes the session's privileges only
	case *ast.UnlockTablesStmt:
		return KindUnlock, true

	case *ast.KillStmt:
		return KindKill, false // acts on another session
	case *ast.DeallocateStmt:
		return KindDeallocate, false
	case *ast.InsertStmt:
		if n.IsReplace {
			return KindReplace, false
		}
		return KindInsert, false
	case *ast.UpdateStmt:
		return KindUpdate, false
	case *ast.DeleteStmt:
		return KindDelete, false
	case *ast.CreateTableStmt, *ast.CreateDatabaseStmt, *ast.CreateIndexStmt,
		*ast.CreateViewStmt, *ast.CreateUserStmt, *ast.CreateSequenceStmt:
		return KindCreate, false
	case *ast.DropTableStmt, *ast.DropDatabaseStmt, *ast.DropIndexStmt,
		*ast.DropUserStmt, *ast.DropSequenceStmt, *ast.DropProcedureStmt:
		return KindDrop, false
	case *ast.AlterTableStmt, *ast.AlterDatabaseStmt, *ast.AlterUserStmt,
		*ast.AlterSequenceStmt, *ast.AlterInstanceStmt:
		return KindAlter, false
	case *ast.RenameTableStmt, *ast.RenameUserStmt:
		return KindRename, false
	case *ast.TruncateTableStmt:
		return KindTruncate, false
	case *ast.GrantStmt, *ast.GrantRoleStmt, *ast.GrantProxyStmt:
		return KindGrant, false
	case *ast.RevokeStmt, *ast.RevokeRoleStmt:
		return KindRevoke, false
	case *ast.SetPwdStmt:
		return KindSetPassword, false
	case *ast.SetDefaultRoleStmt:
		return KindSetDefaultRole, false
	case *ast.LoadDataStmt:
		return KindLoad, false
	case *ast.LockTablesStmt:
		return KindLock, false
	case *ast.FlushStmt:
		return KindFlush, false
	case *ast.PrepareStmt:
		return KindPrepare, false // dynamic SQL: its text is not analysed
	case *ast.ExecuteStmt:
		return KindExecute, false
	case *ast.CallStmt:
		return KindCall, false
	case *ast.AnalyzeTableStmt:
		return KindAnalyze, false
	case *ast.ShutdownStmt:
		return KindShutdown, false
	}
	return KindOther, false
}
