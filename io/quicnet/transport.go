package quicnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/membership"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// Application error codes sent in CONNECTION_CLOSE.
const (
	codeShutdown  quic.ApplicationErrorCode = 0 // the transport is closing
	codeDuplicate quic.ApplicationErrorCode = 1 // the other connection to this peer was kept
	codeProtocol  quic.ApplicationErrorCode = 2 // a malformed OAP/1 frame; the description is the reason
	codeRefused   quic.ApplicationErrorCode = 3 // a bound (peers, connections per peer) was hit
	codeStreamEnd quic.ApplicationErrorCode = 4 // the peer ended its send stream
	codeStalled   quic.ApplicationErrorCode = 5 // nothing received for StallTimeout
	codeNotMember quic.ApplicationErrorCode = 6 // the dialer is not in the closed membership (SetMembers)
)

// Transport carries OAP/1 frames between nodes over QUIC. All methods are
// safe for concurrent use.
type Transport struct {
	cfg     Config
	id      proto.NodeID
	cert    tls.Certificate
	deliver func(from proto.NodeID, frame []byte)
	metrics env.Metrics
	log     *slog.Logger

	udp   *net.UDPConn
	qt    *quic.Transport
	ln    *quic.Listener
	qconf *quic.Config
	guard *SourceGuard // per-source limits and source-address validation
	// lookup resolves a configured peer's host name (tests replace it
	// before AddPeer).
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)

	ctx    context.Context // cancelled by Close; parent of every dial
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the transport started

	// members is the membership SetMembers installed (read through
	// memberSet); a Set never changes, SetMembers stores a new one.
	members atomic.Pointer[membership.Set]
	// refusedLog, refusedByLog and malformedLog pace the WARN lines
	// other nodes can cause (logpace.go).
	refusedLog, refusedByLog, malformedLog *logPacer

	mu        sync.Mutex
	closed    bool
	peers     map[proto.NodeID]*peer
	connected int // peers whose conn is set; the transport_connections gauge
}

// Listen binds cfg.ListenAddr and starts accepting connections. deliver is
// called from transport goroutines, one per connection, with frames in the
// order the peer sent them on that connection; it owns the frame slice. A
// slow deliver slows that peer down through QUIC flow control; it must not
// block forever, or Close cannot finish. deliver is never called after
// Close returns.
func Listen(cfg Config, deliver func(from proto.NodeID, frame []byte)) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, fmt.Errorf("%w: deliver is nil", ErrConfig)
	}
	id := proto.NodeIDFromPublicKey(cfg.Key.Public().(ed25519.PublicKey))
	cert, err := selfSignedCert(cfg.Key, id)
	if err != nil {
		return nil, err
	}
	udpAddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("quicnet: listen address %q: %w", cfg.ListenAddr, err)
	}
	udp, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("quicnet: listen on %s: %w", cfg.ListenAddr, err)
	}
	t := &Transport{
		cfg: cfg, id: id, cert: cert, deliver: deliver,
		metrics: cfg.Metrics, log: cfg.Logger.With("node", id.Short()),
		udp: udp, peers: make(map[proto.NodeID]*peer),
		qconf: quicConfig(cfg), lookup: net.DefaultResolver.LookupNetIP,
		refusedLog: newLogPacer(true), refusedByLog: newLogPacer(true), malformedLog: newLogPacer(false),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	silenceQuicGoBufferWarning()
	t.qt = &quic.Transport{Conn: udp, StatelessResetKey: statelessResetKey(cfg.Key)}
	t.guard = NewSourceGuard(EndpointPeer, cfg.ConnsPerSourceMax, t.metrics)
	t.guard.SetLogger(t.log)
	t.guard.SetConnsMax(cfg.ConnsMax, cfg.ConnsMax/connsReservedDivisor)
	t.guard.Install(t.qt)
	t.SetMembers(cfg.Members) // before the listener accepts anything
	t.ln, err = t.qt.Listen(serverTLS(cert, t.countHandshakeFail), t.qconf)
	if err != nil {
		t.cancel()
		_ = t.qt.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("quicnet: start QUIC listener: %w", err)
	}
	checkUDPBuffers(udp, t.log)
	t.metrics.Set(MetricConnections, "", 0)
	t.wg.Add(2)
	go t.acceptLoop()
	go func() {
		defer t.wg.Done()
		CountNonQUIC(t.ctx, t.qt, t.metrics)
	}()
	return t, nil
}

