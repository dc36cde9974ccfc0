package auditlog

import (
	"fmt"
	"slices"
	"strconv"
)

// encodeMembers writes e's members (all but the chain members, which are
// added under the writer's lock) in canonical order: sorted by name,
// empty ones left out. It is written out member by member rather than
// walked by reflection because it runs twice per statement;
// TestEncodeMembersMatchesJSON checks it against encoding/json and the
// canonical form for every member of Event, so a member added to Event
// and not here fails the tests.
//
// With e.Origin set, the origin members come from it, already encoded,
// and e's own values for them are ignored.
func encodeMembers(pr *prepared, e *Event) error {
	x := encoder{pr: pr, buf: pr.buf[:0]}
	own := e.Origin == nil
	if e.ErrorCode != 0 {
		x.uint("error.code", `"error.code":`, uint64(e.ErrorCode))
	}
	x.str("event.action", `"event.action":`, e.Action)
	if e.Duration != 0 {
		x.int("event.duration", `"event.duration":`, e.Duration)
	}
	if e.Outcome != "" {
		x.str("event.outcome", `"event.outcome":`, e.Outcome)
	}
	if e.Reason != "" {
		x.str("event.reason", `"event.reason":`, e.Reason)
	}
	if own && e.Host != "" {
		x.str("host.name", `"host.name":`, e.Host)
	}
	if e.Bytes != 0 {
		x.int("rrproxy.bytes", `"rrproxy.bytes":`, e.Bytes)
	}
	if e.CheckpointHash != "" {
		x.str("rrproxy.checkpoint.hash", `"rrproxy.checkpoint.hash":`, e.CheckpointHash)
	}
	if e.CheckpointKeyID != "" {
		x.str("rrproxy.checkpoint.key_id", `"rrproxy.checkpoint.key_id":`, e.CheckpointKeyID)
	}
	if e.CheckpointSeq != 0 {
		x.uint("rrproxy.checkpoint.sequence", `"rrproxy.checkpoint.sequence":`, e.CheckpointSeq)
	}
	if e.CheckpointSig != "" {
		x.str("rrproxy.checkpoint.signature", `"rrproxy.checkpoint.signature":`, e.CheckpointSig)
	}
	if e.Command != "" {
		x.str("rrproxy.command", `"rrproxy.command":`, e.Command)
	}
	if e.ConfigHash != "" {
		x.str("rrproxy.config_sha256", `"rrproxy.config_sha256":`, e.ConfigHash)
	}
	if own && e.Credential != "" {
		x.str("rrproxy.credential_id", `"rrproxy.credential_id":`, e.Credential)
	}
	if e.Database != "" {
		x.str("rrproxy.database", `"rrproxy.database":`, e.Database)
	}
	if e.FilePrevious != "" {
		x.str("rrproxy.file.previous", `"rrproxy.file.previous":`, e.FilePrevious)
	}
	if e.FilePreviousLast != 0 {
		x.uint("rrproxy.file.previous_last_sequence", `"rrproxy.file.previous_last_sequence":`, e.FilePreviousLast)
	}
	if own && e.IDSource != "" {
		x.str("rrproxy.identity_source", `"rrproxy.identity_source":`, e.IDSource)
	}
	if e.Instance != "" {
		x.str("rrproxy.instance", `"rrproxy.instance":`, e.Instance)
	}
	if e.IntentSeq != 0 {
		x.uint("rrproxy.intent_sequence", `"rrproxy.intent_sequence":`, e.IntentSeq)
	}
	if len(e.Parameters) > 0 {
		x.strs("rrproxy.parameters", `"rrproxy.parameters":`, e.Parameters)
	}
	if e.Phase != "" {
		x.str("rrproxy.phase", `"rrproxy.phase":`, e.Phase)
	}
	if e.Policy != "" {
		x.str("rrproxy.policy_version", `"rrproxy.policy_version":`, e.Policy)
	}
	if e.Rewritten != "" {
		x.str("rrproxy.rewritten_statement", `"rrproxy.rewritten_statement":`, e.Rewritten)
	}
	if e.Rows != 0 {
		x.int("rrproxy.rows", `"rrproxy.rows":`, e.Rows)
	}
	if own && e.SessionID != 0 {
		x.uint("rrproxy.session_id", `"rrproxy.session_id":`, uint64(e.SessionID))
	}
	if e.Shadow != "" {
		x.str("rrproxy.shadow", `"rrproxy.shadow":`, e.Shadow)
	}
	if e.Statement != "" {
		x.str("rrproxy.statement", `"rrproxy.statement":`, e.Statement)
	}
	if e.Digest != "" {
		x.str("rrproxy.statement_digest", `"rrproxy.statement_digest":`, e.Digest)
	}
	if len(e.Kinds) > 0 {
		x.strs("rrproxy.statement_kinds", `"rrproxy.statement_kinds":`, e.Kinds)
	}
	if len(e.Tables) > 0 {
		x.strs("rrproxy.tables", `"rrproxy.tables":`, e.Tables)
	}
	if e.Upstream != 0 {
		x.uint("rrproxy.upstream_connection_id", `"rrproxy.upstream_connection_id":`, uint64(e.Upstream))
	}
	if e.Rule != "" {
		x.str("rule.id", `"rule.id":`, e.Rule)
	}
	if own && e.Source != "" {
		x.str("source.address", `"source.address":`, e.Source)
	}
	if own && e.SourceIP != "" {
		x.str("source.ip", `"source.ip":`, e.SourceIP)
	}
	if own && e.SourcePort != 0 {
		x.int("source.port", `"source.port":`, int64(e.SourcePort))
	}
	if own && e.Cipher != "" {
		x.str("tls.cipher", `"tls.cipher":`, e.Cipher)
	}
	if own && e.TLS != "" {
		x.str("tls.version", `"tls.version":`, e.TLS)
	}
	if own && e.Subject != "" {
		x.str("user.id", `"user.id":`, e.Subject)
	}
	if own && e.User != "" {
		x.str("user.name", `"user.name":`, e.User)
	}
	if own && len(e.Groups) > 0 {
		x.strs("user.roles", `"user.roles":`, e.Groups)
	}
	if own && e.Client != "" {
		x.str("user_agent.name", `"user_agent.name":`, e.Client)
	}
	if err := x.finish(); err != nil {
		return err
	}
	if !own {
		pr.members = mergeMembers(pr.members, e.Origin.members)
	}
	return nil
}

