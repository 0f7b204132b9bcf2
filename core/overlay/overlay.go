package overlay

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Name is the service name.
const Name = "overlay"

// TopicPeer is the bus topic of PeerEvent.
const TopicPeer = "overlay.peer"

// PeerEvent is published on TopicPeer when a session becomes Active (Up)
// or leaves Active (not Up).
type PeerEvent struct {
	Peer proto.NodeID
	Up   bool
}

// SessionsRequest is the body of an env.Request to the overlay service; the
// reply is []SessionInfo (as Sessions returns).
type SessionsRequest struct{}

// ErrUnknownRequest is the reply to a request body the overlay does not know.
var ErrUnknownRequest = node.ErrUnknownRequest

// Config configures an Overlay. Zero durations and rates take defaults.
type Config struct {
	Key                    ed25519.PrivateKey // this node's identity (NodeID = BLAKE3(pub))
	Peers                  []proto.NodeID     // static peers; sorted, deduplicated, self removed
	HeartbeatInterval      time.Duration      // default 1s
	SessionTimeout         time.Duration      // no proof of life for this long => Backoff; default 3x heartbeat
	HandshakeTimeout       time.Duration      // default 1s
	BackoffMin, BackoffMax time.Duration      // default 100ms, 10s; jitter ±20%; max < min is raised to min
	InboundFramesPerSecond float64            // per-peer token bucket rate; burst InboundBurstFactor x rate
	// Members, when set, is a closed membership (rond's; see
	// io/runtime.NodeSpec.Membership): a valid HELLO request from a node
	// outside it admits no dynamic session and is dropped as not_member,
	// before its signature is checked. Static peers are kept whether or
	// not they are listed. Empty: any node may become a dynamic peer.
	Members []proto.NodeID

	// Signatures, when set, is shared by every node of one process and
	// goroutine (the simulator) so that a HELLO signed by one of them is
	// not verified again by its receiver (HelloSignatures says why that
	// cannot change an outcome). nil, as in production, verifies every
	// HELLO in full.
	Signatures *HelloSignatures

	// Bug selects deliberately wrong behaviour (canary builds only; see
	// bugs_canary.go). Normal builds clear it.
	Bug Bug
}

// Bug switches select deliberately wrong sessions so that the simulator's
// canaries can show its checks catch each. They take effect only in builds
// with the canary tag.
type Bug struct {
	// ForgetStatic forgets a configured peer after DynamicAttemptsMax failed
	// attempts, as only a dynamic one should be: a long enough cut ends the
	// session for good.
	ForgetStatic bool
}

// State is a session's state.
type State uint8

const (
	StateIdle      State = iota // known, not yet started
	StateHandshake              // our HELLO is outstanding
	StateActive                 // identity verified, heartbeats flowing
	StateBackoff                // waiting to retry
	StateClosed                 // closed by Close; never retried
	stateCount
)

var stateNames = [stateCount]string{"idle", "handshake", "active", "backoff", "closed"}

