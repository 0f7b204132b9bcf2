package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/io/gateway"
)

// A stream the node cut because retention dropped records it had not
// reached says so (the X-Ron-Audit-Cut trailer), instead of reporting
// missing records; without the trailer a short stream is missing records.
func TestAuditVerifyStreamCutByRetention(t *testing.T) {
	recs := chain(5)
	for _, trailer := range []string{"retention 2048:" + strings.Repeat("ab", 32), ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(gateway.AuditHeadHeader, gateway.FormatAuditHead(audit.HeadOf(recs)))
			w.Header().Set(gateway.AuditBaseHeader, gateway.FormatAuditHead(audit.Head{}))
			w.Header().Set("Trailer", gateway.AuditCutTrailer)
			enc := json.NewEncoder(w)
			for _, r := range recs[:3] {
				_ = enc.Encode(gateway.AuditRecordOf(r))
			}
			if trailer != "" {
				w.Header().Set(gateway.AuditCutTrailer, trailer)
			}
		}))
		_, errOut, code := runCtl(t, "", "audit", "verify", "--node", srv.URL, "--token", "x")
		srv.Close()
		switch {
		case code != 1:
			t.Fatalf("trailer %q: exit %d %q", trailer, code, errOut)
		case trailer != "" && (!strings.Contains(errOut, "cut by retention after seq 3") || strings.Contains(errOut, "missing")):
			t.Fatalf("a stream cut by retention: %q", errOut)
		case trailer == "" && !strings.Contains(errOut, "missing"):
			t.Fatalf("a short stream with no trailer: %q", errOut)
		}
	}
}
