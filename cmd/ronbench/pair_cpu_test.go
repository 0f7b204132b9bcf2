package main

import (
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestPairSmallGetCPU measures rond CPU per 1,000 4 KiB GETs (16
// connections, edge-cache hits) of two rond binaries started as --peers
// starts them, in 2 s phases taken in turn (the order flips every round),
// so that both builds see the same machine load; a busy shared machine
// moves one build's figure by 2x from one invocation to the next. It runs
// only when asked:
//
//	PAIR_OLD=/tmp/old/rond PAIR_NEW=bin/rond PAIR_ROUNDS=12 go test -run TestPairSmallGetCPU -v ./cmd/ronbench
func TestPairSmallGetCPU(t *testing.T) {
	bins := []string{os.Getenv("PAIR_OLD"), os.Getenv("PAIR_NEW")}
	if bins[0] == "" {
		t.Skip("set PAIR_OLD and PAIR_NEW to two rond binaries (and PAIR_ROUNDS)")
	}
	rounds, err := strconv.Atoi(os.Getenv("PAIR_ROUNDS"))
	if err != nil || rounds < 1 {
		rounds = 10
	}
	slice := 2 * time.Second
	scratch := t.TempDir()
	var systems []*byteSystem
	var urls [][]string
	body := randomBytes(smallBytes, 1)
	for i, b := range bins {
		s, err := startRondBytes(b, scratch, filepath.Join(scratch, "d"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.stop() }()
		systems = append(systems, s)
		c := newPeerClient()
		var us []string
		for j := range smallObjects {
			u, err := s.put(c, payload(body, 7, j))
			if err != nil {
				t.Fatal(err)
			}
			us = append(us, u)
		}
		urls = append(urls, us)
	}
	var cpu [2]time.Duration
	var reqs [2]int64
	var diffs []float64 // per round: new / old - 1 of CPU per GET
	for r := range rounds {
		var perK [2]float64
		for k := range 2 {
			i := (k + r) % 2
			s := systems[i]
			var n atomic.Int64
			c0, ok0 := processCPU(s.pid)
			loadPhase(byteConns, slice, func(_ int, c *http.Client, rr *rand.Rand) error {
				_, err := getURL(c, s, urls[i][rr.IntN(len(urls[i]))], "", smallBytes)
				if err == nil {
					n.Add(1)
				}
				return err
			})
			c1, ok1 := processCPU(s.pid)
			if !ok0 || !ok1 {
				t.Fatalf("round %d: cannot read the CPU time of pid %d", r, s.pid)
			}
			d := c1.sub(c0)
			cpu[i] += d.user + d.sys
			reqs[i] += n.Load()
			perK[i] = (d.user + d.sys).Seconds() / float64(max(n.Load(), 1)) * 1000
			t.Logf("round %d %s: %d GETs, %.3f CPU s per 1,000", r, []string{"old", "new"}[i], n.Load(), perK[i])
		}
		if perK[0] > 0 {
			diffs = append(diffs, perK[1]/perK[0]-1)
		}
	}
	mean, sd := meanSD(diffs)
	t.Logf("PAIRED new/old - 1 per round: mean %+.1f%%, standard error %.1f%% (%d rounds)", 100*mean, 100*sd/math.Sqrt(float64(len(diffs))), len(diffs))
	for i := range 2 {
		t.Logf("TOTAL %s: %d GETs, %.2f CPU s, %.4f CPU s per 1,000", []string{"old", "new"}[i], reqs[i], cpu[i].Seconds(), cpu[i].Seconds()/float64(reqs[i])*1000)
	}
}

func meanSD(xs []float64) (float64, float64) {
	if len(xs) < 2 {
		return 0, 0
	}
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sq / float64(len(xs)-1))
}
