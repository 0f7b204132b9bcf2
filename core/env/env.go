package env

import (
	"log/slog"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// Time is a reading of a node's clock in nanoseconds since the Unix epoch.
// In production it is the wall clock at start plus the monotonic time since
// start, so it never jumps backwards; in the simulator it is the virtual time
// seen through the node's (possibly skewed) clock.
type Time int64

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns t-u as a duration.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is earlier than u.
func (t Time) Before(u Time) bool { return t < u }

// Seconds returns t as floating-point seconds since the epoch.
func (t Time) Seconds() float64 { return float64(t) / 1e9 }

// TimerID names one armed timer. Zero is never a valid id.
type TimerID uint64

// OpID names one submitted disk operation. Zero is never a valid id.
type OpID uint64

// RequestID names one client request awaiting a reply.
type RequestID uint64

// Env is everything a machine may do besides computing. See the package
// comment for the contract every implementation keeps.
type Env interface {
	// Self is this node's id.
	Self() proto.NodeID
	// Now is the node's current clock reading.
	Now() Time
	// Rand is the node's seeded random source. Machines must draw all
	// randomness (jitter, ids, key seeds) from it.
	Rand() *Rand

	// Send hands frame (a whole OAP/1 frame) to the network for delivery to
	// to. It takes ownership of frame. Delivery is best effort.
	Send(to proto.NodeID, frame []byte)

	// SetTimer arms a timer that fires after d with tag; the tag comes back
	// in TimerFired. d <= 0 fires on the next turn of the loop.
	SetTimer(d time.Duration, tag uint64) TimerID
	// CancelTimer disarms id; cancelling a fired or unknown timer is a no-op.
	CancelTimer(id TimerID)

	// Submit issues an asynchronous disk operation. Its result arrives as a
	// DiskDone input carrying the same OpID and op.Tag.
	Submit(op DiskOp) OpID

	// Reply completes the client request id. Replying twice, or to an
	// unknown id, is ignored by the owner.
	Reply(id RequestID, resp any)

	// Publish puts an event on the node's bus (see core/node); subscribers
	// receive it as a BusEvent input after the current input completes.
	Publish(topic string, event any)

	// Metrics is the sink for counters, gauges and histograms.
	Metrics() Metrics
	// Log is a structured logger; it must never receive key material.
	Log() *slog.Logger
}

// Input is one thing that happens to a node. Exactly one of the concrete
// types below; the owner delivers inputs one at a time.
type Input interface{ isInput() }

// Start is the first input after a node is created or restarted from its
// durable state. Machines issue their recovery reads here.
type Start struct{}

// Message is a frame received from a peer.
type Message struct {
	From  proto.NodeID
	Frame []byte // whole OAP/1 frame; owned by the receiver
}

// TimerFired reports that a timer armed with SetTimer reached its deadline.
type TimerFired struct {
	ID  TimerID
	Tag uint64
}

// DiskDone reports the completion of a submitted disk operation.
type DiskDone struct {
	ID     OpID
	Op     DiskOp // the op as submitted (including Tag)
	Result DiskResult
}

// Request is a client operation addressed to one service of the node.
type Request struct {
	ID      RequestID
	Service string // the service name the request is for
	Body    any    // a service-defined request value
}

// BusEvent is an event another service of the same node published.
type BusEvent struct {
	Topic string
	Event any
}

func (Start) isInput()      {}
func (Message) isInput()    {}
func (TimerFired) isInput() {}
func (DiskDone) isInput()   {}
func (Request) isInput()    {}
func (BusEvent) isInput()   {}
