package main

import (
	"context"
	"net/http"

	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"
	"net"
	"net/http/pprof"
	"os"
	"runtime"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/config"
	"github.com/rrproxy/rrproxy/internal/cpusched"
	"github.com/rrproxy/rrproxy/internal/gcfloor"
	"github.com/rrproxy/rrproxy/proxy"
)

// loadConfig parses a subcommand's -config flag and loads that file.
func loadConfig(name string, args []string) (*config.Server, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "rrproxy.yaml", "path to rrproxy.yaml")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return config.Load(*path)
}

func cmdServe(ctx context.Context, args []string) error {
	cfg, err := loadConfig("serve", args)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	return run(ctx, cfg, log, nil)
}

func cmdCheck(args []string) error {
	cfg, err := loadConfig("check", args)
	if err != nil {
		return err
	}
	if err := cfg.CheckFiles(); err != nil {
		return err
	}
	p, err := authz.Load(cfg.Policy)
	if err != nil {
		return err
	}
	fmt.Printf("%s: ok\n%s: ok (policy version %s)\n", cfg.File, cfg.Policy, p.Version)
	return nil
}

// run wires the packages together and serves until ctx ends. ready, if
// set, receives the listening address.
func run(ctx context.Context, cfg *config.Server, log *slog.Logger, ready func(net.Addr)) (err error) {
	if err := cfg.CheckFiles(); err != nil {
		return err
	}
	if cfg.CPUScheduling == "batch" {
		// A performance setting, not a security one: without it rrproxy
		// runs as any process does, so a refusal is only logged.
		if err := cpusched.Batch(); err != nil {
			log.Warn("cpu_scheduling: batch not applied; threads keep the normal policy", "err", err)
		}
	}
	// Also a performance setting; Stop gives an embedding process (the
	// demo, tests) its own GOGC back.
	defer gcfloor.Start(cfg.GCHeapFloor()).Stop()
	pol, err := authz.Load(cfg.Policy)
	if err != nil {
		return err
	}
	pol.SetLoginCacheTTL(cfg.LoginCacheTTL()) // Store.Reload carries it to reloaded policies
	store := authz.NewStore(pol)
	user, err := cfg.Upstream.User.Resolve()
	if err != nil {
		return fmt.Errorf("upstream.user: %w", err)
	}
	password, err := cfg.Upstream.Password.Resolve()
	if err != nil {
		return fmt.Errorf("upstream.password: %w", err)
	}
	upTLS, err := upstreamTLS(cfg.Upstream)
	if err != nil {
		return err
	}
	clientTLS, err := serverTLS(cfg.TLS)
	if err != nil {
		return err
	}
	audit, err := openAudit(cfg.Audit)
	if err != nil {
		return err
	}
	defer func() {
		// A log that cannot be synced or finished at the end is a
		// failure to audit: said, and the exit status says it too.
		if cerr := audit.Close(); cerr != nil {
			log.Error("the audit log could not be closed cleanly", "err", cerr)
			err = errors.Join(err, fmt.Errorf("audit log: %w", cerr))
		}
	}()

	pool := proxy.NewPool(proxy.UpstreamConfig{
		Addr: cfg.Upstream.Address, User: user.Reveal(), Password: password.Reveal(), TLS: upTLS,
		ConnectTimeout: cfg.Upstream.ConnectTimeout, MaxOpen: cfg.Upstream.Pool.MaxOpen, MaxIdle: cfg.Upstream.Pool.MaxIdle,
		WaitTimeout: cfg.Upstream.Pool.WaitTimeout, MaxLifetime: cfg.Upstream.Pool.MaxLifetime, IdleTimeout: cfg.Upstream.Pool.IdleTimeout,
		CheckSQLMode: authz.CheckUpstreamSQLMode,
	}, log)
	var metrics *proxy.Metrics
	if cfg.Metrics.Listen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		metrics = proxy.NewMetrics(reg)
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		hs := &http.Server{Handler: adminHandler(reg, cfg.Metrics.Pprof), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(mln) }()
		defer hs.Close()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	pcfg := proxy.Config{
		TLS: clientTLS, RequireTLS: cfg.RequireTLS(), HandshakeTimeout: cfg.Timeouts.Handshake,
		IdleTimeout: cfg.Timeouts.Idle, MaxConnections: cfg.Limits.MaxConnections, MaxPacket: cfg.MaxPacket(),
		RedactLiterals: cfg.Audit.RedactLiterals, Metrics: metrics, ProxyProtocolFrom: cfg.ProxyProtocolFrom(),
		HandshakesPerAddress: cfg.HandshakesPerAddress(),
	}
	pcfg.LoginFailures.PerUser, pcfg.LoginFailures.PerAddress, pcfg.LoginFailures.Window = cfg.LoginFailureLimits()
	if cfg.SSO.Listen != "" {
		svc, err := startSSO(ctx, cfg, clientTLS, store, audit, log)
		if err != nil {
			return err
		}
		pcfg.SSO = svc
	}
	srv, err := proxy.New(pcfg, store, audit, pool, log)
	if err != nil {
		return err
	}
	// Learn the upstream's version (announced to clients) and fail loudly
	// on bad credentials; an unreachable replica is not fatal, it may come
	// up after the proxy.
	if err := pool.Warm(ctx); err != nil {
		log.Error("upstream not reachable at start; clients will be refused until it is", "addr", cfg.Upstream.Address, "err", err)
	}
	ln, err := proxy.Listen(ctx, cfg.Listen)
	if err != nil {
		return err
	}
	cfgHash := ""
	if data, err := os.ReadFile(cfg.File); err == nil {
		sum := sha256.Sum256(data)
		cfgHash = hex.EncodeToString(sum[:])
	}
	if _, err := audit.Record(&auditlog.Event{Action: "proxy-start", Outcome: "success", Policy: pol.Version,
		ConfigHash: cfgHash, Reason: "version " + version()}); err != nil {
		ln.Close()
		return err
	}
	log.Info("rrproxy listening", "addr", ln.Addr().String(), "upstream", cfg.Upstream.Address,
		"upstream_version", pool.ServerVersion(), "policy_version", pol.Version, "require_tls", cfg.RequireTLS(), "login_cache", cfg.LoginCacheTTL(),
		"login_failures_per_user", pcfg.LoginFailures.PerUser, "login_failures_per_address", pcfg.LoginFailures.PerAddress, "login_failures_window", pcfg.LoginFailures.Window,
		"proxy_protocol_from", cfg.ProxyProtocol.From, "max_handshakes_per_address", pcfg.HandshakesPerAddress)
	defer watchPolicy(ctx, store, cfg.Policy, audit, log)() // SIGHUP or an edit reloads policy.yaml; stops before audit.Close
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln, nil) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", cfg.Timeouts.Shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeouts.Shutdown)
	defer cancel()
	forced, _ := srv.Shutdown(sctx)
	if forced > 0 {
		log.Warn("sessions cut at shutdown deadline", "count", forced)
	}
	// The stop names what stopped, as the start does: the version, the
	// configuration and the policy in force at the end.
	stop := &auditlog.Event{Action: "proxy-stop", Outcome: "success", Policy: store.Current().Version,
		ConfigHash: cfgHash, Reason: "version " + version()}
	if forced > 0 {
		stop.Reason += fmt.Sprintf("; %d sessions cut at the shutdown deadline", forced)
	}
	if _, err := audit.Record(stop); err != nil {
		log.Error("the proxy-stop record could not be written", "err", err)
	}
	return <-errc
}

