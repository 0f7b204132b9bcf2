package env_test

import (
	"errors"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// A value must hold a 1 MiB chunk plus its seal (DiskValueBytesMax's doc).
func TestDiskLimitRelations(t *testing.T) {
	if env.DiskValueBytesMax < 1<<20+env.SealBytes {
		t.Fatalf("DiskValueBytesMax %d cannot hold a sealed 1 MiB chunk", env.DiskValueBytesMax)
	}
	if env.DiskKeyBytesMax <= 0 || env.DiskBatchWritesMax <= 0 || env.DiskScanLimitMax <= 0 {
		t.Fatal("a disk limit is not positive")
	}
}

func TestDiskOpValidateLimits(t *testing.T) {
	key := func(n int) []byte { return make([]byte, n) }
	writes := func(n int) []env.DiskWrite {
		out := make([]env.DiskWrite, n)
		for i := range out {
			out[i] = env.DiskWrite{Key: key(1)}
		}
		return out
	}
	cases := []struct {
		name string
		op   env.DiskOp
		ok   bool
	}{
		{"get empty key", env.DiskOp{Kind: env.DiskGet}, false},
		{"get 1-byte key", env.DiskOp{Kind: env.DiskGet, Key: key(1)}, true},
		{"get key at max", env.DiskOp{Kind: env.DiskGet, Key: key(env.DiskKeyBytesMax)}, true},
		{"get key beyond max", env.DiskOp{Kind: env.DiskGet, Key: key(env.DiskKeyBytesMax + 1)}, false},
		{"delete empty key", env.DiskOp{Kind: env.DiskDelete}, false},
		{"delete key at max", env.DiskOp{Kind: env.DiskDelete, Key: key(env.DiskKeyBytesMax)}, true},
		{"delete key beyond max", env.DiskOp{Kind: env.DiskDelete, Key: key(env.DiskKeyBytesMax + 1)}, false},
		{"put empty value", env.DiskOp{Kind: env.DiskPut, Key: key(1)}, true},
		{"put empty key", env.DiskOp{Kind: env.DiskPut, Value: key(1)}, false},
		{"put key beyond max", env.DiskOp{Kind: env.DiskPut, Key: key(env.DiskKeyBytesMax + 1)}, false},
		{"put value at max", env.DiskOp{Kind: env.DiskPut, Key: key(1), Value: key(env.DiskValueBytesMax)}, true},
		{"put value beyond max", env.DiskOp{Kind: env.DiskPut, Key: key(1), Value: key(env.DiskValueBytesMax + 1)}, false},
		{"empty batch", env.DiskOp{Kind: env.DiskBatch}, true},
		{"batch at max", env.DiskOp{Kind: env.DiskBatch, Batch: writes(env.DiskBatchWritesMax)}, true},
		{"batch beyond max", env.DiskOp{Kind: env.DiskBatch, Batch: writes(env.DiskBatchWritesMax + 1)}, false},
		{"batch write empty key", env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key(1)}, {}}}, false},
		{"batch write key beyond max", env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key(env.DiskKeyBytesMax + 1)}}}, false},
		{"batch write value at max", env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key(1), Value: key(env.DiskValueBytesMax)}}}, true},
		{"batch write value beyond max", env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key(1), Value: key(env.DiskValueBytesMax + 1)}}}, false},
		{"batch delete", env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: key(3), Delete: true}}}, true},
		{"sync", env.DiskOp{Kind: env.DiskSync}, true},
		{"scan limit 0", env.DiskOp{Kind: env.DiskScan}, false},
		{"scan limit negative", env.DiskOp{Kind: env.DiskScan, Limit: -1}, false},
		{"scan limit 1", env.DiskOp{Kind: env.DiskScan, Limit: 1}, true},
		{"scan limit at max", env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax}, true},
		{"scan limit beyond max", env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax + 1}, false},
		{"scan with prefix and start", env.DiskOp{Kind: env.DiskScan, Limit: 5, Prefix: []byte("p/"), Start: []byte("p/x")}, true},
		{"scan keys only", env.DiskOp{Kind: env.DiskScan, Limit: 5, KeysOnly: true}, true},
		{"scan keys only limit 0", env.DiskOp{Kind: env.DiskScan, KeysOnly: true}, false},
		{"get keys only", env.DiskOp{Kind: env.DiskGet, Key: key(1), KeysOnly: true}, false},
		{"put keys only", env.DiskOp{Kind: env.DiskPut, Key: key(1), KeysOnly: true}, false},
		{"batch keys only", env.DiskOp{Kind: env.DiskBatch, KeysOnly: true}, false},
		{"sync keys only", env.DiskOp{Kind: env.DiskSync, KeysOnly: true}, false},
		{"kind 0", env.DiskOp{Key: key(1)}, false},
		{"kind beyond scan", env.DiskOp{Kind: env.DiskScan + 1, Key: key(1)}, false},
	}
	for _, c := range cases {
		err := c.op.Validate()
		if c.ok && err != nil {
			t.Errorf("%s: %v, want valid", c.name, err)
		}
		if !c.ok && !errors.Is(err, env.ErrDiskInvalid) {
			t.Errorf("%s: %v, want an error wrapping ErrDiskInvalid", c.name, err)
		}
	}
}

func TestDiskOpKindString(t *testing.T) {
	want := map[env.DiskOpKind]string{env.DiskGet: "get", env.DiskPut: "put", env.DiskDelete: "delete",
		env.DiskBatch: "batch", env.DiskSync: "sync", env.DiskScan: "scan", 0: "DiskOpKind(0)", 42: "DiskOpKind(42)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("DiskOpKind(%d).String() = %q, want %q", uint8(k), k.String(), s)
		}
	}
}

func TestRunCheck(t *testing.T) {
	bad := errors.New("does not hash to its key")
	check := func(v []byte) error {
		if string(v) != "good" {
			return bad
		}
		return nil
	}
	get := env.DiskOp{Kind: env.DiskGet, Key: []byte("k"), Check: check}
	if res := env.RunCheck(&get, env.DiskResult{Found: true, Value: []byte("good")}); res.Err != nil || !res.Checked || string(res.Value) != "good" {
		t.Fatalf("intact value: %+v", res)
	}
	res := env.RunCheck(&get, env.DiskResult{Found: true, Value: []byte("evil")})
	if !errors.Is(res.Err, env.ErrCorruption) || !errors.Is(res.Err, bad) || res.Value != nil || res.Found || res.Checked {
		t.Fatalf("value failing its check: %+v", res)
	}
	// Not checked: a missing key, a failed read, an op without a check.
	ioErr := env.DiskResult{Err: env.ErrDiskIO}
	if res := env.RunCheck(&get, ioErr); !errors.Is(res.Err, env.ErrDiskIO) || res.Checked {
		t.Fatalf("failed read: %+v", res)
	}
	if res := env.RunCheck(&get, env.DiskResult{}); res.Err != nil || res.Checked || res.Found {
		t.Fatalf("missing key: %+v", res)
	}
	plain := env.DiskOp{Kind: env.DiskGet, Key: []byte("k")}
	if res := env.RunCheck(&plain, env.DiskResult{Found: true, Value: []byte("evil")}); res.Err != nil || res.Checked {
		t.Fatalf("get without a check: %+v", res)
	}
}
