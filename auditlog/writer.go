package auditlog

import (
	"time"
)

// Event is one audit record. Field names follow the Elastic Common Schema
// so that SIEMs ingest the file as is.
type Event struct {
	Seq           uint64    `json:"event.sequence"`
	Time          time.Time `json:"@timestamp"`
	Action        string    `json:"event.action"`            // connect, login, statement, disconnect, ...
	Outcome       string    `json:"event.outcome,omitempty"` // success, failure, unknown (intent)
	Phase         string    `json:"rrproxy.phase,omitempty"` // intent | outcome for statements
	User          string    `json:"user.name,omitempty"`
	Source        string    `json:"source.address,omitempty"`
	SourceIP      string    `json:"source.ip,omitempty"`
	SourcePort    int       `json:"source.port,omitempty"`
	IDSource      string    `json:"rrproxy.identity_source,omitempty"` // local, or the OIDC issuer
	Groups        []string  `json:"user.roles,omitempty"`
	Subject       string    `json:"user.id,omitempty"`               // single sign-on: the IdP's subject
	Credential    string    `json:"rrproxy.credential_id,omitempty"` // single sign-on: the issued password used
	Cipher        string    `json:"tls.cipher,omitempty"`
	Host          string    `json:"host.name,omitempty"`
	SessionID     uint32    `json:"rrproxy.session_id,omitempty"`
	Upstream      uint32    `json:"rrproxy.upstream_connection_id,omitempty"`
	TLS           string    `json:"tls.version,omitempty"`
	Client        string    `json:"user_agent.name,omitempty"`    // the client program and its driver, from the connection attributes: "mysql (libmariadb)"
	ClientVersion string    `json:"user_agent.version,omitempty"` // the driver's version (connection attribute _client_version)
	Via           string    `json:"rrproxy.via,omitempty"`        // the load balancer that relayed the connection (PROXY protocol); Source is then the client it named
	Database      string    `json:"rrproxy.database,omitempty"`
	Command       string    `json:"rrproxy.command,omitempty"`
	Statement     string    `json:"rrproxy.statement,omitempty"`
	Digest        string    `json:"rrproxy.statement_digest,omitempty"`    // same for statements that differ only in literals
	Parameters    []string  `json:"rrproxy.parameters,omitempty"`          // values bound at EXECUTE, as SQL literals
	Rewritten     string    `json:"rrproxy.rewritten_statement,omitempty"` // what was sent upstream instead
	Shadow        string    `json:"rrproxy.shadow,omitempty"`              // what shadow-mode rules would have done
	Kinds         []string  `json:"rrproxy.statement_kinds,omitempty"`
	Tables        []string  `json:"rrproxy.tables,omitempty"`
	Columns       []string  `json:"rrproxy.columns,omitempty"` // schema.table.column (a bare name where the analyser could not tie it to a table; schema.table.* for a table read whole)
	Rule          string    `json:"rule.id,omitempty"`
	Policy        string    `json:"rrproxy.policy_version,omitempty"`
	PolicyPrev    string    `json:"rrproxy.policy_previous_version,omitempty"` // policy-reload: the version it replaced
	Reason        string    `json:"event.reason,omitempty"`
	Rows          int64     `json:"rrproxy.rows,omitempty"`
	Bytes         int64     `json:"rrproxy.bytes,omitempty"`
	Duration      int64     `json:"event.duration,omitempty"` // nanoseconds, as ECS
	ErrorCode     uint16    `json:"error.code,omitempty"`
	ErrorMsg      string    `json:"error.message,omitempty"` // the server's (or rrproxy's) error message, as the client received it
	IntentSeq     uint64    `json:"rrproxy.intent_sequence,omitempty"`
	Statements    int64     `json:"rrproxy.statements,omitempty"` // disconnect: statements and commands the session ran (refusals are counted by their own records)

	// Origin, if set, supplies the origin members (see NewOrigin)
	// already encoded, and this event's own values for them are ignored.
	Origin *Origin `json:"-"`

	// Set by the writer for its own records (docs/audit-format.md).
	Instance         string `json:"rrproxy.instance,omitempty"`
	ConfigHash       string `json:"rrproxy.config_sha256,omitempty"` // proxy-start: the rrproxy.yaml in force
	FilePrevious     string `json:"rrproxy.file.previous,omitempty"`
	FilePreviousLast uint64 `json:"rrproxy.file.previous_last_sequence,omitempty"`
	CheckpointSeq    uint64 `json:"rrproxy.checkpoint.sequence,omitempty"`
	CheckpointHash   string `json:"rrproxy.checkpoint.hash,omitempty"`
	CheckpointKeyID  string `json:"rrproxy.checkpoint.key_id,omitempty"`
	CheckpointSig    string `json:"rrproxy.checkpoint.signature,omitempty"`
}

// Sync modes.
const (
	SyncAlways = "always" // fsync after every record, before Record returns
	SyncBatch  = "batch"  // staged before Record returns, in the log within batchWindow (one write for all records of the window) and on disk within SyncInterval more (one fdatasync)
	SyncNone   = "none"   // staged and flushed like batch, never synced: the OS decides
)
