package auditlog

import (
	"fmt"
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
		x.uint(mErrorCode, uint64(e.ErrorCode))
	}
	if e.ErrorMsg != "" {
		x.str(mErrorMessage, e.ErrorMsg)
	}
	x.str(mEventAction, e.Action)
	if e.Duration != 0 {
		x.int(mEventDuration, e.Duration)
	}
	if e.Outcome != "" {
		x.str(mEventOutcome, e.Outcome)
	}
	if e.Reason != "" {
		x.str(mEventReason, e.Reason)
	}
	if own && e.Host != "" {
		x.str(mHostName, e.Host)
	}
	if e.Bytes != 0 {
		x.int(mBytes, e.Bytes)
	}
	if e.CheckpointHash != "" {
		x.str(mCheckpointHash, e.CheckpointHash)
	}
	if e.CheckpointKeyID != "" {
		x.str(mCheckpointKeyID, e.CheckpointKeyID)
	}
	if e.CheckpointSeq != 0 {
		x.uint(mCheckpointSequence, e.CheckpointSeq)
	}
	if e.CheckpointSig != "" {
		x.str(mCheckpointSignature, e.CheckpointSig)
	}
	if len(e.Columns) > 0 {
		x.strs(mColumns, e.Columns)
	}
	if e.Command != "" {
		x.str(mCommand, e.Command)
	}
	if e.ConfigHash != "" {
		x.str(mConfigSHA256, e.ConfigHash)
	}
	if own && e.Credential != "" {
		x.str(mCredentialID, e.Credential)
	}
	if e.Database != "" {
		x.str(mDatabase, e.Database)
	}
	if e.FilePrevious != "" {
		x.str(mFilePrevious, e.FilePrevious)
	}
	if e.FilePreviousLast != 0 {
		x.uint(mFilePreviousLastSequence, e.FilePreviousLast)
	}
	if own && e.IDSource != "" {
		x.str(mIdentitySource, e.IDSource)
	}
	if e.Instance != "" {
		x.str(mInstance, e.Instance)
	}
	if e.IntentSeq != 0 {
		x.uint(mIntentSequence, e.IntentSeq)
	}
	if len(e.Parameters) > 0 {
		x.strs(mParameters, e.Parameters)
	}
	if e.Phase != "" {
		x.str(mPhase, e.Phase)
	}
	if e.PolicyPrev != "" {
		x.str(mPolicyPreviousVersion, e.PolicyPrev)
	}
	if e.Policy != "" {
		x.str(mPolicyVersion, e.Policy)
	}
	if e.Rewritten != "" {
		x.str(mRewrittenStatement, e.Rewritten)
	}
	if e.Rows != 0 {
		x.int(mRows, e.Rows)
	}
	if own && e.SessionID != 0 {
		x.uint(mSessionID, uint64(e.SessionID))
	}
	if e.Shadow != "" {
		x.str(mShadow, e.Shadow)
	}
	if e.Statement != "" {
		x.str(mStatement, e.Statement)
	}
	if e.Digest != "" {
		x.str(mStatementDigest, e.Digest)
	}
	if len(e.Kinds) > 0 {
		x.strs(mStatementKinds, e.Kinds)
	}
	if e.Statements != 0 {
		x.int(mStatements, e.Statements)
	}
	if len(e.Tables) > 0 {
		x.strs(mTables, e.Tables)
	}
	if e.Upstream != 0 {
		x.uint(mUpstreamConnectionID, uint64(e.Upstream))
	}
	if own && e.Via != "" {
		x.str(mVia, e.Via)
	}
	if e.Rule != "" {
		x.str(mRuleID, e.Rule)
	}
	if own && e.Source != "" {
		x.str(mSourceAddress, e.Source)
	}
	if own && e.SourceIP != "" {
		x.str(mSourceIP, e.SourceIP)
	}
	if own && e.SourcePort != 0 {
		x.int(mSourcePort, int64(e.SourcePort))
	}
	if own && e.Cipher != "" {
		x.str(mTLSCipher, e.Cipher)
	}
	if own && e.TLS != "" {
		x.str(mTLSVersion, e.TLS)
	}
	if own && e.Subject != "" {
		x.str(mUserID, e.Subject)
	}
	if own && e.User != "" {
		x.str(mUserName, e.User)
	}
	if own && len(e.Groups) > 0 {
		x.strs(mUserRoles, e.Groups)
	}
	if own && e.Client != "" {
		x.str(mUserAgentName, e.Client)
	}
	if own && e.ClientVersion != "" {
		x.str(mUserAgentVersion, e.ClientVersion)
	}
	if err := x.finish(); err != nil {
		return err
	}
	pr.origin, pr.originSize = nil, 0
	if !own {
		pr.origin, pr.originSize = e.Origin.members, e.Origin.size
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
	members []member // in rank order; runs of consecutive ranks joined (see NewOrigin)
	size    int      // the members' encoded bytes, commas included
}

