package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
)

// casBodyBytesMax bounds the answer ronbench reads to a name write.
const casBodyBytesMax = 4096

// casResult is the compare-and-set phase's outcome: result counts and
// times the successful sets; conflicts are 409s, each followed by a retry
// at the seq the 409 carried, with no read in between.
type casResult struct {
	result
	conflicts int
}

// casPhase claims names names, then runs compare-and-set writers on
// len(clients) connections for d, or until enough (when not nil) says the
// outcome so far suffices (tests: a starved machine may need far longer
// than a quiet one to see what they look for): each picks a name at random,
// signs its own idea of the name's seq plus one, and on a 409 takes the
// current_seq the answer carries (issue 15: a CAS retry needs no read).
// Every writer starts knowing nothing (seq 0), so the first rounds are
// mostly conflicts, as for real clients sharing names.
func casPhase(t *target, clients []*client, names int, d time.Duration, enough func(casResult) bool) (casResult, error) {
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, ed25519.SeedSize))
	ownerHex := hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	for i := range names {
		// Spread over the writers, whose tenants differ under --rond: each
		// tenant claims at most names_per_tenant names through a gateway.
		status, raw, err := clients[i%len(clients)].nameWrite(t.url, http.MethodPost, nameOf(i), fmt.Sprintf(`{"owner":%q}`, ownerHex))
		if err != nil || status != http.StatusCreated {
			return casResult{}, fmt.Errorf("ronbench: claiming %s: %d %s %v", nameOf(i), status, raw, err)
		}
	}
	var mu sync.Mutex
	res := casResult{result: result{op: "CAS", workers: len(clients)}}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	var done atomic.Bool // enough said so
	for k, c := range clients {
		wg.Go(func() {
			known := make([]uint64, names) // this writer's idea of each name's seq
			pick := rand.New(rand.NewPCG(uint64(k), uint64(start.UnixNano())))
			for !done.Load() && time.Now().Before(deadline) {
				n := pick.IntN(names)
				seq := known[n] + 1
				target := proto.AddrOf(fmt.Appendf(nil, "%d/%d/%d", k, n, seq))
				sig := ed25519.Sign(owner, registry.SetSigningBytes(nameOf(n), target, seq))
				body := fmt.Sprintf(`{"target":%q,"seq":%d,"owner":%q,"sig":%q}`, target, seq, ownerHex, hex.EncodeToString(sig))
				t0 := time.Now()
				status, raw, err := c.nameWrite(t.url, http.MethodPut, nameOf(n), body)
				elapsed := time.Since(t0)
				var conflict gateway.ConflictEnvelope
				switch {
				case err == nil && status == http.StatusOK:
					known[n] = seq
				case err == nil && status == http.StatusConflict && json.Unmarshal(raw, &conflict) == nil && conflict.CurrentSeq >= seq:
					known[n] = conflict.CurrentSeq // retry from here, no read
				default:
					if err == nil {
						err = fmt.Errorf("PUT name: %d %s", status, bytes.TrimSpace(raw))
					}
				}
				mu.Lock()
				switch {
				case err != nil:
					res.fails++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				case status == http.StatusOK:
					res.ok++
					res.latencies = append(res.latencies, elapsed)
				default:
					res.conflicts++
				}
				if enough != nil && enough(res) {
					done.Store(true)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.latencies)
	return res, nil
}

// casReport prints the phase's row and its conflict count.
func casReport(w io.Writer, names int, r casResult) {
	report(w, r.result)
	fmt.Fprintf(w, "\nCAS on %d names, %d writers: %d successes (%.0f/s), %d conflicts answered with current_seq (retried without a read), %d failures\n",
		names, r.workers, r.ok, float64(r.ok)/r.wall.Seconds(), r.conflicts, r.fails)
}

// nameOf is the name of the CAS phase's i-th name.
func nameOf(i int) string { return fmt.Sprintf("cas-%d.bench", i) }

// nameWrite sends a name claim (POST) or set (PUT) and returns the status
// and the start of the answer.
func (c *client) nameWrite(url, method, name, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url+"/names/"+name, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, casBodyBytesMax))
	return resp.StatusCode, raw, nil
}
