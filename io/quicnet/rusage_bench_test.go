//go:build unix

package quicnet

import (
	"syscall"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

type rusage struct {
	switches int64 // voluntary and involuntary context switches
	cpu      int64 // user and system time, ns
}

func rusageNow() rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return rusage{}
	}
	return rusage{
		switches: int64(ru.Nvcsw + ru.Nivcsw),
		cpu:      ru.Utime.Nano() + ru.Stime.Nano(),
	}
}

// startNodeDeliver is startNode with a deliver callback of the caller's.
func startNodeDeliver(t testing.TB, seed byte, deliver func(proto.NodeID, []byte)) *Transport {
	t.Helper()
	tr, err := Listen(Config{Key: testKey(seed), ListenAddr: "127.0.0.1:0"}, deliver)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}
