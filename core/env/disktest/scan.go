package disktest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/env"
)

// scanKeys are chosen so that byte order differs from naive expectations:
// a shorter key sorts before its extensions, 0x00 and 0xff sit at the ends
// of the byte range, and uppercase sorts before lowercase.
var scanKeys = []string{"a", "a\x00", "a\xff", "ab", "abc", "abd", "ac", "B", "b", "ba", "bb", "c\xff\xff"}

type scanCase struct {
	prefix, start string
	limit         int
	want          []string // keys, ascending
	more          bool
}

// scanCases are written out by hand from the byte order of scanKeys.
var scanCases = []scanCase{
	{prefix: "", start: "", limit: 100, want: []string{"B", "a", "a\x00", "ab", "abc", "abd", "ac", "a\xff", "b", "ba", "bb", "c\xff\xff"}},
	{prefix: "a", limit: 100, want: []string{"a", "a\x00", "ab", "abc", "abd", "ac", "a\xff"}},
	{prefix: "a", limit: 2, want: []string{"a", "a\x00"}, more: true},
	{prefix: "ab", limit: 3, want: []string{"ab", "abc", "abd"}, more: false}, // limit == matches: no More
	{prefix: "ab", start: "abc", limit: 10, want: []string{"abc", "abd"}},
	{prefix: "ab", start: "abca", limit: 10, want: []string{"abd"}},           // start between keys
	{prefix: "ab", start: "a", limit: 10, want: []string{"ab", "abc", "abd"}}, // start before prefix
	{prefix: "ab", start: "abz", limit: 10, want: nil},                        // start after every match
	{prefix: "b", start: "", limit: 1, want: []string{"b"}, more: true},
	{prefix: "b", start: "b\x00", limit: 1, want: []string{"ba"}, more: true},
	{prefix: "b", start: "bb", limit: 1, want: []string{"bb"}, more: false},
	{prefix: "c\xff", limit: 5, want: []string{"c\xff\xff"}},
	{prefix: "d", limit: 5, want: nil},
	{prefix: "abcd", limit: 5, want: nil}, // longer than any key with that start
	{prefix: "", start: "b", limit: 3, want: []string{"b", "ba", "bb"}, more: true},
	{prefix: "", start: "\xff", limit: 3, want: nil},
}

func testScanSemantics(c *client) {
	empty := c.ok(env.DiskOp{Kind: env.DiskScan, Limit: 10})
	if len(empty.Pairs) != 0 || empty.More {
		c.t.Fatalf("scan of an empty disk: %d pairs, more=%v", len(empty.Pairs), empty.More)
	}
	for i, k := range slices.Backward(scanKeys) { // insert in descending order
		c.put(k, fmt.Sprintf("v%d", i))
	}
	c.put("gone", "x")
	c.del("gone") // deleted keys never show up
	for _, sc := range scanCases {
		for _, keysOnly := range []bool{false, true} {
			res := c.ok(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(sc.prefix), Start: []byte(sc.start), Limit: sc.limit, KeysOnly: keysOnly})
			if !slicesEqualStrings(res.Pairs, sc.want) || res.More != sc.more {
				c.t.Fatalf("scan prefix=%q start=%q limit=%d keysOnly=%v: got %s more=%v, want %q more=%v",
					sc.prefix, sc.start, sc.limit, keysOnly, pairKeys(res.Pairs), res.More, sc.want, sc.more)
			}
			for _, kv := range res.Pairs {
				i := slices.Index(scanKeys, string(kv.Key))
				want := fmt.Sprintf("v%d", i)
				if keysOnly {
					want = ""
				}
				if string(kv.Value) != want || (keysOnly && kv.Value != nil) {
					c.t.Fatalf("scan (keysOnly=%v) value of %q = %q, want %q", keysOnly, kv.Key, kv.Value, want)
				}
			}
		}
	}
}

