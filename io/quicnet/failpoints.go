package quicnet

import "github.com/pingcap/failpoint"

// Failpoints on the peer path (pingcap/failpoint, evaluated directly with
// failpoint.Eval, no code rewriting), for fault injection on real
// processes (sim/real: ronsim real --failpoint). They are off unless a
// test enables them or the process runs with GO_FAILPOINTS /
// GO_FAILPOINTS_HTTP. Terms:
//
//	return(true)   drop the frame, counted under DropInjected
//	sleep(50)      delay it by 50 ms (Send: the caller waits; receive:
//	               the connection's reader waits, so the peer's frames
//	               queue behind it)
//
// with failpoint's modifiers ("10%return(true)").
const (
	failpointPrefix = "github.com/ron-network/ron/io/quicnet/"
	// FailpointSend guards every frame Send queues.
	FailpointSend = failpointPrefix + "send"
	// FailpointReceive guards every frame read from a peer before it is
	// delivered.
	FailpointReceive = failpointPrefix + "receive"
)

// DropInjected is the transport_dropped_total reason of a frame a
// failpoint dropped.
const DropInjected = "injected"

// injectedDrop evaluates failpoint name: true when the frame must go.
func injectedDrop(name string) bool {
	v, err := failpoint.Eval(name)
	return err == nil && v == true
}
