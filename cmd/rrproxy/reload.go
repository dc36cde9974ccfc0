package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

// policyPoll is how often the policy file is checked for a change. A
// variable so that tests need not wait two seconds for each edit.
var policyPoll = 2 * time.Second

// auditRecorder is the part of *auditlog.Writer the reload reporter uses.
type auditRecorder interface {
	Record(*auditlog.Event) (uint64, error)
}

// watchPolicy reloads file into store on SIGHUP and whenever its content
// changes, logging and auditing every attempt. It returns a stop function
// that ends the watcher and waits for it; call it before the audit log is
// closed.
func watchPolicy(ctx context.Context, store *authz.Store, file string, audit auditRecorder, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Watch(ctx, file, policyPoll, hup, policyReloadReporter(store, file, audit, log))
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// policyReloadReporter logs and audits one reload attempt: the new
// version in force, or why the previous one still is.
func policyReloadReporter(store *authz.Store, file string, audit auditRecorder, log *slog.Logger) func(*authz.Policy, error) {
	inForce := store.Current().Version
	return func(p *authz.Policy, err error) {
		ev := &auditlog.Event{Action: "policy-reload"}
		if err != nil {
			// Every problem found, each as file:line.
			log.Error("policy reload failed; previous policy still in force", "file", file, "policy_version", inForce, "err", err)
			ev.Outcome, ev.Policy, ev.Reason = "failure", inForce, err.Error()
		} else {
			log.Info("policy reloaded", "file", file, "policy_version", p.Version, "previous_version", inForce)
			ev.Outcome, ev.Policy, ev.PolicyPrev, ev.Reason = "success", p.Version, inForce, "replaced version "+inForce
			inForce = p.Version
		}
		if _, aerr := audit.Record(ev); aerr != nil {
			log.Error("audit log write failed for policy reload", "err", aerr)
		}
	}
}
