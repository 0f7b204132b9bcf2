package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one phase's outcome.
type result struct {
	op        string
	size      int
	workers   int
	ok, fails int
	bytes     int64
	wall      time.Duration
	latencies []time.Duration // successful requests only, sorted
	firstErr  string
}

// client is one worker's HTTP connection and tenant token.
type client struct {
	http  *http.Client
	token string
}

// newClients gives each worker its own transport (one keep-alive
// connection) and its own tenant's token.
func newClients(t *target, n int) ([]*client, error) {
	out := make([]*client, n)
	for i := range out {
		tok, err := t.token(fmt.Sprintf("bench-%d", i))
		if err != nil {
			return nil, err
		}
		tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
		out[i] = &client{http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, token: tok}
	}
	return out, nil
}

// run executes job(worker, i) for i in [0, count) on len(clients)
// workers until count jobs ran or limit passed. A job returns the bytes it
// moved or an error.
func run(op string, size int, clients []*client, count int, limit time.Duration,
	job func(c *client, i int) (int64, error)) result {
	var next atomic.Int64
	var mu sync.Mutex
	res := result{op: op, size: size, workers: len(clients)}
	start := time.Now()
	deadline := start.Add(limit)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				t0 := time.Now()
				n, err := job(c, i)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.fails++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				} else {
					res.ok++
					res.bytes += n
					res.latencies = append(res.latencies, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// stampBytes is the spacing of payload's stamps: below the smallest
// chunk storage makes, so every chunk holds at least one.
const stampBytes = 1 << 10

// payload is a worker's reusable body: random bytes with (seed, request
// number, offset) stamped at the start of every stampBytes, so every PUT
// stores a distinct object and no chunk of it repeats a chunk already
// stored (storage deduplicates chunks; a body stamped only in front would
// measure the dedup path for every chunk after the first).
func payload(buf []byte, seed uint64, i int) []byte {
	for off := 0; off+24 <= len(buf); off += stampBytes {
		binary.LittleEndian.PutUint64(buf[off:], seed)
		binary.LittleEndian.PutUint64(buf[off+8:], uint64(i))
		binary.LittleEndian.PutUint64(buf[off+16:], uint64(off))
	}
	return buf
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// put stores body and returns its address.
func (c *client) put(url string, body []byte) (string, error) {
	req, err := http.NewRequest(http.MethodPut, url+"/o", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("PUT: %d %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	var out struct {
		Addr string `json:"addr"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("PUT: answer %q: %w", raw, err)
	}
	return out.Addr, nil
}

// get reads the object whole and checks its length.
func (c *client) get(url, addr string, size int) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/o/"+addr, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET: %d", resp.StatusCode)
	}
	if n != int64(size) {
		return n, fmt.Errorf("GET: %d bytes, want %d", n, size)
	}
	return n, nil
}

// getRange reads bytes [off, off+n) of the object with a Range header and
// checks the answer is a 206 of exactly n bytes.
func (c *client) getRange(url, addr string, off, n int) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/o/"+addr, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return got, err
	}
	if resp.StatusCode != http.StatusPartialContent {
		return got, fmt.Errorf("GET range: %d", resp.StatusCode)
	}
	if got != int64(n) {
		return got, fmt.Errorf("GET range: %d bytes, want %d", got, n)
	}
	return got, nil
}

// quantile of sorted latencies (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}
