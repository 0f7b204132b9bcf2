package quicnet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
)

// The queue against a model: after any sequence of pushes, drains and
// takes it holds the newest frames that fit both its bounds, in order, and
// push reports exactly the frames it pushed out, by bound.
func TestFrameQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		depth := rapid.IntRange(1, 8).Draw(t, "depth")
		bytesMax := rapid.IntRange(1, 64).Draw(t, "bytesMax")
		q := newFrameQueue(depth, bytesMax)
		var model [][]byte
		size := func() int {
			n := 0
			for _, f := range model {
				n += len(f)
			}
			return n
		}
		next := byte(0)
		check := func(t *rapid.T, got [][]byte, want [][]byte) {
			if len(got) != len(want) {
				t.Fatalf("got %d frames, model %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d is %v, model %v", i, got[i], want[i])
				}
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) {
				frame := bytes.Repeat([]byte{next}, rapid.IntRange(1, 80).Draw(t, "len"))
				next++
				full, overBytes := q.push(frame)
				wantFull, wantBytes := 0, 0
				if len(frame) > bytesMax {
					wantBytes, model = len(model)+1, nil
				} else {
					if len(model) == depth {
						model, wantFull = model[1:], 1
					}
					for size()+len(frame) > bytesMax {
						model, wantBytes = model[1:], wantBytes+1
					}
					model = append(model, frame)
				}
				if full != wantFull || overBytes != wantBytes {
					t.Fatalf("push dropped %d+%d, model %d+%d", full, overBytes, wantFull, wantBytes)
				}
			},
			"drain": func(t *rapid.T) {
				check(t, q.drain(), model)
				model = nil
			},
			"take": func(t *rapid.T) {
				limit := rapid.IntRange(1, 64).Draw(t, "limit")
				n, sum := 0, 0
				for n < len(model) && (n == 0 || sum+len(model[n]) <= limit) {
					sum += len(model[n])
					n++
				}
				check(t, q.take(limit), model[:n])
				model = model[n:]
			},
			"": func(t *rapid.T) {
				if q.len() != len(model) || q.bytes != size() {
					t.Fatalf("len %d bytes %d, model %d bytes %d", q.len(), q.bytes, len(model), size())
				}
			},
		})
	})
}

// Whatever order the two connections of a simultaneous open arrive in at
// either end, both ends keep the same one: the one dialed by the lower id.
// Two connections from the same dialer: the newer wins. A dial from the
// peer long after ours was adopted wins too.
func TestDuplicateRuleAgreesOnBothEnds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seedA := rapid.SliceOfN(rapid.Byte(), ed25519.SeedSize, ed25519.SeedSize).Draw(t, "seedA")
		seedB := rapid.SliceOfN(rapid.Byte(), ed25519.SeedSize, ed25519.SeedSize).Draw(t, "seedB")
		a := &Transport{id: testID(ed25519.NewKeyFromSeed(seedA))}
		b := &Transport{id: testID(ed25519.NewKeyFromSeed(seedB))}
		if a.id == b.id {
			t.Skip("same key")
		}
		lower := a.id
		if b.id.Compare(a.id) < 0 {
			lower = b.id
		}
		// kept returns the connection tr keeps (by its dialer) after
		// seeing first, then second; the peer entry is tr's view of other.
		kept := func(tr *Transport, other proto.NodeID, first, second proto.NodeID) proto.NodeID {
			p := &peer{id: other}
			existing := &peerConn{peer: p, dialer: first, since: time.Now()}
			fresh := &peerConn{peer: p, dialer: second}
			if tr.keepsExisting(existing, fresh) {
				return existing.dialer
			}
			return fresh.dialer
		}
		for _, order := range [][2]proto.NodeID{{a.id, b.id}, {b.id, a.id}} {
			if got := kept(a, b.id, order[0], order[1]); got != lower {
				t.Fatalf("a keeps the connection dialed by %s, want %s", got.Short(), lower.Short())
			}
			if got := kept(b, a.id, order[0], order[1]); got != lower {
				t.Fatalf("b keeps the connection dialed by %s, want %s", got.Short(), lower.Short())
			}
		}
		p := &peer{id: b.id}
		if a.keepsExisting(&peerConn{peer: p, dialer: b.id}, &peerConn{peer: p, dialer: b.id}) {
			t.Fatal("a reconnect from the same dialer did not replace the old connection")
		}
		// Past the simultaneous-open window, a dial from the peer replaces
		// the connection we dialed: the peer lost it.
		stale := &peerConn{peer: p, dialer: a.id, since: time.Now().Add(-2 * SimultaneousOpenWindow)}
		if a.keepsExisting(stale, &peerConn{peer: p, dialer: b.id}) {
			t.Fatal("a kept its stale connection over the peer's new dial")
		}
	})
}

