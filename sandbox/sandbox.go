package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
)

// versionComment replaces GMS's default @@version_comment ("Dolt"), so that
// a demo user running `mysql` against the proxy sees what is really behind it.
const versionComment = "rrproxy sandbox (go-mysql-server)"

// Upstream is a running sandbox server. Fields are read-only.
type Upstream struct {
	Addr     string // "127.0.0.1:<port>", loopback only
	User     string // always ServiceUser
	Password string // random per Start; never logged (see LogValue)

	log    *slog.Logger
	engine *sqle.Engine
	srv    *server.Server
	ln     *trackingListener
	served chan struct{} // closed when the accept loop has returned

	closeOnce sync.Once
	closeErr  error
}

// Start loads the sample data into a fresh in-memory server and starts
// serving it on a random loopback port. ctx bounds the start-up only; the
// server runs until Close.
func Start(ctx context.Context, log *slog.Logger) (*Upstream, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routeLogs(log)

	pro := memory.NewDBProvider()
	// Native primary-key indexes: foreign keys need them, and point lookups
	// by key then plan as they would on MySQL.
	pro.WithOption(memory.NativeIndexProvider(true))
	engine := sqle.NewDefault(pro)
	if err := load(ctx, engine, pro); err != nil {
		return nil, errors.Join(err, closeEngine(engine))
	}
	password, err := newPassword()
	if err != nil {
		return nil, errors.Join(err, closeEngine(engine))
	}
	// After the data is loaded: with the privilege system on, the loader
	// itself would need an account.
	addServiceAccount(engine.Analyzer.Catalog.MySQLDb, password)

	var lc net.ListenConfig
	raw, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sandbox: listen: %w", err), closeEngine(engine))
	}
	ln := newTrackingListener(raw)
	srv, err := server.NewServer(server.Config{
		Protocol: "tcp",
		Address:  raw.Addr().String(),
		Listener: ln,
		// Loopback clients only, and no TLS here: the proxy in front
		// is where TLS terminates.
		ProtocolListenerFactory: nativeOnlyListener,
	}, engine, sql.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		ln.closeAll()
		return nil, errors.Join(fmt.Errorf("sandbox: new server: %w", err), closeEngine(engine))
	}

	u := &Upstream{
		Addr:     raw.Addr().String(),
		User:     ServiceUser,
		Password: password,
		log:      log,
		engine:   engine,
		srv:      srv,
		ln:       ln,
		served:   make(chan struct{}),
	}
	go u.serve()
	log.Info("sandbox upstream listening", "upstream", u)
	return u, nil
}

// serve runs the GMS accept loop; the listener is already bound, so clients
// can connect as soon as Start returns, even before this goroutine runs.
func (u *Upstream) serve() {
	defer close(u.served)
	if err := u.srv.Start(); err != nil {
		u.log.Error("sandbox upstream stopped", "err", err)
	}
}

// Close stops accepting, closes open client connections, waits for their
// handlers to finish and releases the engine. The port is free when it
// returns. Close is idempotent and safe to call concurrently.
func (u *Upstream) Close() error {
	u.closeOnce.Do(func() {
		_ = u.srv.Close() // always nil; closes the listener
		<-u.served
		u.ln.closeAll()
		u.closeErr = closeEngine(u.engine)
		u.log.Info("sandbox upstream closed", "addr", u.Addr)
	})
	return u.closeErr
}

// closeEngine stops the engine's background threads. Engine.Close reports
// the context.Canceled it uses to stop them even on success; that is not an
// error.
func closeEngine(e *sqle.Engine) error {
	if err := e.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sandbox: close engine: %w", err)
	}
	return nil
}

// LogValue keeps the password out of logs when an Upstream is logged whole.
func (u *Upstream) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", u.Addr),
		slog.String("user", u.User),
		slog.String("password", "[redacted]"),
	)
}

// load creates the schemas and inserts the sample rows through the SQL
// engine, as an anonymous session: the privilege system is still off.
func load(ctx context.Context, engine *sqle.Engine, pro *memory.DbProvider) error {
	if err := sql.SystemVariables.AssignValues(map[string]any{
		"version_comment": versionComment,
		// GMS defaults to "", which lets SELECT ... INTO OUTFILE and LOAD
		// DATA INFILE touch any path the process can. Nothing can lie
		// under /dev/null, so file access is refused outright (MySQL's
		// NULL, which this variable's GMS type cannot hold).
		"secure_file_priv": os.DevNull,
	}); err != nil {
		return fmt.Errorf("sandbox: set server variables: %w", err)
	}
	sctx := sql.NewContext(ctx, sql.WithSession(memory.NewSession(sql.NewBaseSession(), pro)))
	for _, db := range grantedSchemas {
		if err := execSQL(sctx, engine, "CREATE DATABASE "+db); err != nil {
			return err
		}
	}
	// The DDL qualifies table names but, as a dump would, leaves foreign
	// key references relative to the current database.
	sctx.SetCurrentDatabase("study")
	for _, stmt := range append(append([]string{}, schema...), sampleData().inserts...) {
		if err := execSQL(sctx, engine, stmt); err != nil {
			return err
		}
	}
	return nil
}

func execSQL(ctx *sql.Context, engine *sqle.Engine, stmt string) error {
	_, iter, _, err := engine.Query(ctx, stmt)
	if err != nil {
		return fmt.Errorf("sandbox: load %.40q: %w", stmt, err)
	}
	// Draining and closing the iterator is what commits the statement.
	if _, err := sql.RowIterToRows(ctx, iter); err != nil {
		return fmt.Errorf("sandbox: load %.40q: %w", stmt, err)
	}
	return nil
}
