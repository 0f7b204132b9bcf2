package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/io/gateway"
)

// chainWithKind is chain(n) with record i of kind k, relinked.
func chainWithKind(n, i int, k audit.Kind) []audit.Record {
	recs := chain(n)
	recs[i].Kind, recs[i].Detail = k, "written by a newer build"
	for j := i + 1; j < n; j++ {
		recs[j].Prev = recs[j-1].Hash()
	}
	return recs
}

// An export holding a record of a kind this build does not define (a
// newer build wrote it) verifies and lists: the hash covers the kind's
// number, which the export carries (kind_code), not its meaning. The
// record shows as "unknown kind N", in --json too, and list --json's
// output verifies again. A newer node names the kind; its number is what
// counts. A changed number is caught like any edit; an unknown name
// without a number cannot be hashed and is refused.
func TestAuditVerifyAndListUnknownKind(t *testing.T) {
	const k = audit.Kind(200)
	recs := chainWithKind(4, 1, k)
	path := writeExport(t, recs, nil)
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"kind":"unknown kind 200","kind_code":200`) {
		t.Fatalf("export of an unknown kind:\n%s", data)
	}
	if strings.Count(string(data), "kind_code") != 1 {
		t.Fatalf("kind_code on a kind older builds know (they reject unknown fields):\n%s", data)
	}
	out, errOut, code := runCtl(t, "", "audit", "verify", "--file", path)
	if code != 0 || !strings.Contains(out, "4 records verified") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runCtl(t, "", "audit", "list", "--file", path)
	if code != 0 || !strings.Contains(out, "\n2 1970-01-01T00:00:00.000Z unknown kind 200 name-c (actor token:x, tenant acme): written by a newer build\n") {
		t.Fatalf("list: %d %q\n%s", code, errOut, out)
	}
	jsonOut, errOut, code := runCtl(t, "", "audit", "list", "--json", "--file", path)
	if code != 0 || !strings.Contains(jsonOut, `"kind":"unknown kind 200","kind_code":200`) {
		t.Fatalf("list --json: %d %q\n%s", code, errOut, jsonOut)
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	if err := os.WriteFile(again, []byte(jsonOut+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", again); code != 0 {
		t.Fatalf("verify of list --json's output: %d %s", code, errOut)
	}
	newer := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 1 {
			a.Kind = "frobnicate"
		}
	})
	if out, errOut, code := runCtl(t, "", "audit", "verify", "--file", newer); code != 0 || !strings.Contains(out, "4 records verified") {
		t.Fatalf("a newer node's export (kind named): %d %q %q", code, out, errOut)
	}
	renumbered := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 1 {
			a.KindCode++
			a.Hash = ""
		}
	})
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", renumbered); code != 1 || !strings.Contains(errOut, "first bad record is seq 2") {
		t.Fatalf("kind_code changed: %d %q", code, errOut)
	}
	unnumbered := writeExport(t, recs, func(i int, a *gateway.AuditRecord) {
		if i == 1 {
			a.Kind, a.KindCode = "frobnicate", 0
		}
	})
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", unnumbered); code != 1 || !strings.Contains(errOut, `unknown kind "frobnicate" without a kind_code`) {
		t.Fatalf("unknown name without kind_code: %d %q", code, errOut)
	}
	misnamed := writeExport(t, chain(2), func(i int, a *gateway.AuditRecord) {
		if i == 1 {
			a.KindCode = uint8(audit.KindDelete)
		}
	})
	if _, errOut, code := runCtl(t, "", "audit", "verify", "--file", misnamed); code != 1 || !strings.Contains(errOut, "is not kind_code 5 (delete)") {
		t.Fatalf("a known kind_code under another kind's name: %d %q", code, errOut)
	}
}

// The same through a node (GET /audit): a node of this build serves the
// record as it stored it, and ronctl verifies the stream.
func TestAuditVerifyNodeServesUnknownKind(t *testing.T) {
	recs := chainWithKind(3, 2, audit.Kind(200))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(gateway.AuditHeadHeader, gateway.FormatAuditHead(audit.HeadOf(recs)))
		w.Header().Set(gateway.AuditBaseHeader, gateway.FormatAuditHead(audit.Head{}))
		enc := json.NewEncoder(w)
		for _, r := range recs {
			_ = enc.Encode(gateway.AuditRecordOf(r))
		}
	}))
	defer srv.Close()
	out, errOut, code := runCtl(t, "", "audit", "list", "--node", srv.URL, "--token", "x")
	if code != 0 || !strings.Contains(out, " unknown kind 200 ") || !strings.Contains(out, "3 records verified") {
		t.Fatalf("list --node: %d %q\n%s", code, errOut, out)
	}
}
