// Package proxy is rrproxy's MySQL-protocol server: it authenticates each
// client as a named person, pins one pooled service-account connection to
// the session, and relays every command only after an authz decision and
// an audit record.
//
//	client                      rrproxy                         replica
//	  |  <- greeting (v10, caching_sha2_password, TLS offered)     |
//	  |  SSLRequest, TLS handshake ->                              |
//	  |  HandshakeResponse41 (user, scramble) ->                   |
//	  |  <- AuthMoreData "perform full authentication"             |
//	  |  password (inside TLS) ->  argon2id check (authz)          |
//	  |                            Pool.Acquire ------------------>| (pooled, logged in
//	  |                            SET NAMES / COM_INIT_DB ------->|  as the service account)
//	  |  <- OK                                                     |
//	  |                                                            |
//	  |  COM_QUERY sql ->          authz.CheckQuery                |
//	  |                            audit intent (fail closed)      |
//	  |                            forward ----------------------->|
//	  |  <- rows, relayed packet by packet <-----------------------|
//	  |                            audit outcome                   |
//	  |  COM_QUIT ->               COM_RESET_CONNECTION ---------->| back to the pool
//	  |                            (skipped if nothing was sent)   |
//
// The proxy never parses SQL (authz does) and never decodes rows: the relay
// looks only at the first bytes of each packet to find where a response
// ends, so memory per session stays at two small buffers whatever the
// result size. Every session method runs on the session's own goroutine;
// only Shutdown touches a session from outside, through interruptIfIdle.
package proxy
