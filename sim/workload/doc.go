// Package workload drives simulated clients against a sim.World and records
// what they saw as a history: one Op per client operation, with its
// invocation and completion virtual times. An operation whose outcome the
// client cannot know (its deadline passed, the registry said "unknown
// outcome", or the node it talked to crashed) is recorded with a nil Output
// and a nil Return: porcupine treats it as returning at infinity, and the
// model lets it either take effect or not.
//
// Each client has at most one operation outstanding (so histories are
// per-client sequential, as porcupine's visualisation expects). After an
// operation completes the client thinks for an exponentially distributed
// time whose mean makes the clients together issue Rate operations per
// simulated second. Every random choice of the registry clients comes from
// the world's "workload" PRNG stream and every choice of the content
// clients (content.go) from the "content" stream, so the same seed gives
// the same operations and adding one workload does not change the other.
// The registry clients derive their owner keys once per run and sign their
// Sets through the nodes' shared signature cache when they are given one
// (RegistryConfig.Signatures), which spares every node the verification of
// a signature the workload has just made.
//
// The content clients do not keep the bytes they put: an object is a seed
// and a size (ContentObject), its bytes regenerated on demand, so a run's
// memory does not grow with the bytes it wrote and a history line is
// enough to recompute an object's address.
//
// The DHT lookup clients (dht.go) follow the same loop but keep no
// porcupine history: a lookup has no sequential model, it has a ground
// truth. Each answer is graded when it arrives against the K closest ids
// among the nodes up at that moment (found through a sorted index of every
// id, not a scan of 100,000 nodes per lookup), and only the figures are
// kept. Their choices come from the "workload/dht" stream.
package workload
