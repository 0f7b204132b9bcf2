package real

import (
	"errors"
	"math"
	"net"
	"sync"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/sim/scenario"
)

// RelayPacketBytesMax is the largest UDP datagram a relay forwards (QUIC
// keeps its packets far below it).
const RelayPacketBytesMax = 64 << 10

// RelayDelayedMax bounds the packets a relay holds back for latency or
// reordering at once; over it, packets are dropped and counted.
const RelayDelayedMax = 4096

// netState is the network as the faults leave it: which directed links
// are cut, and the loss, duplication, reordering and latency every link
// sees. Relays read it for each packet; the fault timeline writes it.
type netState struct {
	mu     sync.Mutex
	cut    [][]bool // cut[from][to]
	net    scenario.Network
	counts relayCounts
}

// relayCounts are the packets the relays judged, by verdict.
type relayCounts struct {
	Forwarded  uint64 `json:"forwarded"`
	Cut        uint64 `json:"cut"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Shed       uint64 `json:"shed"`
}

func newNetState(nodes int, base scenario.Network) *netState {
	s := &netState{net: base, cut: make([][]bool, nodes)}
	for i := range s.cut {
		s.cut[i] = make([]bool, nodes)
	}
	return s
}

// setCuts replaces every cut: cut(from, to) says whether from's packets
// to to are dropped.
func (s *netState) setCuts(cut func(from, to int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.cut {
		for j := range s.cut[i] {
			s.cut[i][j] = i != j && cut(i, j)
		}
	}
}

func (s *netState) setNetwork(n scenario.Network) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.net = n
}

func (s *netState) snapshot() relayCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// verdict is what happens to one packet.
type verdict struct {
	drop   bool
	copies int
	delay  time.Duration
}

// judge decides one packet's fate on the link from -> to.
func (s *netState) judge(from, to int, rand *env.Rand) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut[from][to] {
		s.counts.Cut++
		return verdict{drop: true}
	}
	n := s.net
	if n.Loss > 0 && rand.Bool(n.Loss) {
		s.counts.Lost++
		return verdict{drop: true}
	}
	v := verdict{copies: 1, delay: latency(n.Latency, rand)}
	if n.Duplicate > 0 && rand.Bool(n.Duplicate) {
		v.copies = 2
		s.counts.Duplicated++
	}
	if n.Reorder > 0 && rand.Bool(n.Reorder) {
		// Held back behind the packets that follow it.
		v.delay += max(n.Latency.P99, 5*time.Millisecond)
		s.counts.Reordered++
	}
	s.counts.Forwarded++
	return v
}

// latency draws a log-normal delay with the given median and 99th
// percentile (0 when the scenario asks for none).
func latency(l scenario.Latency, rand *env.Rand) time.Duration {
	if l.P50 <= 0 {
		return 0
	}
	sigma := 0.0
	if l.P99 > l.P50 {
		sigma = math.Log(float64(l.P99)/float64(l.P50)) / 2.326
	}
	// Box-Muller from two uniform draws.
	u1, u2 := rand.Float64(), rand.Float64()
	if u1 < 1e-12 {
		u1 = 1e-12
	}
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return time.Duration(float64(l.P50) * math.Exp(sigma*z))
}

// relay carries one directed link's traffic: node from dials listen (its
// configured address for node to), and the relay forwards to to's QUIC
// address from an upstream socket per source, carrying replies back. A
// packet from the dialer is judged on the link from -> to, a reply on to
// -> from, so one-way cuts cut exactly one direction of every connection.
type relay struct {
	from, to int
	target   *net.UDPAddr
	listen   *net.UDPConn
	state    *netState

	mu       sync.Mutex
	rand     *env.Rand
	upstream map[string]*net.UDPConn // by source address
	delayed  int
	closed   bool
	wg       sync.WaitGroup
}

func newRelay(from, to int, target string, state *netState, rand *env.Rand) (*relay, error) {
	t, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	r := &relay{from: from, to: to, target: t, listen: l, state: state, rand: rand, upstream: map[string]*net.UDPConn{}}
	r.wg.Add(1)
	go r.serveDialer()
	return r, nil
}

// addr is where node from must be told node to lives.
func (r *relay) addr() string { return r.listen.LocalAddr().String() }

func (r *relay) serveDialer() {
	defer r.wg.Done()
	buf := make([]byte, RelayPacketBytesMax)
	for {
		n, src, err := r.listen.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up, err := r.upstreamFor(src)
		if err != nil {
			continue
		}
		r.forward(r.from, r.to, buf[:n], func(p []byte) { _, _ = up.Write(p) })
	}
}

// upstreamFor returns the socket that speaks to the target for src,
// opening it (and its reply loop) on first use.
func (r *relay) upstreamFor(src *net.UDPAddr) (*net.UDPConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	if up, ok := r.upstream[src.String()]; ok {
		return up, nil
	}
	up, err := net.DialUDP("udp", nil, r.target)
	if err != nil {
		return nil, err
	}
	r.upstream[src.String()] = up
	r.wg.Add(1)
	go r.serveReplies(up, src)
	return up, nil
}

func (r *relay) serveReplies(up *net.UDPConn, src *net.UDPAddr) {
	defer r.wg.Done()
	buf := make([]byte, RelayPacketBytesMax)
	for {
		n, err := up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ECONNREFUSED while the target is down
		}
		r.forward(r.to, r.from, buf[:n], func(p []byte) { _, _ = r.listen.WriteToUDP(p, src) })
	}
}

// forward applies the link's verdict to one packet.
func (r *relay) forward(from, to int, packet []byte, send func([]byte)) {
	r.mu.Lock()
	v := r.state.judge(from, to, r.rand)
	r.mu.Unlock()
	if v.drop {
		return
	}
	if v.delay <= 0 {
		for k := 0; k < v.copies; k++ {
			send(packet)
		}
		return
	}
	r.mu.Lock()
	if r.delayed >= RelayDelayedMax || r.closed {
		r.mu.Unlock()
		r.state.mu.Lock()
		r.state.counts.Shed++
		r.state.mu.Unlock()
		return
	}
	r.delayed++
	r.mu.Unlock()
	p := append([]byte(nil), packet...)
	time.AfterFunc(v.delay, func() {
		for k := 0; k < v.copies; k++ {
			send(p)
		}
		r.mu.Lock()
		r.delayed--
		r.mu.Unlock()
	})
}

// close stops the relay and waits for its goroutines (delayed packets
// still in timers are written to closed sockets and vanish).
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	ups := make([]*net.UDPConn, 0, len(r.upstream))
	for _, up := range r.upstream {
		ups = append(ups, up)
	}
	r.mu.Unlock()
	_ = r.listen.Close()
	for _, up := range ups {
		_ = up.Close()
	}
	r.wg.Wait()
}