// A peer that never answers: Send never blocks, the queue keeps the newest
// SendQueueDepthMax frames and counts the rest, and after the last dial
// attempt the queue itself is dropped and counted.
func TestQueueBoundWhenPeerUnreachable(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	const depth, extra = 8, 5
	a := startNode(t, 1, func(c *Config) {
		c.SendQueueDepthMax = depth
		c.HandshakeTimeout = 200 * time.Millisecond
	})
	gone := testID(testKey(77))
	a.AddPeer(gone, silent.LocalAddr().String())
	for i := range depth + extra {
		a.Send(gone, testFrame(1, uint64(i), 16))
	}
	if got := a.metrics.get(MetricDropped, DropQueueFull); got != extra {
		t.Fatalf("dropped{queue_full} = %v, want %d", got, extra)
	}
	waitFor(t, "the queue to be dropped as unreachable", func() bool {
		return a.metrics.get(MetricDropped, DropUnreachable) == depth
	})
	if got := a.metrics.get(MetricHandshakeFails, FailTimeout); got != DialAttemptsMax {
		t.Errorf("handshake_fail{timeout} = %v, want %d", got, DialAttemptsMax)
	}
	if got := a.metrics.get(MetricFrames, DirSend); got != 0 {
		t.Errorf("frames sent = %v to a silent peer", got)
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{Key: testKey(1), ListenAddr: "127.0.0.1:0"}
	cases := map[string]func(*Config){
		"Key":               func(c *Config) { c.Key = c.Key[:10] },
		"ListenAddr":        func(c *Config) { c.ListenAddr = "" },
		"IdleTimeout":       func(c *Config) { c.IdleTimeout = -time.Second },
		"KeepAlive":         func(c *Config) { c.KeepAlive = -time.Second },
		"HandshakeTimeout":  func(c *Config) { c.HandshakeTimeout = -time.Second },
		"SendQueueDepthMax": func(c *Config) { c.SendQueueDepthMax = -1 },
		"ConnsPerPeerMax":   func(c *Config) { c.ConnsPerPeerMax = 1 },
		"ConnsPerSourceMax": func(c *Config) { c.ConnsPerSourceMax = -1 },
		"ConnsMax":          func(c *Config) { c.ConnsMax = -1 },
	}
	for setting, edit := range cases {
		cfg := good
		edit(&cfg)
		_, err := Listen(cfg, func(proto.NodeID, []byte) {})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), setting) {
			t.Errorf("%s: %v, want ErrConfig naming the setting", setting, err)
		}
	}
	if _, err := Listen(good, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil deliver: %v, want ErrConfig", err)
	}
	cfg, err := good.withDefaults()
	if err != nil || cfg.SendQueueDepthMax != SendQueueDepthDefault || cfg.ConnsPerPeerMax != ConnsPerPeerDefault || cfg.ConnsMax != ConnsDefault ||
		cfg.IdleTimeout != IdleTimeoutDefault || cfg.KeepAlive != KeepAliveDefault || cfg.HandshakeTimeout != HandshakeTimeoutDefault {
		t.Errorf("defaults not applied: %+v, %v", cfg, err)
	}
}

// Limits relate as the code assumes.
func TestLimitRelations(t *testing.T) {
	if ConnsPerPeerDefault < ConnsPerPeerMin {
		t.Error("the default connection cap is below the minimum")
	}
	if KeepAliveDefault >= IdleTimeoutDefault {
		t.Error("keep-alives must come before the idle timeout")
	}
	if DialBackoffMin > DialBackoffMax || DialAttemptsMax < 1 {
		t.Error("dial backoff bounds are inconsistent")
	}
	// The room left for unconfigured peers holds a kept connection and a
	// duplicate for every session the overlay may have.
	if ConnsDefault-ConnsDefault/connsReservedDivisor < ConnsPerPeerMin*overlay.PeersMax {
		t.Errorf("ConnsDefault %d leaves too little room for %d overlay peers", ConnsDefault, overlay.PeersMax)
	}
	if ConnsDefault/connsReservedDivisor < ConnsPerPeerMin {
		t.Error("the reserved room does not hold one configured peer")
	}
}

func TestBufferWarning(t *testing.T) {
	if _, warn := bufferWarning(UDPBufferBytesWanted, UDPBufferBytesWanted); warn {
		t.Error("warned about buffers of the wanted size")
	}
	for _, sizes := range [][2]int{{212992, UDPBufferBytesWanted}, {UDPBufferBytesWanted, 212992}} {
		msg, warn := bufferWarning(sizes[0], sizes[1])
		if !warn || !strings.Contains(msg, "sysctl -w net.core.rmem_max") {
			t.Errorf("buffers %v: warn %v, message %q", sizes, warn, msg)
		}
	}
}

// A socket whose buffers cannot reach the wanted size is reported once,
// through the configured slog logger, with the sysctl fix.
func TestSmallSocketBuffersAreLoggedOnce(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if _, _, err := socketBufferBytes(conn); err != nil {
		t.Skipf("socket buffers not inspectable here: %v", err)
	}
	var logged lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	bufferWarningOnce = sync.Once{}
	checkUDPBuffers(conn, logger)
	checkUDPBuffers(conn, logger)
	if out := logged.String(); strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "sysctl -w net.core.rmem_max") {
		t.Errorf("want exactly one warning with the sysctl fix, got:\n%s", out)
	}
}
