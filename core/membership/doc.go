// Package membership is a node's closed membership as a set: which node
// ids may talk to it. The overlay, the DHT, storage and the registry
// (core/overlay, core/dht, core/storage, core/registry) each hold one,
// built from their Config.Members and replaced by their SetMembers
// request, and io/quicnet holds one for its connections.
//
// A Set is either open (no list: every id is admitted, the zero value) or
// closed (a list: only its ids are admitted). An empty or nil list is
// open, in every service that uses it. A Set never changes once built;
// installing another list builds a new Set, so a Set may be shared, and
// read from many goroutines, without copying.
//
// Whether a node admits itself is the service's rule, not the set's: the
// DHT, storage and the registry admit their own id whether it is listed or
// not, and the overlay refuses a HELLO from its own id before it asks the
// set. Admits answers for the ids of the list only.
//
// The set is not bounded by a limit of its own: its ids come from the
// node's configuration (rond's members setting, the scenario's nodes),
// never from a peer.
package membership
