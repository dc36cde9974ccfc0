package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/sso"
)

// rrProxy is the proxy under test, run from a binary built from this
// tree, with a policy a customer could have written: several groups,
// masked and withheld columns, an identity provider, audit in its
// default (batch) durability mode.
type rrProxy struct {
	addr   string
	admin  string // metrics and /debug/pprof
	cmd    *exec.Cmd
	idp    *mockoidc.MockOIDC
	ssoPW  string // an issued password for ssoUser
	dir    string
	logErr string
}

func (r *rrProxy) pid() int { return r.cmd.Process.Pid }

func (r *rrProxy) close() {
	if r.idp != nil {
		_ = r.idp.Shutdown()
	}
}

const benchPolicy = `# The benchmark's policy: the shape of a real one (several groups,
# masks, a withheld column, an identity provider), generated per run.
pseudonym_key: {from_file: pseudonym.key}

users:
  bench:
    description: BI service login the benchmark runs as
    password: "%s"
    groups: [analysts]
  alice:
    password: "%s"
    groups: [data-managers]
  bob:
    password: "%s"
    groups: [site-monitors]

groups:
  analysts:
    description: Dashboards over the sysbench tables and the observations table.
  data-managers:
    description: Everything in trial.
  site-monitors:
    statements: [select, show, describe, use, set, transaction]
    limits:
      max_rows: 50000
      max_execution_time: 60s
  biostatistics:
    limits:
      max_execution_time: 10m

rules:
  - id: analytics
    to: [group:analysts]
    allow: [sbtest.*, trial.observations]
    mask_columns:
      - {column: sbtest.*.pad, with: null}
      - {column: trial.observations.investigator, with: fixed, value: "(withheld)"}
  - id: data-management
    to: [group:data-managers]
    allow: [trial.*]
  - id: monitoring
    to: [group:site-monitors]
    allow: [trial.observations]
    mask_columns:
      - {column: trial.observations.subject_id, with: pseudonym}
  - id: biostatistics
    to: [group:biostatistics]
    allow: [trial.*, sbtest.*]
    mask_columns:
      - {column: trial.observations.subject_id, with: pseudonym}
  - id: treatment-blinding
    to: ["*"]
    deny_columns: [trial.observations.treatment_arm]

identity_providers:
  corp:
    issuer: %s
    audiences: [%s]
    groups:
      clinical-analytics: [analysts]
      clinical-data-management: [data-managers]
    credential_lifetime: 12h
`

const benchConfig = `listen: %s
tls:
  cert: %s
  key: %s
  require: false
upstream:
  address: %s
  user: {from_env: RRBENCH_UPSTREAM_USER}
  password: {from_env: RRBENCH_UPSTREAM_PASSWORD}
  tls: {mode: disabled}
  pool:
    max_open: 2300
    max_idle: 2300
    wait_timeout: 10s
limits:
  max_connections: 2500
policy: policy.yaml
audit:
  path: audit/rrproxy-audit.jsonl
  sync: batch
sso:
  listen: %s
  key: {from_file: sso.key}
  store: sso-store
  clients:
    - issuer: %s
      client_id: %s
      client_secret: {from_env: RRBENCH_IDP_SECRET}
metrics:
  listen: %s
  pprof: true
log:
  level: warn
`

func startRRProxy(ctx context.Context, g *procGroup, work, bin, certs string, db *mariaDB) (*rrProxy, error) {
	r := &rrProxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort()), admin: fmt.Sprintf("127.0.0.1:%d", freePort()), dir: filepath.Join(work, "rrproxy.d")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	idp, err := mockoidc.Run()
	if err != nil {
		return nil, fmt.Errorf("mock IdP: %w", err)
	}
	r.idp = idp

	hash, err := authz.HashPassword(benchPW)
	if err != nil {
		return nil, err
	}
	pol := fmt.Sprintf(benchPolicy, hash, hash, hash, idp.Issuer(), idp.ClientID)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ssoKey := sso.NewKeyHex()
	cfg := fmt.Sprintf(benchConfig, r.addr, filepath.Join(certs, "server.pem"), filepath.Join(certs, "server-key.pem"), db.addr(),
		fmt.Sprintf("127.0.0.1:%d", freePort()), idp.Issuer(), idp.ClientID, r.admin)
	for name, text := range map[string]string{"policy.yaml": pol, "rrproxy.yaml": cfg, "pseudonym.key": hex.EncodeToString(key), "sso.key": ssoKey} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}

	// An issued password, as the sign-in page would hand out: the
	// storm logs in with it like a person who signed in with the IdP.
	k, err := sso.ParseKey([]byte(ssoKey))
	if err != nil {
		return nil, err
	}
	store, err := sso.OpenStore(filepath.Join(r.dir, "sso-store"), k)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	r.ssoPW, err = store.Issue(&sso.Credential{Kind: sso.KindSession, User: ssoUser, Issuer: idp.Issuer(), Subject: "sub-jane",
		Claims:  map[string]any{"iss": idp.Issuer(), "sub": "sub-jane", "email": ssoUser, "email_verified": true, "groups": []any{"clinical-analytics"}},
		Created: now, Expires: now.Add(12 * time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("issue an SSO password: %w", err)
	}

	r.logErr = filepath.Join(r.dir, "rrproxy.log")
	logf, err := os.Create(r.logErr)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "serve", "-config", filepath.Join(r.dir, "rrproxy.yaml"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.Env = append(os.Environ(), "RRBENCH_UPSTREAM_USER="+roUser, "RRBENCH_UPSTREAM_PASSWORD="+roPassword,
		"RRBENCH_IDP_SECRET="+idp.ClientSecret)
	if err := g.start(r.cmd); err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, r.addr, 20*time.Second); err != nil {
		b, _ := os.ReadFile(r.logErr)
		return nil, fmt.Errorf("rrproxy: %w\n%s", err, b)
	}
	return r, nil
}
