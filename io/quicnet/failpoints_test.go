package quicnet

import (
	"testing"

	"github.com/pingcap/failpoint"
)

// TestFailpointsDropFrames: with the send failpoint on, a's frames are
// dropped before they are queued and counted as injected; with the
// receive failpoint on, b reads them off the connection and drops them
// before delivery; off again, frames flow.
func TestFailpointsDropFrames(t *testing.T) {
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	a.AddPeer(b.ID(), b.Addr().String())
	a.Send(b.ID(), testFrame(1, 0, 10))
	waitFor(t, "the first frame", func() bool { return b.in.len() == 1 })

	if err := failpoint.Enable(FailpointSend, "return(true)"); err != nil {
		t.Fatal(err)
	}
	a.Send(b.ID(), testFrame(1, 1, 10))
	if err := failpoint.Disable(FailpointSend); err != nil {
		t.Fatal(err)
	}
	if got := a.metrics.get(MetricDropped, DropInjected); got != 1 {
		t.Fatalf("send failpoint: dropped{injected} = %v, want 1", got)
	}
	if got := a.metrics.get(MetricFrames, DirSend); got != 1 {
		t.Fatalf("send failpoint: %v frames sent, want only the first", got)
	}

	if err := failpoint.Enable(FailpointReceive, "return(true)"); err != nil {
		t.Fatal(err)
	}
	a.Send(b.ID(), testFrame(1, 2, 10))
	waitFor(t, "b to drop the frame it read", func() bool { return b.metrics.get(MetricDropped, DropInjected) == 1 })
	if err := failpoint.Disable(FailpointReceive); err != nil {
		t.Fatal(err)
	}
	if b.in.len() != 1 {
		t.Fatalf("b delivered %d frames, want only the first", b.in.len())
	}
	a.Send(b.ID(), testFrame(1, 3, 10))
	waitFor(t, "a frame once both are off", func() bool { return b.in.len() == 2 })
}
