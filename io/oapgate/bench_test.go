package oapgate_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
)

// BenchmarkPutGet compares one client's sequential PUTs and GETs over
// OAP/1 with the same requests over HTTP/1.1 (loopback TCP), against one
// in-process node (pebble in memory) and gateway, the quota out of the
// way. Every PUT stores a distinct object; GETs read one stored object.
func BenchmarkPutGet(b *testing.B) {
	f := newFixture(b, false, gateway.AdmissionConfig{TenantRate: 1e9, TenantBurst: 1e9})
	httpSrv := httptest.NewServer(f.gw)
	b.Cleanup(httpSrv.Close)
	transports := []struct {
		name, base string
		client     *http.Client
	}{
		{"oap", "oap://node", f.http},
		{"http", httpSrv.URL, httpSrv.Client()},
	}
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		data := bytes.Repeat([]byte{0x5a}, size)
		addr := proto.AddrOf(data).String()
		f.put(data)
		for _, tr := range transports {
			b.Run(fmt.Sprintf("%s/put/%dKiB", tr.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				body := bytes.Clone(data)
				var n uint64
				for b.Loop() {
					n++
					binary.BigEndian.PutUint64(body, n) // a new object each time
					benchDo(b, tr.client, "PUT", tr.base+"/o", body, f.root, http.StatusCreated)
				}
			})
			b.Run(fmt.Sprintf("%s/get/%dKiB", tr.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					benchDo(b, tr.client, "GET", tr.base+"/o/"+addr, nil, f.root, http.StatusOK)
				}
			})
		}
	}
}

func benchDo(b *testing.B, client *http.Client, method, url string, body []byte, token string, want int) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}
