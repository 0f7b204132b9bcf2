// Package authz is a node service that answers "may this token do this?"
// (Check) with auth.Verifier, so that every node of a cluster gives the same
// verdict for the same token, request and revocation state.
//
// The root MAC keys come from configuration (Config.Keys); the simulator
// gives every node one cluster key derived from the seed, production from
// the node's keyring. The revocation set is the node's registry view
// (registry.Registry implements auth.RevocationSet): a replica's applied
// state, or the list a non-replica pulls from the replicas every
// registry.Config.RevocationPullInterval. A revocation committed at time T
// is therefore enforced by a node that can reach a replica which applied it
// by T + one pull interval + a round trip (see core/registry's doc.go);
// expiry is enforced by the node's own clock with auth.ClockSkewMax of
// allowance.
//
// Invariants: the service keeps no state beyond its verifier, so a verdict
// depends only on the inputs above; it never blocks or defers a request
// (every Check is answered in the same step), so it needs no queue.
//
// Rejected alternatives: verifying revocation through a linearizable read
// of the registry on every check gives zero propagation delay but puts
// every authorisation on the raft quorum's latency and availability; a
// node cut from the quorum could then allow nothing. The pulled view keeps
// checks local and bounds staleness instead.
package authz
