// Command rrproxy is an authenticating, policy-enforcing, auditing MySQL
// protocol proxy for read replicas. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `rrproxy: named logins, per-person read policy and an audit trail in front
of a MySQL or MariaDB read replica shared through one service account.

Usage:
  rrproxy demo   [-listen 127.0.0.1:3307] [-dir DIR]
        Start a sandbox: an embedded clinical-trial database, dev TLS
        certificates, the example policy.yaml, and rrproxy in front of it.
        Prints ready-to-paste connect lines. Ctrl-C stops it.
  rrproxy serve  -config rrproxy.yaml
        Run the proxy for real (see rrproxy.yaml for every setting).
  rrproxy check  -config rrproxy.yaml
        Validate rrproxy.yaml and the policy it names, then exit.
  rrproxy policy check|explain|test|schema
        Validate policy.yaml and print who can read what; explain one
        decision (-user U [-db D] "SQL"); run policy regression tests
        (policy-tests.yaml); print the JSON Schema for editors.
  rrproxy audit  verify|search|export|report [flags] PATH...
        Check the audit log's hash chain and signatures; find records
        (-user, -from, -to, -table, -decision, -text ...); export them as
        CSV or JSON with the verification result; write an HTML report
        for reviewers. "rrproxy audit" alone lists the flags.
  rrproxy passwd [-native]
        Read a password without echo (or from stdin when not a terminal)
        and print the argon2id hash line for a local account in
        policy.yaml. -native also prints the weaker mysql_native_password
        hash for clients that cannot do anything else.
  rrproxy login  -url https://rrproxy.example.com:8443 [-write ~/.my.cnf]
        Sign in with the company identity provider from a terminal (device
        flow) and get a database password; -write makes a mariadb/mysql
        option file (0600), -dsn prints a DSN.
  rrproxy sso    list|revoke|keygen
        Single sign-on credentials: list issued and app passwords; revoke
        a person's (USER) or one (-id ID), effective at their sessions'
        next statement; print a new sso.key.
  rrproxy certs  [-dir certs] [-host NAME ...]
        Create a development CA and a server certificate (not for
        production: use your organisation's CA there).
  rrproxy version
        Print the version.
  rrproxy help
        Print this help.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "demo":
		err = cmdDemo(ctx, args)
	case "serve":
		err = cmdServe(ctx, args)
	case "check":
		err = cmdCheck(args)
	case "policy":
		err = cmdPolicy(args, os.Stdout)
	case "audit":
		err = cmdAudit(args, os.Stdout)
	case "passwd":
		err = cmdPasswd(args, os.Stdin, os.Stdout)
	case "sso":
		err = ssoCmd(args, os.Stdout)
	case "login":
		err = cmdLogin(ctx, args, os.Stdout, os.Stderr)
	case "certs":
		err = cmdCerts(args)
	case "version", "-version", "--version":
		fmt.Println("rrproxy", version())
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "rrproxy: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "rrproxy %s: %v\n", cmd, err)
		}
		os.Exit(1)
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