// quicConfig allows exactly one unidirectional stream from the peer (its
// frame stream) and no bidirectional ones, so a peer cannot make us hold
// state for streams we never read.
func quicConfig(cfg Config) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.IdleTimeout,
		KeepAlivePeriod:       cfg.KeepAlive,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: 1,
	}
}

// ID is this node's identity, BLAKE3 of Config.Key's public key.
func (t *Transport) ID() proto.NodeID { return t.id }

// Addr is the bound UDP address (useful with port 0).
func (t *Transport) Addr() net.Addr { return t.udp.LocalAddr() }

// AddPeer records addr ("host:port") as the address to dial for id,
// replacing an address learned from an inbound connection. A configured
// peer is never evicted from the address book. Its source addresses are
// entitled to the inbound connections reserved by Config.ConnsMax before
// the handshake: addr's IP addresses (a host name is looked up in the
// background, so AddPeer never waits on DNS), the address our last dials
// to it reached, and the addresses its own connections, proved by its
// NodeID, came from (see seenSourcesMax).
func (t *Transport) AddPeer(id proto.NodeID, addr string) {
	if id == t.id {
		t.drop(DropSelf, 1)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p := t.peerLocked(id)
	if p == nil {
		t.drop(DropPeersFull, 1)
		t.log.Warn("quicnet: address book full, peer not added", "peer", id.Short(), "peers_max", PeersMax)
		return
	}
	if p.addr != addr {
		p.sources = nil // until addr is looked up
	}
	p.addr, p.configured = addr, true
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		p.sources = []netip.Addr{ap.Addr()}
	} else {
		t.wg.Add(1)
		go t.resolveSources(p, addr)
	}
	t.guard.SetEntitledSources(t.configuredSourcesLocked())
}

// resolveTimeout bounds the look-up of a configured peer's host name.
const resolveTimeout = 2 * time.Second

// resolveSources looks addr's host up and, unless AddPeer has given p
// another address since, entitles its IP addresses. A name that does not
// resolve (a container not started yet) is logged; the peer still gets
// the addresses it is later seen at.
func (t *Transport) resolveSources(p *peer, addr string) {
	defer t.wg.Done()
	sources, err := t.lookupHost(addr)
	if err != nil {
		t.log.Warn("quicnet: peer address not resolved, no reserved room before its handshake until it is seen",
			"peer", p.id.Short(), "addr", addr, "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || p.addr != addr || !p.configured {
		return
	}
	p.sources = sources
	t.guard.SetEntitledSources(t.configuredSourcesLocked())
}

// lookupHost returns the IP addresses of addr ("host:port").
func (t *Transport) lookupHost(addr string) ([]netip.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, resolveTimeout)
	defer cancel()
	return t.lookup(ctx, "ip", host)
}

// seenSourcesMax bounds the addresses a configured peer is entitled from
// for having been seen there (its connections proved by NodeID, our
// dials to it): the last ones win, so a recreated container's new
// address replaces its old ones, and a member cannot entitle more than a
// few hosts.
const seenSourcesMax = 4