// Origin is what every record of one session says about where it comes
// from: who (user, identity, groups), from where (address, TLS, client
// program), which session, on which host. The proxy writes two records
// per statement with the same dozen members; an Origin encodes them
// once, and a record with Origin set takes them as they are. It is
// immutable, so the records of one session share it.
type Origin struct {
	members []member // sorted by name; their encodings are in buf
	buf     []byte
}

// NewOrigin encodes ev's origin members (User, Source, SourceIP,
// SourcePort, IDSource, Groups, Subject, Credential, Cipher, Host,
// SessionID, TLS, Client); its other members are not looked at.
func NewOrigin(ev *Event) (*Origin, error) {
	o := Event{User: ev.User, Source: ev.Source, SourceIP: ev.SourceIP, SourcePort: ev.SourcePort,
		IDSource: ev.IDSource, Groups: ev.Groups, Subject: ev.Subject, Credential: ev.Credential,
		Cipher: ev.Cipher, Host: ev.Host, SessionID: ev.SessionID, TLS: ev.TLS, Client: ev.Client}
	pr := &prepared{}
	if err := encodeMembers(pr, &o); err != nil {
		return nil, err
	}
	// encodeMembers always writes event.action, which is not an origin
	// member.
	ms := slices.DeleteFunc(pr.members, func(m member) bool { return m.name == "event.action" })
	return &Origin{members: slices.Clip(ms), buf: pr.buf}, nil
}

// mergeMembers merges the sorted extra into the sorted ms, in place
// (the pool's member slices usually have room for both).
func mergeMembers(ms, extra []member) []member {
	n, k := len(ms), len(extra)
	ms = slices.Grow(ms, k)[:n+k]
	// From the back, so that nothing is overwritten before it is moved.
	i, j := n-1, k-1
	for at := n + k - 1; j >= 0; at-- {
		if i >= 0 && ms[i].name > extra[j].name {
			ms[at], i = ms[i], i-1
		} else {
			ms[at], j = extra[j], j-1
		}
	}
	return ms
}

// encoder collects encoded members into one buffer; the members' slices
// are cut from it once it has stopped growing.
type encoder struct {
	pr   *prepared
	buf  []byte
	ends [maxEventFields]int
	err  error
}

// maxEventFields bounds Event's members, so that the members' offsets
// stay on the stack.
const maxEventFields = 64

func (x *encoder) add(name string) {
	x.ends[len(x.pr.members)] = len(x.buf)
	x.pr.members = append(x.pr.members, member{name: name})
}

func (x *encoder) str(name, key, v string) {
	x.buf = append(x.buf, key...)
	x.buf = appendString(x.buf, v)
	x.add(name)
}

func (x *encoder) int(name, key string, n int64) {
	if n > 1<<53-1 || n < -(1<<53-1) {
		x.err = fmt.Errorf("auditlog: encode: %s = %d is beyond ±(2^53-1)", name, n)
		return
	}
	x.buf = strconv.AppendInt(append(x.buf, key...), n, 10)
	x.add(name)
}

func (x *encoder) uint(name, key string, n uint64) {
	if n > 1<<53-1 {
		x.err = fmt.Errorf("auditlog: encode: %s = %d is beyond 2^53-1", name, n)
		return
	}
	x.buf = strconv.AppendUint(append(x.buf, key...), n, 10)
	x.add(name)
}

func (x *encoder) strs(name, key string, vs []string) {
	x.buf = append(append(x.buf, key...), '[')
	for i, v := range vs {
		if i > 0 {
			x.buf = append(x.buf, ',')
		}
		x.buf = appendString(x.buf, v)
	}
	x.buf = append(x.buf, ']')
	x.add(name)
}

func (x *encoder) finish() error {
	if x.err != nil {
		return x.err
	}
	start := 0
	for i := range x.pr.members {
		end := x.ends[i]
		x.pr.members[i].enc = x.buf[start:end:end]
		start = end
	}
	x.pr.buf = x.buf
	return nil
}
