package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEndlessAnswerIsBounded: a server (hostile, or not a RON node) that
// answers a small request with a body without end makes ronctl stop after
// answerBytesMax and exit 1 naming the bound; before, ronctl read on until
// its memory ran out (3 GB in 4 s in a red-team run).
func TestEndlessAnswerIsBounded(t *testing.T) {
	chunk := bytes.Repeat([]byte("0"), 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for {
			if _, err := w.Write(chunk); err != nil {
				return // ronctl stopped reading and closed the connection
			}
		}
	}))
	defer srv.Close()
	for _, args := range [][]string{{"status"}, {"name", "get", "example"}} {
		var out, errOut bytes.Buffer
		code := run(append(args, "--node", srv.URL), nil, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "larger than 64 MiB") {
			t.Errorf("%v: exit %d, stderr %q; want 1 naming the bound", args, code, errOut.String())
		}
	}
}
