package fuzz

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// FuzzGatewayRequest sends an HTTP request (method, path, one header, a
// body; with or without the root token) through the gateway handler into
// a running single-replica node. Whatever the request, the gateway answers
// with a valid status and never with 500 (an internal error is a bug:
// every failure the world can cause has its own status), and the process
// does not panic.
func FuzzGatewayRequest(f *testing.F) {
	f.Add("PUT", "/o", "Content-Type", "text/plain", []byte("hello"), true)
	f.Add("GET", "/o/"+proto.AddrOf([]byte("hello")).String(), "Range", "bytes=1-3", []byte(nil), true)
	f.Add("HEAD", "/o/"+proto.AddrOf([]byte("x")).String(), "If-None-Match", `"x"`, []byte(nil), false)
	f.Add("POST", "/names/a", "Content-Type", "application/json", []byte(`{"target":"`+proto.AddrOf(nil).String()+`"}`), true)
	f.Add("GET", "/names/a", "", "", []byte(nil), true)
	f.Add("PUT", "/o", "Content-Type", "multipart/form-data; boundary=x", []byte("--x\r\n\r\nbody\r\n--x--\r\n"), true)
	f.Add("DELETE", "/o/zz", "Authorization", "Bearer junk", []byte(nil), false)
	f.Add("GET", "/healthz", "", "", []byte(nil), false)
	rt := startNode(f, nodeKey(3), nil)
	g, root := newGateway(f, rt)
	waitReady(f, rt)
	f.Fuzz(func(t *testing.T, method, path, hname, hvalue string, body []byte, auth bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://node"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request net/http would deliver
		}
		if hname != "" {
			req.Header.Set(hname, hvalue)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+root)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code < 100 || rec.Code > 599 {
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s (%s: %q, %d body bytes): internal error: %s", method, path, hname, hvalue, len(body), rec.Body.String())
		}
	})
}
