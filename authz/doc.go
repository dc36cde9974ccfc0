// Package authz decides, for every command a client sends, whether rrproxy
// may forward it: it authenticates local accounts (argon2id hashes from
// policy.yaml), analyses SQL through authz/sqlscope, and checks what the
// statement touches against the rules that apply to the user.
//
// The contract is fail closed: a statement the analyser cannot fully
// understand, an unknown statement kind, a table no rule grants, a use of
// a withheld column: each is a Decision with an error, and the proxy
// forwards nothing. Denials name the rule that refused (built-in rules
// such as default-deny or read-only, or the policy's own rule ids).
//
// A Policy is immutable; Store swaps a new one in atomically on reload and
// each statement loads the pointer once.
package authz