// testScanKeysOnly: a keys-only scan lists every present key, empty and
// large values alike, with nil values, and pages like a full scan.
func testScanKeysOnly(c *client) {
	big := bytes.Repeat([]byte{0x5a}, env.DiskValueBytesMax)
	want := []string{"k/big0", "k/big1", "k/empty", "k/small"}
	c.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte("k/big0"), Value: bytes.Clone(big)})
	c.ok(env.DiskOp{Kind: env.DiskPut, Key: []byte("k/big1"), Value: bytes.Clone(big)})
	c.put("k/empty", "")
	c.put("k/small", "s")
	c.put("l/other", "o")
	c.put("k/gone", "g")
	c.del("k/gone")
	for _, limit := range []int{1, 3, env.DiskScanLimitMax} {
		var got []string
		var start []byte
		for {
			res := c.ok(env.DiskOp{Kind: env.DiskScan, Prefix: []byte("k/"), Start: start, Limit: limit, KeysOnly: true})
			if len(res.Pairs) > limit || (res.More && len(res.Pairs) != limit) {
				c.t.Fatalf("keys-only scan limit %d: %d pairs, more=%v", limit, len(res.Pairs), res.More)
			}
			for _, kv := range res.Pairs {
				if kv.Value != nil {
					c.t.Fatalf("keys-only scan returned a value of %d bytes for %q", len(kv.Value), kv.Key)
				}
				got = append(got, string(kv.Key))
			}
			if !res.More {
				break
			}
			start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
		}
		if !slices.Equal(got, want) {
			c.t.Fatalf("keys-only scan with limit %d: %q, want %q", limit, got, want)
		}
	}
	// The values are untouched, and a keys-only result is the receiver's.
	res := c.ok(env.DiskOp{Kind: env.DiskScan, Prefix: []byte("k/"), Limit: 10, KeysOnly: true})
	for _, kv := range res.Pairs {
		clear(kv.Key)
	}
	res = c.ok(env.DiskOp{Kind: env.DiskGet, Key: []byte("k/big1")})
	if !res.Found || !bytes.Equal(res.Value, big) {
		c.t.Fatalf("k/big1 changed after keys-only scans (found=%v, %d bytes)", res.Found, len(res.Value))
	}
	c.wantGet("k/small", "s", true)
}

func pairKeys(pairs []env.KV) string {
	keys := make([]string, len(pairs))
	for i, kv := range pairs {
		keys[i] = fmt.Sprintf("%q", kv.Key)
	}
	return "[" + strings.Join(keys, " ") + "]"
}

// testScanPaging writes more keys than one scan may return and pages
// through them with Start; the pages must concatenate to the sorted keys.
func testScanPaging(c *client) {
	const keysPerPrefix = 700
	var want []string
	batch := []env.DiskWrite{}
	for i := range keysPerPrefix {
		// Written in a scrambled order: 7919 is prime, coprime with 700.
		n := (i * 7919) % keysPerPrefix
		for _, prefix := range []string{"p/", "q/", "p0"} {
			key := fmt.Sprintf("%s%d", prefix, n) // decimal without padding: "10" < "9"
			batch = append(batch, env.DiskWrite{Key: []byte(key), Value: []byte(key)})
			if prefix == "p/" {
				want = append(want, key)
			}
		}
		if len(batch) >= 300 {
			c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
			batch = nil
		}
	}
	c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
	slices.Sort(want)
	for _, limit := range []int{1, 7, 64, env.DiskScanLimitMax} {
		for _, keysOnly := range []bool{false, true} {
			got := pageAll(c, []byte("p/"), limit, keysOnly)
			if !slices.Equal(got, want) {
				c.t.Fatalf("paging p/ with limit %d (keysOnly=%v) returned %d keys, want %d in order", limit, keysOnly, len(got), len(want))
			}
		}
	}
	if n := len(c.state()); n != 3*keysPerPrefix {
		c.t.Fatalf("full scan found %d keys, want %d", n, 3*keysPerPrefix)
	}
}

