package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
)

func mintWith(t *testing.T, keys *auth.Keyring) *auth.Token {
	t.Helper()
	key, err := keys.CurrentMACKey(CapKeyID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(key, "acme", auth.OpsAll, [auth.NonceBytes]byte{byte(key.Version)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func verdict(keys *auth.Keyring, tok *auth.Token) auth.Reason {
	return auth.NewVerifier(keys, nil).Verify(tok.Encode(), auth.Request{Op: auth.OpWrite, Tenant: "acme"}).Reason
}

// TestCapKeyRotateRetireRoundTrip: versions survive Marshal and
// ParseCapKey exactly; tokens of every live version verify with the
// parsed keyring, new ones mint with the newest, and a retired version's
// tokens are unknown_key.
func TestCapKeyRotateRetireRoundTrip(t *testing.T) {
	k, err := NewCapKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := k.Keyring(nil)
	v1 := mintWith(t, keys)
	for want := uint32(2); want <= 3; want++ {
		if got, err := k.Rotate(); err != nil || got != want {
			t.Fatalf("Rotate = %d, %v; want %d", got, err, want)
		}
	}
	keys, _ = k.Keyring(nil)
	v3 := mintWith(t, keys)
	if err := k.Retire(1); err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCapKey(k.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Equal(k) || !slices.Equal(parsed.Versions(), []uint32{2, 3}) || parsed.Current() != 3 {
		t.Fatalf("round trip: versions %v current %d, equal %v", parsed.Versions(), parsed.Current(), parsed.Equal(k))
	}
	keys, err = parsed.Keyring(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v3.KeyVersion != 3 || verdict(keys, v3) != "" {
		t.Fatalf("v%d token after the round trip: %q", v3.KeyVersion, verdict(keys, v3))
	}
	if got := mintWith(t, keys); got.KeyVersion != 3 {
		t.Fatalf("minted with v%d, want the newest, 3", got.KeyVersion)
	}
	if verdict(keys, v1) != auth.ReasonUnknownKey {
		t.Fatalf("retired v1 token: %q, want unknown_key", verdict(keys, v1))
	}
	other, _ := NewCapKey()
	if other.Equal(k) || k.Equal(other) {
		t.Fatal("two fresh keys compare equal")
	}
}

func TestCapKeyRotateAndRetireRules(t *testing.T) {
	k, _ := NewCapKey()
	if err := k.Retire(1); err == nil || !strings.Contains(err.Error(), "current") {
		t.Fatalf("retiring the only (current) version: %v", err)
	}
	for len(k.Versions()) < auth.KeyVersionsMax {
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Rotate(); err == nil || !strings.Contains(err.Error(), "retire one first") {
		t.Fatalf("rotation past %d versions: %v", auth.KeyVersionsMax, err)
	}
	if err := k.Retire(99); err == nil || !strings.Contains(err.Error(), "no version 99") {
		t.Fatalf("retiring an unknown version: %v", err)
	}
	if err := k.Retire(1); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Rotate(); err != nil || got != auth.KeyVersionsMax+1 {
		t.Fatalf("rotation after a retire: %d %v", got, err)
	}
	if _, err := ParseCapKey(k.Marshal()); err != nil {
		t.Fatalf("a full key does not parse back: %v", err)
	}
}

// TestWriteCapIsPrivateAndReadsBack: WriteCap leaves a 0600 file (even
// over a looser one, which it replaces) and no temporary file; ReadCap
// gets the same key back.
func TestWriteCapIsPrivateAndReadsBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cap.key")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, _ := NewCapKey()
	_, _ = k.Rotate()
	if err := WriteCap(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != Mode {
		t.Fatalf("mode %v %v, want %v", st.Mode(), err, Mode)
	}
	got, err := ReadCap(path)
	if err != nil || !got.Equal(k) {
		t.Fatalf("read back: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the directory holds %d entries, want only cap.key", len(entries))
	}
}

// TestWriteAtomicNeverShowsAPartialFile: a reader polling the file while
// it is rewritten sees one complete version or the other, never an empty
// or truncated file (which an in-place rewrite would show).
func TestWriteAtomicNeverShowsAPartialFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.key")
	a, _ := NewCapKey()
	b, _ := NewCapKey()
	for i := 0; i < 10; i++ {
		_, _ = b.Rotate()
	}
	if err := WriteCap(path, a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := ReadCap(path)
			if err != nil || !got.Equal(a) && !got.Equal(b) {
				bad = fmt.Errorf("reader saw %v, %v", got, err)
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		k := a
		if i%2 == 0 {
			k = b
		}
		if err := WriteCap(path, k); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
}

func TestWriteAtomicFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "is-a-dir")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(target, []byte("data")); err == nil {
		t.Fatal("renamed a file over a non-empty directory")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("a failed write left %d entries, want 1", len(entries))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "k"), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

func TestReadCapRefusesLoosePermissions(t *testing.T) {
	k, _ := NewCapKey()
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o660, 0o666} {
		path := filepath.Join(t.TempDir(), "cap.key")
		if err := WriteCap(path, k); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadCap(path)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %#o: %v", mode, err)
		}
		if _, _, err := ReadCapKey(path); !errors.Is(err, ErrPermissions) {
			t.Fatalf("ReadCapKey of mode %#o: %v", mode, err)
		}
	}
}

// TestParseCapKeyErrorsNameLineAndField: every defect is a *ParseError
// naming the line and field, and no error quotes a seed.
func TestParseCapKeyErrorsNameLineAndField(t *testing.T) {
	seed := func(c string) string { return strings.Repeat(c, 2*auth.KeyBytes/len(c)) }
	head := capHeader + "\n"
	many := head
	for v := 1; v <= auth.KeyVersionsMax+1; v++ {
		many += fmt.Sprintf("%d %s\n", v, hex.EncodeToString(bytes.Repeat([]byte{byte(v)}, auth.KeyBytes)))
	}
	cases := []struct {
		name, text  string
		line        int
		field, want string
	}{
		{"empty", "", 1, "header", "not a cap key file"},
		{"other text", "hello\n", 1, "header", "not a cap key file"},
		{"future format", "ron-cap-key v2\n1 " + seed("ab") + "\n", 1, "header", "unsupported format"},
		{"single key too short", seed("ab")[2:] + "\n", 1, "header", "not a cap key file"},
		{"single key zero", seed("0") + "\n", 1, "seed", "all zero"},
		{"header only", head + "# nothing\n", 0, "", "no key versions"},
		{"one field", head + "1\n", 2, "", "1 fields, want 2"},
		{"three fields", head + "1 " + seed("ab") + " extra\n", 2, "", "3 fields, want 2"},
		{"version zero", head + "0 " + seed("ab") + "\n", 2, "version", "1..4294967295"},
		{"version leading zero", head + "01 " + seed("ab") + "\n", 2, "version", "leading zeros"},
		{"version sign", head + "+1 " + seed("ab") + "\n", 2, "version", "decimal"},
		{"version text", head + "one " + seed("ab") + "\n", 2, "version", "decimal"},
		{"version too big", head + "4294967296 " + seed("ab") + "\n", 2, "version", "decimal"},
		{"not ascending", head + "2 " + seed("ab") + "\n# c\n2 " + seed("cd") + "\n", 4, "version", "does not follow version 2"},
		{"seed short", head + "1 " + seed("ab")[1:] + "\n", 2, "seed", "64 lowercase hex"},
		{"seed upper", head + "1 " + seed("AB") + "\n", 2, "seed", "64 lowercase hex"},
		{"seed not hex", head + "1 " + seed("zz") + "\n", 2, "seed", "64 lowercase hex"},
		{"seed zero", head + "1 " + seed("0") + "\n", 2, "seed", "all zero"},
		{"seed repeated", head + "1 " + seed("ab") + "\n2 " + seed("ab") + "\n", 3, "seed", "same seed as version 1"},
		{"too many", many, auth.KeyVersionsMax + 2, "", fmt.Sprintf("more than %d versions", auth.KeyVersionsMax)},
	}
	for _, c := range cases {
		_, err := ParseCapKey([]byte(c.text))
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v, want a *ParseError", c.name, err)
		}
		if pe.Line != c.line || pe.Field != c.field || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %q (line %d field %q), want line %d field %q containing %q", c.name, err, pe.Line, pe.Field, c.line, c.field, c.want)
		}
		for _, s := range []string{"abab", "cdcd", "ABAB", "zzzz", "0101"} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("%s: the error quotes the file: %q", c.name, err)
			}
		}
	}
}

func TestReadCapNamesTheFileAndBoundsItsSize(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte(capHeader+"\n1 nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCap(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2: field seed") {
		t.Fatalf("error %v does not name the file, line and field", err)
	}
	huge := filepath.Join(dir, "huge.key")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("#\n"), CapFileBytesMax), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCap(huge); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("a %d-byte file: %v", 2*CapFileBytesMax, err)
	}
	if _, err := ReadCap(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestSingleKeyFileReadsAsVersion1: a file in the format of before
// versions (one hex key; either case) is version 1 of the same key
// CapKeyring derives, DeriveKey derives from that key itself, and a
// rotation keeps it as version 1 in the new format.
func TestSingleKeyFileReadsAsVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.key")
	seed, err := Create(path, auth.KeyBytes)
	if err != nil {
		t.Fatal(err)
	}
	legacy, _, _ := CapKeyring(seed)
	old := mintWith(t, legacy)
	keys, key, err := ReadCapKey(path)
	if err != nil || key.Version != 1 || verdict(keys, old) != "" {
		t.Fatalf("single-key file: v%d %v, old token %q", key.Version, err, verdict(keys, old))
	}
	k, _ := ReadCap(path)
	var got, want [32]byte
	k.DeriveKey(got[:], "ron test context")
	blake3.DeriveKey(want[:], "ron test context", seed)
	if got != want {
		t.Fatal("DeriveKey of a single-key file is not derived from its key")
	}
	upper := strings.ToUpper(hex.EncodeToString(seed))
	if u, err := ParseCapKey([]byte(upper + "\n")); err != nil || !u.Equal(k) {
		t.Fatalf("upper-case single key: %v", err)
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := WriteCap(path, k); err != nil {
		t.Fatal(err)
	}
	keys, key, err = ReadCapKey(path)
	if err != nil || key.Version != 2 || verdict(keys, old) != "" {
		t.Fatalf("after rotating a single-key file: v%d %v, old token %q", key.Version, err, verdict(keys, old))
	}
	rotated, _ := ReadCap(path)
	rotated.DeriveKey(got[:], "ron test context")
	if got != want {
		t.Fatal("a rotation changed what derives from the oldest version")
	}
}

func TestReadOrCreateCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.key")
	k, err := ReadOrCreateCap(path)
	if err != nil || !slices.Equal(k.Versions(), []uint32{1}) {
		t.Fatalf("create: %v %v", k, err)
	}
	text, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(text), capHeader+"\n") {
		t.Fatalf("a created file is not in the versioned format")
	}
	again, err := ReadOrCreateCap(path)
	if err != nil || !again.Equal(k) {
		t.Fatalf("second ReadOrCreateCap: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOrCreateCap(path); !errors.Is(err, ErrPermissions) {
		t.Fatalf("a loose existing file must be refused, not replaced: %v", err)
	}
}

