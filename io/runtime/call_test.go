package runtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/runtime"
)

// fakeCaller answers with resp/err and records the service asked.
type fakeCaller struct {
	service string
	resp    any
	err     error
}

func (f *fakeCaller) Call(_ context.Context, service string, _ any) (any, error) {
	f.service = service
	return f.resp, f.err
}

// TestCallTyped: Call routes by the request's own service, returns the
// typed reply, and surfaces the caller's error, a result's own error
// (keeping the result) and a reply of the wrong type.
func TestCallTyped(t *testing.T) {
	ctx := context.Background()
	f := &fakeCaller{resp: authz.RevokedAnswer{Revoked: true, Enforced: true}}
	ans, err := runtime.Call(ctx, f, authz.RevokedQuery{})
	if err != nil || !ans.Revoked || f.service != authz.ServiceName {
		t.Fatalf("revoked query: %+v, %v via %q", ans, err, f.service)
	}
	f = &fakeCaller{resp: registry.Result{Err: registry.ErrNotFound, Record: registry.Record{Found: false}}}
	res, err := runtime.Call(ctx, f, registry.Resolve{Name: "a.org"})
	if !errors.Is(err, registry.ErrNotFound) || f.service != registry.ServiceName || res.Err == nil {
		t.Fatalf("resolve: %+v, %v via %q", res, err, f.service)
	}
	boom := errors.New("boom")
	f = &fakeCaller{err: boom}
	if _, err := runtime.Call(ctx, f, audit.HeadQuery{}); !errors.Is(err, boom) || f.service != audit.ServiceName {
		t.Fatalf("caller error: %v via %q", err, f.service)
	}
	f = &fakeCaller{resp: "a string"}
	if _, err := runtime.Call(ctx, f, audit.HeadQuery{}); err == nil {
		t.Fatal("a reply of the wrong type passed")
	}
}