func (s State) String() string {
	if s < stateCount {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// SessionInfo is a snapshot of one session.
type SessionInfo struct {
	Peer        proto.NodeID
	State       State
	Dynamic     bool          // admitted from a HELLO, not configured
	RTT         time.Duration // smoothed heartbeat RTT (RFC 6298 weights); 0 before a sample
	Reconnects  uint64        // handshakes started from Backoff
	Attempts    int           // consecutive failed attempts since last Active
	Backoff     time.Duration // the delay chosen when last entering Backoff
	Enqueued    uint64        // frames accepted by Enqueue
	Sent        uint64        // of those, handed to env.Send
	DroppedSend uint64        // of those, dropped (queue_full, closed)
	DroppedRecv uint64        // inbound frames dropped (shed, queue_full, closed, malformed)
	QueueDepth  int           // frames queued to send
	RecvDepth   int           // heartbeats parked until the session is Active
}

// Overlay is the overlay service machine. See doc.go for the state machine.
type Overlay struct {
	cfg     Config
	self    proto.NodeID
	env     env.Env
	started bool

	sessions  map[proto.NodeID]*session
	order     []proto.NodeID // the keys of sessions, ascending
	bySlot    map[uint64]*session
	nextSlot  uint64
	strangers tokenBucket    // shared by frames from nodes without a session
	members   membership.Set // Config.Members as a set; open when it is empty
	gauges    gauges

	// changed is set by every exported method that mutates state (Init,
	// Handle, Enqueue, Close) and cleared by CheckInvariants, which skips
	// its O(peers + queued frames) walk when nothing changed since the
	// last one: the node calls it after every step of every service.
	changed bool
}

// New returns an overlay for cfg. A nil or malformed key, or more than
// PeersMax peers, is a programmer error.
func New(cfg Config) *Overlay {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		panic("overlay: Config.Key must be an ed25519 private key")
	}
	cfg = withDefaults(cfg)
	if !canaryBugs {
		cfg.Bug = Bug{}
	}
	self := proto.NodeIDFromPublicKey(cfg.Key.Public().(ed25519.PublicKey))
	peers := slices.Clone(cfg.Peers)
	slices.SortFunc(peers, proto.NodeID.Compare)
	peers = slices.Compact(peers)
	peers = slices.DeleteFunc(peers, func(p proto.NodeID) bool { return p == self || p.IsZero() })
	if len(peers) > PeersMax {
		panic(fmt.Sprintf("overlay: %d peers exceed PeersMax %d", len(peers), PeersMax))
	}
	cfg.Peers = peers
	o := &Overlay{
		cfg:       cfg,
		self:      self,
		sessions:  make(map[proto.NodeID]*session, len(peers)),
		bySlot:    make(map[uint64]*session, len(peers)),
		strangers: newTokenBucket(cfg.InboundFramesPerSecond),
	}
	o.setMembers(cfg.Members)
	for _, p := range peers {
		o.addSession(p, false)
	}
	return o
}

func withDefaults(cfg Config) Config {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = HeartbeatIntervalDefault
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = SessionTimeoutHeartbeats * cfg.HeartbeatInterval
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = HandshakeTimeoutDefault
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = BackoffMinDefault
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = BackoffMaxDefault
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	if !(cfg.InboundFramesPerSecond > 0) {
		cfg.InboundFramesPerSecond = InboundFramesPerSecondDefault
	}
	return cfg
}

// Self is this node's id, derived from the key.
func (o *Overlay) Self() proto.NodeID { return o.self }

// Name implements node.Service.
func (o *Overlay) Name() string { return Name }

// Protocols implements node.Service: HELLO and the overlay's own protocol.
func (o *Overlay) Protocols() []uint16 { return []uint16{oap.ProtoHello, oap.ProtoOverlay} }

// Init implements node.Service. The env must belong to the key's node.
func (o *Overlay) Init(e env.Env) {
	if e.Self() != o.self {
		panic(fmt.Sprintf("overlay: env of node %s, key of node %s", e.Self().Short(), o.self.Short()))
	}
	o.env = e
	o.changed = true
}

// Handle implements node.Service.
func (o *Overlay) Handle(in env.Input) {
	o.changed = true
	switch in := in.(type) {
	case env.Start:
		o.onStart()
	case env.Message:
		o.onMessage(in)
	case env.TimerFired:
		o.onTimer(in)
	case env.Request:
		o.onRequest(in)
	case env.BusEvent:
		// The overlay subscribes to nothing; an event here is harmless.
	case env.DiskDone:
		panic("overlay: DiskDone for a service that never submits disk operations")
	default:
		panic(fmt.Sprintf("overlay: unknown input %T", in))
	}
	o.updateGauges()
	// The node checks invariants once after the step (CheckInvariants).
	o.changed = true
}

func (o *Overlay) onStart() {
	o.started = true
	for _, id := range o.order {
		if s := o.sessions[id]; s.state == StateIdle {
			o.startHandshake(s)
		}
	}
}

func (o *Overlay) onRequest(r env.Request) {
	switch body := r.Body.(type) {
	case SessionsRequest, *SessionsRequest:
		o.env.Reply(r.ID, o.Sessions())
	case SetMembers:
		o.changed = true
		o.setMembers(body.Members)
		o.env.Reply(r.ID, body)
	default:
		o.env.Reply(r.ID, fmt.Errorf("%w: %T", ErrUnknownRequest, r.Body))
	}
}

// Enqueue sends frame (a whole OAP/1 frame, owned by the overlay from now
// on) to peer with session semantics: at once when the session is Active,
// else queued (bounded by PeerQueueDepthMax and PeerQueueBytesMax, oldest
// dropped and counted) and flushed in order when it becomes Active. It
// returns false, dropping nothing, if peer has no session, the session is
// Closed, or the frame is larger than oap.FrameBytesMax.
func (o *Overlay) Enqueue(peer proto.NodeID, frame []byte) bool {
	if o.env == nil {
		panic("overlay: Enqueue before Init")
	}
	s := o.sessions[peer]
	if s == nil || s.state == StateClosed || len(frame) > oap.FrameBytesMax {
		return false
	}
	o.changed = true
	s.enqueued++
	if s.state == StateActive {
		o.env.Send(peer, frame)
		s.sent++
	} else {
		o.pushSend(s, frame)
	}
	o.updateGauges()
	o.checkSession(s)
	return true
}

// Close moves peer's session to Closed: timers cancelled, queued frames
// dropped and counted, never reconnected; HELLOs from peer go unanswered.
// Closing an unknown or closed peer does nothing.
func (o *Overlay) Close(peer proto.NodeID) {
	s := o.sessions[peer]
	if s == nil || s.state == StateClosed {
		return
	}
	o.changed = true
	if s.state == StateActive {
		o.leaveActive(s)
	}
	o.cancelTimers(s)
	s.state = StateClosed
	s.helloCorr = 0
	o.discardQueues(s, DropClosed)
	o.updateGauges()
	o.checkInvariants()
}

// State is peer's session state; a peer without a session reads as
// StateClosed (no session exists and none will be made by us).
func (o *Overlay) State(peer proto.NodeID) State {
	if s := o.sessions[peer]; s != nil {
		return s.state
	}
	return StateClosed
}

// Sessions returns a snapshot of every session, sorted by peer id. The
// slice is the caller's.
func (o *Overlay) Sessions() []SessionInfo {
	out := make([]SessionInfo, 0, len(o.order))
	for _, id := range o.order {
		out = append(out, o.sessions[id].info())
	}
	return out
}

// CheckInvariants panics if a structural invariant is broken. The node
// calls it once after every step (Handle does not check by itself); it
// includes the O(queued bytes) checks that the mutating methods' own
// checkInvariants leaves out. It walks the tables only when an input or a
// mutating method ran since the last call.
func (o *Overlay) CheckInvariants() {
	if !o.changed {
		return
	}
	o.changed = false
	o.checkTables(true)
}
