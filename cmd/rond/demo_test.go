package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// TestThreeNodeDemos runs demos D-1..D-3 on three rond macronodes on
// loopback (each a registry replica, each bootstrapping from the others).
func TestThreeNodeDemos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three rond processes")
	}
	nodes := newCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	// Larger than one 256 KiB chunk, so reads cross chunk boundaries.
	data := randomBytes(t, 600<<10+123)
	addr := putObject(t, a, data)

	t.Run("D1_range_get_from_another_node", func(t *testing.T) {
		for _, r := range []struct{ first, last int }{{0, 99}, {262100, 262200}, {len(data) - 10, len(data) - 1}} {
			code, hdr, body := getWith(t, c, "/o/"+addr, "Range", fmt.Sprintf("bytes=%d-%d", r.first, r.last))
			if code != http.StatusPartialContent || !bytes.Equal(body, data[r.first:r.last+1]) {
				t.Fatalf("range %d-%d on C: %d, %d bytes", r.first, r.last, code, len(body))
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", r.first, r.last, len(data)); hdr.Get("Content-Range") != want {
				t.Fatalf("Content-Range %q, want %q", hdr.Get("Content-Range"), want)
			}
		}
		code, _, body := getWith(t, c, "/o/"+addr, "", "")
		if code != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("whole GET on C: %d, %d bytes", code, len(body))
		}
	})

	t.Run("D2_provider_through_DHT_and_fetch_over_QUIC", func(t *testing.T) {
		eventually(t, convergeTimeout, "C lists A as a provider", func() (bool, string) {
			code, body := c.do(t, "GET", "/providers/"+addr, nil, false)
			return code == http.StatusOK && slices.Contains(providerIDs(t, body), a.id), fmt.Sprintf("%d %s", code, body)
		})
		// Drop C's own replica so its read has to come from a peer.
		if code, body := c.do(t, "DELETE", "/o/"+addr, nil, true); code != http.StatusNoContent {
			t.Fatalf("DELETE on C: %d %s", code, body)
		}
		code, _, body := getWith(t, c, "/o/"+addr, "", "")
		if code != http.StatusOK || proto.AddrOf(body).String() != addr || !bytes.Equal(body, data) {
			t.Fatalf("GET on C after dropping its copy: %d, %d bytes", code, len(body))
		}
	})

	t.Run("D3_name_published_on_A_resolved_on_B", func(t *testing.T) {
		const name = "demo-d3.example"
		o := newOwner(t)
		claimName(t, a, name, o)
		seq := resolveName(t, a, name).Seq + 1
		if code, body := a.do(t, "PUT", "/names/"+name, o.setBody(name, addr, seq), true); code != http.StatusOK {
			t.Fatalf("PUT /names on A: %d %s", code, body)
		}
		rec := resolveName(t, b, name)
		if rec.Target != addr || rec.Seq != seq || rec.Owner != o.pub {
			t.Fatalf("resolve on B: %+v, want target %s seq %d owner %s", rec, addr, seq, o.pub)
		}
		code, hdr, body := getWith(t, b, "/n/"+name, "", "")
		if code != http.StatusOK || !bytes.Equal(body, data) || hdr.Get("X-Ron-Target") != addr {
			t.Fatalf("GET /n/%s on B: %d, %d bytes, target %q", name, code, len(body), hdr.Get("X-Ron-Target"))
		}
	})
}

// getWith runs a GET with one optional header.
func getWith(t *testing.T, n *procNode, path, header, value string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", n.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, n.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, n.name, err)
	}
	return resp.StatusCode, resp.Header, body
}

func providerIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var res struct {
		Providers []struct{ Node string }
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil
	}
	var ids []string
	for _, p := range res.Providers {
		ids = append(ids, p.Node)
	}
	return ids
}
