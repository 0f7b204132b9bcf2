package runtime

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

func inboxPeer(i int) proto.NodeID {
	var id proto.NodeID
	id[0], id[1] = byte(i), 0xAA
	return id
}

// inboxFrame is a frame of peer i numbered seq, both readable back.
func inboxFrame(i, seq int) env.Message {
	return env.Message{From: inboxPeer(i), Frame: []byte{byte(seq), byte(seq >> 8)}}
}

func inboxSeq(m env.Message) int { return int(m.Frame[0]) | int(m.Frame[1])<<8 }

// TestInboxNewPeerDroppedWhenEveryHolderHasOneFrame: depth peers hold one
// frame each, so a new peer's frame is dropped (inboxFull) rather than
// evicting a holder's only frame, which gains no fairness and used to leave
// an empty queue in the service order: the next pop indexed past it and
// panicked outside any recover, killing the process.
func TestInboxNewPeerDroppedWhenEveryHolderHasOneFrame(t *testing.T) {
	const depth = 8
	b := newInbox(depth)
	for i := range depth {
		if v := b.push(inboxFrame(i, 0)); v != inboxQueued {
			t.Fatalf("peer %d: verdict %d, want queued", i, v)
		}
	}
	if v := b.push(inboxFrame(depth, 0)); v != inboxFull {
		t.Errorf("new peer with every holder at one frame: verdict %d, want inboxFull", v)
	}
	for i := range depth {
		m, ok := b.pop()
		if !ok || m.From != inboxPeer(i) {
			t.Fatalf("pop %d: %x, %v; want peer %d", i, m.From[:2], ok, i)
		}
	}
	if _, ok := b.pop(); ok {
		t.Fatal("pop of an empty inbox returned a frame")
	}
}

// inboxModel is the inbox's specification, with plain slices: per-peer FIFO
// queues, a service order of the peers with frames, the share rule, and
// eviction of the newest frame of the first (in service order) largest
// holder, only when that holder keeps at least as many frames as the sender
// then holds.
type inboxModel struct {
	depth int
	queue map[proto.NodeID][]env.Message
	turn  []proto.NodeID
	total int
}

func (m *inboxModel) push(msg env.Message) inboxVerdict {
	held, active := len(m.queue[msg.From]), len(m.queue)
	if held == 0 {
		active++
	}
	if held >= max(1, m.depth/max(InboxPeerSharePeersMin, active)) {
		return inboxPeerShare
	}
	verdict := inboxQueued
	if m.total >= m.depth {
		victim, most := proto.NodeID{}, 0
		for _, id := range m.turn {
			if n := len(m.queue[id]); n > most {
				victim, most = id, n
			}
		}
		if most < held+2 {
			return inboxFull
		}
		m.queue[victim] = m.queue[victim][:most-1]
		m.total--
		verdict = inboxEvicted
	}
	if held == 0 {
		m.turn = append(m.turn, msg.From)
	}
	m.queue[msg.From] = append(m.queue[msg.From], msg)
	m.total++
	return verdict
}

func (m *inboxModel) pop() (env.Message, bool) {
	if m.total == 0 {
		return env.Message{}, false
	}
	id := m.turn[0]
	m.turn = m.turn[1:]
	msg := m.queue[id][0]
	m.queue[id] = m.queue[id][1:]
	m.total--
	if len(m.queue[id]) == 0 {
		delete(m.queue, id)
	} else {
		m.turn = append(m.turn, id)
	}
	return msg, true
}

// TestInboxMatchesModel: random pushes and pops from many peers into a
// small inbox. The inbox never panics and agrees with the model on every
// verdict and every frame popped; independently of the model, frames of a
// peer come out in order, the inbox never holds more than its depth, a
// frame is refused as inboxFull only when no peer holds two frames more
// than its sender, an admitted frame leaves its sender within its share,
// notify holds a token whenever frames wait, and no more than idleMax
// emptied queues are kept.
func TestInboxMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		depth := rapid.IntRange(1, 12).Draw(t, "depth")
		peers := rapid.IntRange(1, 2*depth+2).Draw(t, "peers")
		b := newInbox(depth)
		b.idleMax = rapid.IntRange(0, 3).Draw(t, "idleMax")
		model := &inboxModel{depth: depth, queue: map[proto.NodeID][]env.Message{}}
		sent := make([]int, peers)   // frames pushed, per peer
		popped := make([]int, peers) // the next sequence number popped may not be below this
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) {
				i := rapid.IntRange(0, peers-1).Draw(t, "peer")
				msg := inboxFrame(i, sent[i])
				sent[i]++
				held, largest := len(model.queue[msg.From]), 0
				for _, q := range model.queue {
					largest = max(largest, len(q))
				}
				got, want := b.push(msg), model.push(msg)
				if got != want {
					t.Fatalf("push by peer %d holding %d: verdict %d, model %d", i, held, got, want)
				}
				if got == inboxFull && largest >= held+2 {
					t.Fatalf("peer %d holding %d refused while a peer holds %d", i, held, largest)
				}
				if got == inboxQueued || got == inboxEvicted {
					share := max(1, depth/max(InboxPeerSharePeersMin, len(model.queue)))
					if n := len(model.queue[msg.From]); n > share {
						t.Fatalf("peer %d admitted to %d frames, share %d", i, n, share)
					}
				}
			},
			"pop": func(t *rapid.T) {
				select {
				case <-b.notify: // as the loop: a token, then a pop
				default:
					if model.total > 0 {
						t.Fatalf("%d frames wait with no token in notify", model.total)
					}
				}
				got, ok := b.pop()
				want, wantOK := model.pop()
				if ok != wantOK || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("pop: %x/%v %v, model %x/%v %v", got.From[:1], got.Frame, ok, want.From[:1], want.Frame, wantOK)
				}
				if ok {
					i, seq := int(got.From[0]), inboxSeq(got)
					if seq < popped[i] {
						t.Fatalf("peer %d: frame %d popped after frame %d", i, seq, popped[i]-1)
					}
					popped[i] = seq + 1
				}
			},
			"": func(t *rapid.T) {
				b.mu.Lock()
				total, active, idle := b.total, b.active, len(b.peers)-b.active
				b.mu.Unlock()
				if total != model.total || total > depth {
					t.Fatalf("inbox holds %d frames, model %d, depth %d", total, model.total, depth)
				}
				if active != len(model.queue) || idle > b.idleMax {
					t.Fatalf("%d active and %d idle peers, model %d active, idle at most %d", active, idle, len(model.queue), b.idleMax)
				}
			},
		})
	})
}

// BenchmarkInbox: one frame pushed and popped per op, from one peer and
// from 16 peers (pushed one frame each, then popped): every push finds its
// peer's queue empty, the common case of a loop that keeps up.
func BenchmarkInbox(b *testing.B) {
	for _, peers := range []int{1, 16} {
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			box := newInbox(InboxDepthDefault)
			frames := make([]env.Message, peers)
			for i := range frames {
				frames[i] = inboxFrame(i, 0)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); {
				box.push(frames[i])
				if i++; i == peers {
					for range peers {
						<-box.notify // as the loop: a token, then a pop
						box.pop()
					}
					i = 0
				}
			}
		})
	}
}
