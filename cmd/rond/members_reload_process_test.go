package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

// TestProcessMembersReload: node A of a 2-node cluster refuses a stranger
// (not_member). Its config file then lists the stranger (and changes
// edge_cache_bytes) and A gets SIGHUP: A serves the stranger, logs the
// membership change and that edge_cache_bytes needs a restart, and its
// cluster_members gauge goes from 2 to 3. An invalid member is logged
// with the setting and its value and changes nothing; a file that lists
// the stranger no more makes A close its connection and refuse its next
// one. Before the reload, members
// was read at start only and A refused the stranger until restarted.
func TestProcessMembersReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	file := filepath.Join(t.TempDir(), "rond.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("members: []\n")
	nodes := newClusterWith(t, 2, func(n *procNode) {
		if n.name == "A" {
			n.extra = []string{"--config", file}
		}
	})
	a := nodes[0]
	aID, err := proto.ParseNodeID(a.id)
	if err != nil {
		t.Fatal(err)
	}
	held, err := proto.ParseAddr(putObject(t, a, randomBytes(t, 4000)))
	if err != nil {
		t.Fatal(err)
	}
	s := newStranger(t, storageReply)
	s.tr.AddPeer(aID, a.quic)
	corr := uint64(0)
	fetch := func() uint64 {
		corr++
		return s.ask(t, aID, corr, peerFrame(corr, peerKindFetch, held, 0, nil))
	}
	hup := func() {
		t.Helper()
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	logged := func(what string, parts ...string) {
		t.Helper()
		waitFor(t, keyReloadWait, what, func() bool {
			for _, line := range strings.Split(a.logs.String(), "\n") {
				all := true
				for _, p := range parts {
					all = all && strings.Contains(line, p)
				}
				if all {
					return true
				}
			}
			return false
		})
	}
	// Before the reload the transport refuses the stranger right after its
	// handshake; after it, the transport and every service take it.
	refusedByTransport(t, a, s.tr, func() {
		corr++
		s.tr.Send(aID, peerFrame(corr, peerKindFetch, held, 0, nil))
	}, func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.replies)
	})
	eventuallyMetric(t, a, metricMembers+" 2")

	write(fmt.Sprintf("members: [%s]\nedge_cache_bytes: 1MiB\n", s.id))
	hup()
	eventually(t, keyReloadWait, "A to serve the stranger after the reload", func() (bool, string) {
		st := fetch()
		return st == peerStatusOK, fmt.Sprintf("status %d", st)
	})
	logged("the membership change logged", "membership changed", "members=3", s.id.String())
	logged("edge_cache_bytes named as needing a restart", "needs a restart", "setting=edge_cache_bytes")
	eventuallyMetric(t, a, metricMembers+" 3")

	write("members: [not-a-node-id]\n")
	hup()
	logged("the invalid member logged", "membership stays", "members", "not-a-node-id")
	if st := fetch(); st != peerStatusOK {
		t.Fatalf("the stranger's fetch after an invalid reload: status %d, want %d (the membership kept)", st, peerStatusOK)
	}
	eventuallyMetric(t, a, metricMembers+" 3")

	// Dropped again: the transport closes its kept connection at once and
	// refuses the next one it dials (not_member counted again).
	const notMember = `transport_handshake_fail_total{reason="not_member"}`
	refusals, _ := scrapeMetric(t, a, notMember)
	write("members: []\n")
	hup()
	logged("the dropped stranger's connection closed", "closing the connection of a node no longer a member", s.id.String())
	eventually(t, keyReloadWait, "A's transport to refuse the stranger's next connection", func() (bool, string) {
		corr++
		s.tr.Send(aID, peerFrame(corr, peerKindFetch, held, 0, nil))
		time.Sleep(pollInterval)
		n, _ := scrapeMetric(t, a, notMember)
		return n > refusals, fmt.Sprintf("not_member %v, was %v", n, refusals)
	})
	eventuallyMetric(t, a, metricMembers+" 2")
}

// eventuallyMetric polls /metrics until it holds line: the gauge is set
// once every service took the new membership, a moment after the first
// one starts refusing or serving.
func eventuallyMetric(t *testing.T, n *procNode, line string) {
	t.Helper()
	eventually(t, keyReloadWait, "/metrics to hold "+line, func() (bool, string) {
		code, body := n.do(t, "GET", "/metrics", nil, false)
		for _, l := range strings.Split(string(body), "\n") {
			if l == line {
				return true, ""
			}
		}
		return false, fmt.Sprintf("/metrics (%d) lacks it", code)
	})
}