func TestCapKeyPrintsRedacted(t *testing.T) {
	k, _ := NewCapKey()
	_, _ = k.Rotate()
	text := string(k.Marshal())
	var seeds []string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 && len(f[1]) == 2*auth.KeyBytes {
			seeds = append(seeds, f[1][:16])
		}
	}
	if len(seeds) != 2 {
		t.Fatalf("found %d seeds in the marshalled text", len(seeds))
	}
	holder := struct {
		key   *CapKey
		value CapKey
	}{k, *k}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k), fmt.Sprintf("%v %+v %#v", holder, holder, holder)} {
		for _, seed := range seeds {
			if strings.Contains(s, seed) || strings.Contains(s, strings.ToUpper(seed)) {
				t.Fatalf("printing leaks a seed: %s", s)
			}
		}
	}
}

// FuzzParseCapKey: parsing never panics, and what parses marshals back to
// the same key.
func FuzzParseCapKey(f *testing.F) {
	k, _ := NewCapKey()
	_, _ = k.Rotate()
	f.Add(k.Marshal())
	f.Add([]byte(strings.Repeat("ab", auth.KeyBytes) + "\n"))
	f.Add([]byte(capHeader + "\n1 x\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		k, err := ParseCapKey(text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		again, err := ParseCapKey(k.Marshal())
		if err != nil || !again.Equal(k) {
			t.Fatalf("re-parse: %v", err)
		}
		if _, err := k.Keyring(nil); err != nil {
			t.Fatalf("a parsed key does not make a keyring: %v", err)
		}
	})
}
