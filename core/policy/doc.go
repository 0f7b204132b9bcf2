// Package policy decides whether a request may proceed, from a bundle of
// named rules (ARCHITECTURE 5.6, ron-policy). It is pure: the caller supplies the
// bundle text and the request; file watching and reload timing are io/'s.
//
// Semantics: rules are tried in order and the first whose match holds
// decides (allow or deny); when none matches the request is denied. A match
// holds when every field it sets holds (tenants, ops, prefixes: any entry;
// tags: all entries; min/max bytes inclusive; authenticated: equal). Policy
// is a gate in front of capabilities, not a replacement: writes still need
// a token with the right scope (core/auth), and a rule with
// authenticated: false is how reads are made public.
//
// Bundle text (YAML, decoded with KnownFields(true)):
//
//	version: 1
//	name: default
//	rules:
//	  - name: public-reads
//	    effect: allow
//	    match: {ops: [read], authenticated: false}
//	  - name: tenant-writes
//	    effect: allow
//	    match: {ops: [write, delete], authenticated: true, max_bytes: 1048576}
//
// Validation is strict and total: unknown keys, wrong types, unknown ops,
// empty lists (a missing or empty rules list included: a bundle without
// rules would deny everything, so a lockdown is written as a catch-all
// deny rule), duplicate names or entries, min_bytes above max_bytes,
// address prefixes that no canonical address can match, and rules made
// unreachable by an earlier catch-all are all errors. Every error is an
// *Error naming the rule (index and name), the field and the line.
//
// Invariants: a Bundle is immutable once built, and Engine.Load swaps the
// bundle in force only after the new one validated, so an invalid bundle
// never takes effect and a request never sees a mix of two bundles.
//
// Rejected alternatives: JSON bundles (no comments, which operators want
// next to rules); most-specific-match semantics (harder to predict than
// first match, and needs a specificity order that users must learn); a
// default of allow (fails open when a bundle is missing a rule).
package policy