func pageAll(c *client, prefix []byte, limit int, keysOnly bool) []string {
	c.t.Helper()
	var keys []string
	var start []byte
	for page := 0; ; page++ {
		res := c.ok(env.DiskOp{Kind: env.DiskScan, Prefix: prefix, Start: start, Limit: limit, KeysOnly: keysOnly})
		if len(res.Pairs) > limit {
			c.t.Fatalf("scan limit %d returned %d pairs", limit, len(res.Pairs))
		}
		if res.More && len(res.Pairs) != limit {
			c.t.Fatalf("scan set More with %d pairs under limit %d", len(res.Pairs), limit)
		}
		for _, kv := range res.Pairs {
			valueOK := bytes.Equal(kv.Key, kv.Value)
			if keysOnly {
				valueOK = kv.Value == nil
			}
			if !bytes.HasPrefix(kv.Key, prefix) || !valueOK {
				c.t.Fatalf("scan (keysOnly=%v) returned %q=%q for prefix %q", keysOnly, kv.Key, kv.Value, prefix)
			}
			keys = append(keys, string(kv.Key))
		}
		if !res.More {
			return keys
		}
		start = append(bytes.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	}
}

func testValidation(c *client) {
	c.put("a", "1")
	c.sync()
	before := c.state()
	long := make([]byte, env.DiskKeyBytesMax+1)
	invalid := []env.DiskOp{
		{Kind: env.DiskGet},
		{Kind: env.DiskGet, Key: long},
		{Kind: env.DiskPut, Value: []byte("v")},
		{Kind: env.DiskPut, Key: []byte{}, Value: []byte("v")},
		{Kind: env.DiskPut, Key: long, Value: []byte("v")},
		{Kind: env.DiskPut, Key: []byte("a"), Value: make([]byte, env.DiskValueBytesMax+1)},
		{Kind: env.DiskDelete},
		{Kind: env.DiskDelete, Key: long},
		{Kind: env.DiskScan, Limit: 0},
		{Kind: env.DiskScan, Limit: -1},
		{Kind: env.DiskScan, Limit: env.DiskScanLimitMax + 1},
		{Kind: 0, Key: []byte("a")},
		{Kind: 99, Key: []byte("a")},
		{Kind: env.DiskScan, Limit: 0, KeysOnly: true},
		{Kind: env.DiskGet, Key: []byte("a"), KeysOnly: true}, // KeysOnly belongs to scans
		{Kind: env.DiskPut, Key: []byte("a"), Value: []byte("2"), KeysOnly: true},
		{Kind: env.DiskDelete, Key: []byte("a"), KeysOnly: true},
	}
	for _, op := range invalid {
		res := c.do(op)
		if !errors.Is(res.Err, env.ErrDiskInvalid) {
			c.t.Fatalf("%s key=%d bytes value=%d bytes limit=%d: err %v, want one wrapping env.ErrDiskInvalid",
				op.Kind, len(op.Key), len(op.Value), op.Limit, res.Err)
		}
		if res.Found || len(res.Pairs) != 0 {
			c.t.Fatalf("%s: an invalid op returned data", op.Kind)
		}
	}
	c.wantState(before)
}

// testValidationLimits checks that values exactly at each limit are valid.
func testValidationLimits(c *client) {
	key := bytes.Repeat([]byte("k"), env.DiskKeyBytesMax)
	value := bytes.Repeat([]byte{0xa5}, env.DiskValueBytesMax)
	c.ok(env.DiskOp{Kind: env.DiskPut, Key: bytes.Clone(key), Value: bytes.Clone(value)})
	res := c.ok(env.DiskOp{Kind: env.DiskGet, Key: bytes.Clone(key)})
	if !res.Found || !bytes.Equal(res.Value, value) {
		c.t.Fatalf("a maximal key and value did not round-trip (found=%v, %d bytes)", res.Found, len(res.Value))
	}
	c.ok(env.DiskOp{Kind: env.DiskScan, Limit: env.DiskScanLimitMax})
	batch := make([]env.DiskWrite, env.DiskBatchWritesMax)
	for i := range batch {
		batch[i] = env.DiskWrite{Key: fmt.Appendf(nil, "w%05d", i), Value: []byte("v")}
	}
	c.ok(env.DiskOp{Kind: env.DiskBatch, Batch: batch})
	if n := len(c.state()); n != env.DiskBatchWritesMax+1 {
		c.t.Fatalf("after a maximal batch the store holds %d keys, want %d", n, env.DiskBatchWritesMax+1)
	}
}
