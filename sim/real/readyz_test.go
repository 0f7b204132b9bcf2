package real

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A node restarted into a partition answers /readyz 503 for the registry
// alone: it has started (it serves), so the run sends to it; any other
// 503 (starting, disk full, overloaded) is not started yet.
func TestRegistryOnlyUnready(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   bool
	}{
		{503, `{"code":"UNAVAILABLE","message":"node not ready: registry_no_leader (...)","retryable":true,"corr_id":"c","reason":"registry_no_leader"}`, true},
		{503, `{"code":"UNAVAILABLE","message":"node not ready: registry_unreachable","retryable":true,"corr_id":"c","reason":"registry_unreachable"}`, true},
		{503, `{"code":"UNAVAILABLE","message":"node not ready: starting or recovering","retryable":true,"corr_id":"c"}`, false},
		{503, `{"code":"OVERLOADED","message":"gateway not ready: saturated","retryable":true,"corr_id":"c"}`, false},
		{500, `{"code":"INTERNAL","reason":"registry_no_leader"}`, false},
		{503, `not json`, false},
	} {
		resp := &http.Response{StatusCode: c.status, Body: io.NopCloser(strings.NewReader(c.body))}
		if got := registryOnlyUnready(resp); got != c.want {
			t.Errorf("%d %s: %v, want %v", c.status, c.body, got, c.want)
		}
	}
}
