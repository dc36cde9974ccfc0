package auditlog

// rank is a member's place in the canonical order (RFC 8785 sorts an
// object's members by name). Every name a record can have is listed
// here, in that order, so that putting a record's members in order is a
// comparison of small integers, not of strings. TestMemberNamesSorted
// checks the list; TestEncodeMembersMatchesJSON checks that encodeMembers
// uses it for every member of Event.
type rank uint8

const (
	mTimestamp                rank = iota // @timestamp
	mErrorCode                            // error.code
	mErrorMessage                         // error.message
	mEventAction                          // event.action
	mEventDuration                        // event.duration
	mEventOutcome                         // event.outcome
	mEventReason                          // event.reason
	mEventSequence                        // event.sequence
	mHostName                             // host.name
	mBytes                                // rrproxy.bytes
	mChainHash                            // rrproxy.chain.hash
	mChainPrev                            // rrproxy.chain.prev
	mCheckpointHash                       // rrproxy.checkpoint.hash
	mCheckpointKeyID                      // rrproxy.checkpoint.key_id
	mCheckpointSequence                   // rrproxy.checkpoint.sequence
	mCheckpointSignature                  // rrproxy.checkpoint.signature
	mColumns                              // rrproxy.columns
	mCommand                              // rrproxy.command
	mConfigSHA256                         // rrproxy.config_sha256
	mCredentialID                         // rrproxy.credential_id
	mDatabase                             // rrproxy.database
	mFilePrevious                         // rrproxy.file.previous
	mFilePreviousLastSequence             // rrproxy.file.previous_last_sequence
	mIdentitySource                       // rrproxy.identity_source
	mInstance                             // rrproxy.instance
	mIntentSequence                       // rrproxy.intent_sequence
	mParameters                           // rrproxy.parameters
	mPhase                                // rrproxy.phase
	mPolicyPreviousVersion                // rrproxy.policy_previous_version
	mPolicyVersion                        // rrproxy.policy_version
	mRewrittenStatement                   // rrproxy.rewritten_statement
	mRows                                 // rrproxy.rows
	mSessionID                            // rrproxy.session_id
	mShadow                               // rrproxy.shadow
	mStatement                            // rrproxy.statement
	mStatementDigest                      // rrproxy.statement_digest
	mStatementKinds                       // rrproxy.statement_kinds
	mStatements                           // rrproxy.statements
	mTables                               // rrproxy.tables
	mUpstreamConnectionID                 // rrproxy.upstream_connection_id
	mVia                                  // rrproxy.via
	mRuleID                               // rule.id
	mSourceAddress                        // source.address
	mSourceIP                             // source.ip
	mSourcePort                           // source.port
	mTLSCipher                            // tls.cipher
	mTLSVersion                           // tls.version
	mUserID                               // user.id
	mUserName                             // user.name
	mUserRoles                            // user.roles
	mUserAgentName                        // user_agent.name
	mUserAgentVersion                     // user_agent.version
	numMembers
)

// memberNames are the names of the ranks, in canonical order.
var memberNames = [numMembers]string{
	"@timestamp",
	"error.code",
	"error.message",
	"event.action",
	"event.duration",
	"event.outcome",
	"event.reason",
	"event.sequence",
	"host.name",
	"rrproxy.bytes",
	"rrproxy.chain.hash",
	"rrproxy.chain.prev",
	"rrproxy.checkpoint.hash",
	"rrproxy.checkpoint.key_id",
	"rrproxy.checkpoint.sequence",
	"rrproxy.checkpoint.signature",
	"rrproxy.columns",
	"rrproxy.command",
	"rrproxy.config_sha256",
	"rrproxy.credential_id",
	"rrproxy.database",
	"rrproxy.file.previous",
	"rrproxy.file.previous_last_sequence",
	"rrproxy.identity_source",
	"rrproxy.instance",
	"rrproxy.intent_sequence",
	"rrproxy.parameters",
	"rrproxy.phase",
	"rrproxy.policy_previous_version",
	"rrproxy.policy_version",
	"rrproxy.rewritten_statement",
	"rrproxy.rows",
	"rrproxy.session_id",
	"rrproxy.shadow",
	"rrproxy.statement",
	"rrproxy.statement_digest",
	"rrproxy.statement_kinds",
	"rrproxy.statements",
	"rrproxy.tables",
	"rrproxy.upstream_connection_id",
	"rrproxy.via",
	"rule.id",
	"source.address",
	"source.ip",
	"source.port",
	"tls.cipher",
	"tls.version",
	"user.id",
	"user.name",
	"user.roles",
	"user_agent.name",
	"user_agent.version",
}

// memberKeys are the ranks' encoded keys: "name": as it begins a member.
var memberKeys = func() (k [numMembers]string) {
	for r, n := range memberNames {
		k[r] = `"` + n + `":`
	}
	return k
}()

// originRank marks the members an Origin holds (see NewOrigin); a record
// with an Origin never has them itself.
var originRank = func() (o [numMembers]bool) {
	for _, r := range []rank{mHostName, mCredentialID, mIdentitySource, mSessionID,
		mSourceAddress, mSourceIP, mSourcePort, mTLSCipher, mTLSVersion, mUserID, mUserName, mUserRoles,
		mUserAgentName, mUserAgentVersion, mVia} {
		o[r] = true
	}
	return o
}()

// member is one encoded member of a record: "name":value, canonical. An
// Origin's member may hold several consecutive members (see NewOrigin);
// its rank is then the first one's.
type member struct {
	rank rank
	enc  []byte // the whole member, name included
}
