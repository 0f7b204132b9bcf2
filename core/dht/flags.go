package dht

// SetRepublish is a client request that switches provider republishing on
// or off (the node's flag "republish"); the machine replies with the
// request. Off keeps the node correct: lookups, the record store and the
// first announcement of new content go on; records this node announced
// earlier expire after ProviderTTL instead of being renewed, so finding
// old content through the DHT degrades, never returns a wrong provider.
type SetRepublish struct {
	Enabled bool
}