// sawPeerAt records that configured peer or member (SetMembers) id was
// reached at, or connected from, src: src becomes entitled (see
// seenSourcesMax). Other peers are ignored; a member not configured is
// remembered once its peer entry exists, so the accept loop calls it
// again after adopt.
func (t *Transport) sawPeerAt(id proto.NodeID, src netip.Addr) {
	if !src.IsValid() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil || t.closed {
		return
	}
	if !p.configured && !t.memberSet().Lists(id) {
		return
	}
	if i := slices.Index(p.seen, src); i >= 0 {
		if i == len(p.seen)-1 {
			return // already the latest: nothing changes
		}
		p.seen = slices.Delete(p.seen, i, i+1)
	}
	p.seen = append(p.seen, src)
	if len(p.seen) > seenSourcesMax {
		p.seen = slices.Delete(p.seen, 0, len(p.seen)-seenSourcesMax)
	}
	t.guard.SetEntitledSources(t.configuredSourcesLocked())
}

// configuredSourcesLocked lists the addresses of every configured peer,
// and those members (SetMembers) were seen at.
func (t *Transport) configuredSourcesLocked() []netip.Addr {
	var sources []netip.Addr
	members := t.memberSet()
	for _, p := range t.peers { // map order ok: the guard makes a set of them
		if p.configured || members.Lists(p.id) {
			sources = append(sources, p.sources...)
			sources = append(sources, p.seen...)
		}
	}
	return sources
}

// Send queues a copy of frame for to and returns at once. The frame must
// be one whole, valid OAP/1 frame (else it is dropped as malformed: one bad
// frame would otherwise make the receiver close the connection). Delivery
// is best effort, like a datagram: frames are dropped and counted when the
// queue is full, the peer is unreachable or the connection fails.
func (t *Transport) Send(to proto.NodeID, frame []byte) {
	if _, err := oap.Decode(frame); err != nil {
		t.drop(DropMalformed, 1)
		t.log.Debug("quicnet: dropping malformed outgoing frame", "peer", to.Short(), "err", err)
		return
	}
	if to == t.id {
		t.drop(DropSelf, 1)
		return
	}
	if injectedDrop(FailpointSend) {
		t.drop(DropInjected, 1)
		return
	}
	owned := bytes.Clone(frame)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.drop(DropClosed, 1)
		return
	}
	p := t.peers[to]
	if p == nil || (p.conn == nil && p.addr == "") {
		t.drop(DropNoAddr, 1)
		return
	}
	full, overBytes := p.queue.push(owned)
	if full > 0 {
		t.drop(DropQueueFull, full)
	}
	if overBytes > 0 {
		t.drop(DropQueueBytes, overBytes)
	}
	if p.conn != nil {
		p.conn.signal()
		return
	}
	t.maybeDialLocked(p)
}

// Close closes every connection (telling peers), stops listening, and
// waits for every transport goroutine to end. Queued frames are dropped
// uncounted. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	var conns []*quic.Conn
	for _, id := range env.SortedKeysFunc(t.peers, proto.NodeID.Compare) {
		if pc := t.peers[id].conn; pc != nil {
			conns = append(conns, pc.conn)
		}
	}
	t.mu.Unlock()

	t.cancel()
	errListener := t.ln.Close()
	for _, conn := range conns {
		_ = conn.CloseWithError(codeShutdown, "shutdown")
	}
	errTransport := t.qt.Close()
	errUDP := t.udp.Close()
	t.wg.Wait()
	t.metrics.Set(MetricConnections, "", 0)
	if err := errors.Join(errListener, errTransport, errUDP); err != nil {
		return fmt.Errorf("quicnet: close: %w", err)
	}
	return nil
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			return // the listener or the transport was closed
		}
		id, err := peerNodeID(conn)
		if err != nil { // serverTLS already refused such a client
			t.countHandshakeFail(certFailReason(err))
			_ = conn.CloseWithError(codeRefused, "bad certificate")
			continue // closing ends it in the guard
		}
		members := t.memberSet()
		if !members.Admits(id) {
			t.refuseNonMember(conn, id)
			continue // closing ends it in the guard
		}
		entitled := t.configured(id) || members.Lists(id)
		if !t.guard.Admit(conn, entitled) {
			_ = conn.CloseWithError(codeRefused, "connections full")
			continue
		}
		t.adopt(conn, id, id, conn.RemoteAddr().String())
		if entitled { // after adopt, which makes a member's peer entry
			t.sawPeerAt(id, sourceOf(conn.RemoteAddr()))
		}
		// Counted in flight until adopt decided on it, so no handshakes
		// in flight means no accepted connection is still to be decided.
		t.guard.Accepted(conn)
	}
}