// NewOrigin encodes ev's origin members (User, Source, SourceIP,
// SourcePort, IDSource, Groups, Subject, Credential, Cipher, Host,
// SessionID, TLS, Client, ClientVersion, Via); its other members are not looked at.
//
// Members whose ranks no other member can come between (source.address
// to user_agent.version: nothing but origin members sorts there) are
// joined into one, so that a record takes them with one copy.
func NewOrigin(ev *Event) (*Origin, error) {
	o := Event{User: ev.User, Source: ev.Source, SourceIP: ev.SourceIP, SourcePort: ev.SourcePort,
		IDSource: ev.IDSource, Groups: ev.Groups, Subject: ev.Subject, Credential: ev.Credential,
		Cipher: ev.Cipher, Host: ev.Host, SessionID: ev.SessionID, TLS: ev.TLS, Client: ev.Client,
		ClientVersion: ev.ClientVersion, Via: ev.Via}
	pr := &prepared{}
	if err := encodeMembers(pr, &o); err != nil {
		return nil, err
	}
	var ms []originMember
	size := 0
	for _, m := range pr.members {
		if !originRank[m.rank] {
			continue // event.action, which encodeMembers always writes
		}
		size += len(m.enc) + 1
		if n := len(ms); n > 0 && onlyOriginBetween(ms[n-1].last, m.rank) {
			ms[n-1].enc = append(append(ms[n-1].enc, ','), m.enc...)
			ms[n-1].last = m.rank
			continue
		}
		ms = append(ms, originMember{member: member{rank: m.rank, enc: append([]byte(nil), m.enc...)}, last: m.rank})
	}
	out := &Origin{members: make([]member, len(ms)), size: size}
	for i, m := range ms {
		out.members[i] = m.member
	}
	return out, nil
}

// originMember is a member of an Origin while it is built: last is the
// rank of the last member joined into it.
type originMember struct {
	member
	last rank
}

// onlyOriginBetween reports whether every rank strictly between a and b
// is an origin member's, which a record with an Origin never has itself.
func onlyOriginBetween(a, b rank) bool {
	for r := a + 1; r < b; r++ {
		if !originRank[r] {
			return false
		}
	}
	return true
}

// encoder collects encoded members into one buffer; the members' slices
// are cut from it once it has stopped growing.
type encoder struct {
	pr   *prepared
	buf  []byte
	ends [numMembers]int
	err  error
}

func (x *encoder) add(r rank) {
	x.ends[len(x.pr.members)] = len(x.buf)
	x.pr.members = append(x.pr.members, member{rank: r})
}

func (x *encoder) str(r rank, v string) {
	x.buf = append(x.buf, memberKeys[r]...)
	x.buf = appendString(x.buf, v)
	x.add(r)
}

func (x *encoder) int(r rank, n int64) {
	if n > 1<<53-1 || n < -(1<<53-1) {
		x.err = fmt.Errorf("auditlog: encode: %s = %d is beyond ±(2^53-1)", memberNames[r], n)
		return
	}
	x.buf = strconv.AppendInt(append(x.buf, memberKeys[r]...), n, 10)
	x.add(r)
}

func (x *encoder) uint(r rank, n uint64) {
	if n > 1<<53-1 {
		x.err = fmt.Errorf("auditlog: encode: %s = %d is beyond 2^53-1", memberNames[r], n)
		return
	}
	x.buf = strconv.AppendUint(append(x.buf, memberKeys[r]...), n, 10)
	x.add(r)
}

func (x *encoder) strs(r rank, vs []string) {
	x.buf = append(append(x.buf, memberKeys[r]...), '[')
	for i, v := range vs {
		if i > 0 {
			x.buf = append(x.buf, ',')
		}
		x.buf = appendString(x.buf, v)
	}
	x.buf = append(x.buf, ']')
	x.add(r)
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
