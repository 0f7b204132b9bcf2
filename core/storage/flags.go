package storage

// SetRepair is a client request that switches the repair loop on or off
// (the node's flag "repair"); the machine replies with the request. Audits
// already running finish; no new ones start while it is off. Off is safe:
// a put is still acknowledged only at W synced replicas and every read
// still verifies, so the node stays correct and only the restoring of R
// after a failure waits.
type SetRepair struct {
	Enabled bool
}
