package dht

import (
	"github.com/ron-network/ron/core/internal/refusedlog"
	"github.com/ron-network/ron/core/proto"
)

// RefusedLogIDsMax bounds the peer ids a node remembers having logged as
// refused non-members; RefusedLogEvery is how long (env time) one id's
// line is not repeated (core/internal/refusedlog).
const (
	RefusedLogIDsMax = refusedlog.IDsMax
	RefusedLogEvery  = refusedlog.Every
)

// refusedNotMember counts a message refused for coming from outside
// Config.Members and logs its sender (refusedLog): the operator of a
// cluster whose nodes disagree on membership learns which id is missing.
func (d *DHT) refusedNotMember(from proto.NodeID) {
	d.env.Metrics().Add(MetricRejects, ReasonNotMember, 1)
	d.refused.Warn(d.env.Log(), d.env.Now(), "dht", from)
}
