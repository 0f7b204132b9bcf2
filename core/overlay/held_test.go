package overlay

import (
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto/oap"
)

// A pong carries how long the ping was held; the encoding round-trips and a
// ping carries no such field.
func TestPongCarriesHeldTime(t *testing.T) {
	pong := message{kind: kindPong, seq: 7, held: uint64(1500 * time.Millisecond)}
	got, err := decodeMessage(oap.FlagRESP, pong.append(nil))
	if err != nil || got != pong {
		t.Fatalf("pong round trip: got %+v, %v; want %+v", got, err, pong)
	}
	ping := message{kind: kindPing, seq: 7, held: 99}
	got, err = decodeMessage(oap.FlagREQ, ping.append(nil))
	if err != nil || got.held != 0 || got.seq != 7 {
		t.Fatalf("ping round trip: got %+v, %v; a ping must not carry held", got, err)
	}
	// A pong without the held field is malformed.
	short := message{kind: kindPing, seq: 7}.append(nil)
	short[0] = byte(kindPong)
	if _, err := decodeMessage(oap.FlagRESP, short); err == nil {
		t.Fatal("a pong without its held field decoded")
	}
}
