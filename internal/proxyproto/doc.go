// Package proxyproto reads the header a load balancer puts in front of
// a relayed TCP connection under the PROXY protocol (versions 1 and 2,
// https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt): the
// client's own address, which the proxy otherwise never sees behind a
// balancer that opens its own connections (AWS NLB with proxy protocol,
// HAProxy's send-proxy, F5, Envoy).
//
// Why it matters here: every audit record says where a statement came
// from (source.ip), and failed logins are limited per address; behind a
// balancer without it, every person shares the balancer's address.
//
// Only the header is read. Who may send one is the caller's decision
// (config proxy_protocol.from): a header accepted from anyone would let
// any client write any address into the audit log.
package proxyproto
