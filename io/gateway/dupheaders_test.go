package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ron-network/ron/io/gateway"
)

// TestDuplicateSingletonHeadersRefused: a request carrying Authorization,
// Range or If-Range twice is a 400 naming the header, whichever copy is
// valid, since a proxy reading the
// last copy would judge another request than the gateway reading the
// first. If-None-Match twice (a list) is still served.
func TestDuplicateSingletonHeadersRefused(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("0123456789"))
	send := func(method, path string, body []byte, hdr [][2]string) resp {
		t.Helper()
		req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range hdr {
			req.Header.Add(kv[0], kv[1])
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return resp{r, b}
	}
	valid, garbage := [2]string{"Authorization", "Bearer " + f.root}, [2]string{"Authorization", "Bearer garbage"}
	for _, c := range []struct {
		name, method, path, header string
		hdr                        [][2]string
	}{
		{"auth valid then garbage", "PUT", "/o", "Authorization", [][2]string{valid, garbage}},
		{"auth garbage then valid", "PUT", "/o", "Authorization", [][2]string{garbage, valid}},
		{"two ranges", "GET", "/o/" + addr, "Range", [][2]string{valid, {"Range", "bytes=0-1"}, {"Range", "bytes=5-9"}}},
		{"two if-ranges", "GET", "/o/" + addr, "If-Range", [][2]string{valid, {"Range", "bytes=0-1"}, {"If-Range", `"x"`}, {"If-Range", `"y"`}}},
	} {
		env := wantError(t, send(c.method, c.path, []byte("fresh bytes "+c.name), c.hdr), http.StatusBadRequest, gateway.CodeBadRequest)
		if !strings.Contains(env.Message, c.header) || !strings.Contains(env.Message, "2 times") {
			t.Fatalf("%s: %+v, want the header named", c.name, env)
		}
	}
	// A list header twice is a legal request.
	r := send("GET", "/o/"+addr, nil, [][2]string{valid, {"If-None-Match", `"a"`}, {"If-None-Match", `"b"`}})
	if r.StatusCode != http.StatusOK || string(r.body) != "0123456789" {
		t.Fatalf("two If-None-Match: %d %s", r.StatusCode, r.body)
	}
}

// TestListHeadersCombineFieldLines: If-Match and If-None-Match are lists,
// and RFC 9110 5.3 makes several field lines of a list one list: the
// object's tag on the second line counts as much as on the first. On the
// code before, only the first line was read: If-None-Match gave 200
// instead of 304, and If-Match 412 instead of 200.
func TestListHeadersCombineFieldLines(t *testing.T) {
	f := newFixture(t, gateway.AdmissionConfig{}, 0)
	addr := f.put([]byte("0123456789"))
	tag := `"` + addr + `"`
	for _, c := range []struct {
		name   string
		hdr    [][2]string
		status int
	}{
		{"If-None-Match tag on line two", [][2]string{{"If-None-Match", `"x"`}, {"If-None-Match", tag}}, http.StatusNotModified},
		{"If-None-Match tag on line one", [][2]string{{"If-None-Match", tag}, {"If-None-Match", `"x"`}}, http.StatusNotModified},
		{"If-None-Match neither line", [][2]string{{"If-None-Match", `"x"`}, {"If-None-Match", `"y", W/"z"`}}, http.StatusOK},
		{"If-Match tag on line two", [][2]string{{"If-Match", `"x"`}, {"If-Match", tag}}, http.StatusOK},
		{"If-Match neither line", [][2]string{{"If-Match", `"x"`}, {"If-Match", `"y"`}}, http.StatusPreconditionFailed},
	} {
		req, err := http.NewRequest("GET", f.srv.URL+"/o/"+addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range c.hdr {
			req.Header.Add(kv[0], kv[1])
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, r.StatusCode, b, c.status)
		}
		if c.status == http.StatusOK && string(b) != "0123456789" {
			t.Fatalf("%s: body %q", c.name, b)
		}
	}
}
