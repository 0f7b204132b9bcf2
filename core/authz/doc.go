// Package authz is the node service that decides, on the node's loop,
// whether a capability token may do something, and whether a token is
// revoked as this node knows it. Every node runs it (core/stack composes
// it in rond and in the simulator alike). It answers two requests:
//
//   - Check: "may this token do this?" It runs auth.Verifier over the
//     token text and the request (op, resource, tenant, bytes) and answers
//     a Result with the verifier's stable deny reason, counted in
//     authz_checks_total. The simulator's token workload asks it.
//   - RevokedQuery: "is this token id revoked here?" It answers from the
//     node's registry view with the index that view is complete through.
//     rond's gateway verifies tokens on its own goroutines with its
//     keyring and asks only this, because the registry lives on the loop
//     goroutine and may not be read from another (io/gateway
//     revocations.go caches the answers).
//
// The root MAC keys come from configuration (Config.Keys); the simulator
// gives every node one cluster key derived from the seed; rond configures
// none here (its gateway holds them), so a Check on rond is denied as
// unknown_key. The revocation view is the node's registry
// (registry.Registry implements RevocationView): a replica's applied state,
// or the list a non-replica pulls from the replicas every
// registry.Config.RevocationPullInterval. A revocation committed at time T
// is therefore enforced by a node that can reach a replica which applied
// it by T + one pull interval + a round trip (see core/registry's doc.go);
// expiry is enforced by the node's own clock with auth.ClockSkewMax of
// allowance.
//
// Invariants: the service keeps no state beyond its verifier and view, so
// an answer depends only on the inputs above; it never blocks or defers a
// request (every request is answered in the step it arrives), so it needs
// no queue.
//
// Rejected alternatives: verifying revocation through a linearizable read
// of the registry on every check gives zero propagation delay but puts
// every authorisation on the raft quorum's latency and availability; a
// node cut from the quorum could then allow nothing. The pulled view keeps
// checks local and bounds staleness instead. A second revocation service
// in io/ for rond (as there was) meant the simulator checked a path rond
// did not take.
package authz
