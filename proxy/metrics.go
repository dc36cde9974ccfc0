package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus series. An operator alerts on
// rrproxy_audit_write_failures_total: while the audit log cannot be
// written, every statement is refused.
type Metrics struct {
	AuditFailures prometheus.Counter
	Statements    *prometheus.CounterVec // by decision: allowed, denied, hidden
	Logins        *prometheus.CounterVec // by outcome
	Sessions      prometheus.Gauge

	// The two statement series, resolved once: looking a label up costs
	// a hash per statement.
	allowed, denied prometheus.Counter
}

// NewMetrics registers the proxy's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		AuditFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "rrproxy_audit_write_failures_total",
			Help: "Audit records that could not be written; the statement or connection they announced was refused."}),
		Statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rrproxy_statements_total",
			Help: "Statements and commands decided, by decision."}, []string{"decision"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rrproxy_logins_total",
			Help: "Login attempts, by outcome."}, []string{"outcome"}),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rrproxy_sessions",
			Help: "Client sessions open now."}),
	}
	reg.MustRegister(m.AuditFailures, m.Statements, m.Logins, m.Sessions)
	m.allowed, m.denied = m.Statements.WithLabelValues("allowed"), m.Statements.WithLabelValues("denied")
	return m
}