// SetMembers sets the closed membership: the only NodeIDs whose inbound
// connections are kept. A connection from any other NodeID is closed as
// soon as its handshake shows who dialed (application error codeNotMember,
// transport_handshake_fail_total{reason="not_member"}, its id logged at a
// bounded rate) before it takes a place in the address book or a frame of
// it is read; a member's connection may take the reserved room of
// Config.ConnsMax, as a configured peer's does, and the addresses it
// connects from become entitled to that room before their handshake (see
// sawPeerAt). ids nil or empty opens the membership again: every NodeID
// is admitted, and only configured peers have the reserve. This node's
// own id may be listed or not. Safe for concurrent use. The kept
// connection of a node outside a closed membership (one dropped from it)
// is closed at once (application error codeNotMember), unless the node is
// a configured peer (AddPeer), which this node dials itself.
func (t *Transport) SetMembers(ids []proto.NodeID) {
	set := membership.New(ids)
	t.members.Store(&set)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.guard.SetEntitledSources(t.configuredSourcesLocked())
	var dropped []*peerConn
	for _, id := range env.SortedKeysFunc(t.peers, proto.NodeID.Compare) {
		p := t.peers[id]
		if !set.Admits(id) && !p.configured && p.conn != nil { // open: drops no one
			dropped = append(dropped, p.conn)
		}
	}
	t.mu.Unlock()
	for _, pc := range dropped {
		t.log.Info("quicnet: closing the connection of a node no longer a member", "peer", pc.peer.id.String())
		_ = pc.conn.CloseWithError(codeNotMember, "not a member")
	}
}

// memberSet returns the membership SetMembers installed: open until
// then. Admits tells whom the transport serves, Lists whom it entitles to
// the reserved room (a member's, as a configured peer's).
func (t *Transport) memberSet() membership.Set {
	if set := t.members.Load(); set != nil {
		return *set
	}
	return membership.Set{}
}

// refuseNonMember closes an inbound connection from id, outside the
// closed membership, counting and logging it (paced: ids are free).
func (t *Transport) refuseNonMember(conn *quic.Conn, id proto.NodeID) {
	t.countHandshakeFail(FailNotMember)
	if ok, suppressed := t.refusedLog.due(id, time.Now()); ok {
		if suppressed > 0 {
			t.log.Warn("quicnet: more refused peers not logged", "suppressed", suppressed, "window", logWindow)
		}
		t.log.Warn("quicnet: refused peer "+id.String()+": not a member (transport); list it in members on this node if it belongs to the cluster",
			"peer", id.String(), "from", conn.RemoteAddr().String())
	}
	_ = conn.CloseWithError(codeNotMember, "not a member")
}

// configured reports whether id was added with AddPeer: such a peer may
// take the inbound connections reserved by Config.ConnsMax.
func (t *Transport) configured(id proto.NodeID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	return p != nil && p.configured
}

func (t *Transport) drop(reason string, n int) {
	t.metrics.Add(MetricDropped, reason, float64(n))
}

// countHandshakeFail counts a failed handshake under the endpoint, then
// the reason (SourceGuard.Fail's order).
func (t *Transport) countHandshakeFail(reason string) {
	t.metrics.Add(MetricHandshakeFailsByEndpoint, EndpointPeer, 1)
	t.metrics.Add(MetricHandshakeFails, reason, 1)
}