func serverTLS(t config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	minV := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		minV = tls.VersionTLS13
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV}, nil
}

func upstreamTLS(u config.Upstream) (*tls.Config, error) {
	mode := u.TLS.Mode
	if mode == "disabled" {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(u.Address)
	if u.TLS.ServerName != "" {
		host = u.TLS.ServerName
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if mode == "required" {
		c.InsecureSkipVerify = true // encryption without identity, as --ssl-mode=REQUIRED
		return c, nil
	}
	pem, err := os.ReadFile(u.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("upstream.tls.ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("upstream.tls.ca: %s holds no PEM certificate", u.TLS.CA)
	}
	c.RootCAs = roots
	if mode == "verify-ca" {
		// Check the chain, not the name: replicas are often reached
		// through an address the certificate does not list.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: time.Now()})
			return err
		}
	}
	return c, nil
}

// openAudit opens the audit chain that rrproxy.yaml describes.
func openAudit(a config.Audit) (*auditlog.Writer, error) {
	o := auditlog.Options{Path: a.Path, Sync: a.Sync, SyncInterval: a.SyncInterval, Instance: a.Instance,
		RotateBytes: int64(a.RotateMB) << 20, RotateEvery: a.RotateEvery,
		CheckpointEvery: a.CheckpointEvery, CheckpointInterval: a.CheckpointInterval, CheckpointCopy: a.CheckpointCopy}
	if a.CheckpointKey != "" {
		k, err := auditlog.LoadPrivateKey(a.CheckpointKey)
		if err != nil {
			return nil, fmt.Errorf("audit.checkpoint_key: %w", err)
		}
		o.CheckpointKey = k
	}
	return auditlog.OpenChain(o)
}

// adminHandler serves the metrics listener: GET /metrics, and with
// withPprof Go's profiler under /debug/pprof/ (mutex profiling on too).
func adminHandler(reg *prometheus.Registry, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		runtime.SetMutexProfileFraction(100)
	}
	return mux
}
