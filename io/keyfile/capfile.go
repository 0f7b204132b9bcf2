package keyfile

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
)

// CapFileBytesMax bounds what ReadCap will look at: the header, a few
// comment lines and auth.KeyVersionsMax version lines of about 75 bytes.
const CapFileBytesMax = 8 << 10

// capHeader is the first line of a versioned cap key file.
const capHeader = "ron-cap-key v1"

// capComment follows the header in every file Marshal writes.
const capComment = `# RON capability MAC key "root": one line per live version, "VERSION SEED"
# (decimal, 64 lowercase hex digits), ascending; the last line is current
# and mints new tokens, the others still verify. Keep this file mode 0600.
# Edit it with: ronctl key rotate|retire --cap-key-file FILE (rond reloads it).
`

// ErrMalformed is wrapped by every parse error of a cap key file.
var ErrMalformed = errors.New("keyfile: malformed cap key file")

// ParseError names the line (1-based; 0: the file as a whole) and the
// field of a cap key file that is wrong. It never quotes the file.
type ParseError struct {
	Path  string // "" when the text did not come from a file
	Line  int
	Field string // "header", "version", "seed", or "" for the line
	Msg   string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("keyfile: ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString("field " + e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ParseError) Unwrap() error { return ErrMalformed }

// capVersion is one live version of the cap key. The seed is captured by
// a closure for the reason auth.Secret gives: fmt cannot look inside a
// func value, however deeply it is nested.
type capVersion struct {
	number uint32
	seed   func() *[auth.KeyBytes]byte
}

func newCapVersion(number uint32, seed *[auth.KeyBytes]byte) capVersion {
	return capVersion{number: number, seed: func() *[auth.KeyBytes]byte { return seed }}
}

// CapKey is the content of a capability key file: the live versions of
// MAC key CapKeyID, ascending by version; the last is current (it mints),
// every one verifies. It holds key material and prints redacted.
//
// On disk (Marshal) it is text: the header line "ron-cap-key v1", comment
// lines starting with #, and one "VERSION SEED" line per version. The
// older format, one line of 64 hex digits, still reads as version 1 (and
// is rewritten in the new format by the first rotation). Parsing is
// strict: every defect is an error naming its line and field.
type CapKey struct {
	versions []capVersion
}

// NewCapKey returns a cap key with one fresh random version, 1.
func NewCapKey() (*CapKey, error) {
	seed, err := randomSeed()
	if err != nil {
		return nil, err
	}
	return &CapKey{versions: []capVersion{newCapVersion(1, seed)}}, nil
}

func randomSeed() (*[auth.KeyBytes]byte, error) {
	var seed [auth.KeyBytes]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return &seed, nil
}

// Format keeps key material out of every fmt verb.
func (k *CapKey) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "CapKey{versions %v %s}", k.Versions(), auth.Redacted)
}

// Versions returns the live version numbers, ascending.
func (k *CapKey) Versions() []uint32 {
	out := make([]uint32, len(k.versions))
	for i, v := range k.versions {
		out[i] = v.number
	}
	return out
}

// Current returns the newest version number, the one that mints.
func (k *CapKey) Current() uint32 { return k.versions[len(k.versions)-1].number }

// Rotate adds a version with a fresh random seed and returns its number.
// It refuses past auth.KeyVersionsMax live versions: retiring one is the
// operator's decision, as in auth.Keyring.
func (k *CapKey) Rotate() (uint32, error) {
	if len(k.versions) >= auth.KeyVersionsMax {
		return 0, fmt.Errorf("keyfile: the cap key has %d versions, the most it may have; retire one first", len(k.versions))
	}
	current := k.Current()
	if current == math.MaxUint32 {
		return 0, errors.New("keyfile: the cap key has no version numbers left")
	}
	seed, err := randomSeed()
	if err != nil {
		return 0, err
	}
	k.versions = append(k.versions, newCapVersion(current+1, seed))
	return current + 1, nil
}

// Retire removes version; what it signed stops verifying. The current
// version cannot be retired (rotate first).
func (k *CapKey) Retire(version uint32) error {
	i := slices.IndexFunc(k.versions, func(v capVersion) bool { return v.number == version })
	switch {
	case i < 0:
		return fmt.Errorf("keyfile: the cap key has no version %d (live: %v)", version, k.Versions())
	case i == len(k.versions)-1:
		return fmt.Errorf("keyfile: version %d is current and cannot be retired; rotate first", version)
	}
	k.versions = slices.Delete(k.versions, i, i+1)
	return nil
}

// Equal reports whether k and o hold the same versions with the same
// seeds (compared in constant time).
func (k *CapKey) Equal(o *CapKey) bool {
	if len(k.versions) != len(o.versions) {
		return false
	}
	same := 1
	for i, v := range k.versions {
		w := o.versions[i]
		if v.number != w.number {
			return false
		}
		same &= subtle.ConstantTimeCompare(v.seed()[:], w.seed()[:])
	}
	return same == 1
}

// Keyring returns the auth keyring of k: MAC key CapKeyID with k's
// versions, reporting rotations to m (nil: none).
func (k *CapKey) Keyring(m env.Metrics) (*auth.Keyring, error) {
	stored := make([]auth.StoredVersion, len(k.versions))
	for i, v := range k.versions {
		secret, err := auth.NewSecret(v.seed()[:])
		if err != nil {
			return nil, fmt.Errorf("keyfile: %w", err)
		}
		stored[i] = auth.StoredVersion{Version: v.number, Seed: secret}
	}
	keys := auth.NewKeyring(m)
	if err := keys.Restore(CapKeyID, auth.KindMAC, stored); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	return keys, nil
}

// FingerprintContext is the BLAKE3 derive-key context of Fingerprints.
const FingerprintContext = "ron-cap-key fingerprint v1"

// FingerprintBytes is the length of one fingerprint (before hex).
const FingerprintBytes = 8

// Fingerprints names each live version, ascending, as "vN:HEX": N and
// the first FingerprintBytes of a key derived from its seed under
// FingerprintContext. A fingerprint tells two seeds apart (a file
// replaced under the same version numbers shows other fingerprints) and
// reveals nothing usable about the seed (a one-way derivation, 64 bits),
// so it may go to logs and the audit log, where key material never goes.
func (k *CapKey) Fingerprints() []string {
	out := make([]string, len(k.versions))
	for i, v := range k.versions {
		var fp [FingerprintBytes]byte
		blake3.DeriveKey(fp[:], FingerprintContext, v.seed()[:])
		out[i] = "v" + strconv.FormatUint(uint64(v.number), 10) + ":" + hex.EncodeToString(fp[:])
	}
	return out
}

// DeriveKey fills out with a key derived (BLAKE3 derive-key under
// context) from the seed of the oldest live version. For a file in the
// single-key format that is the file's key itself, so what was derived
// from it before versions existed stays the same; it changes only when
// that version is retired.
func (k *CapKey) DeriveKey(out []byte, context string) {
	blake3.DeriveKey(out, context, k.versions[0].seed()[:])
}

// Marshal returns the file text: key material, to be written with Mode
// and never logged.
func (k *CapKey) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(capHeader + "\n" + capComment)
	for _, v := range k.versions {
		fmt.Fprintf(&b, "%d %s\n", v.number, hex.EncodeToString(v.seed()[:]))
	}
	return b.Bytes()
}

// ParseCapKey parses the text of a cap key file in either format. Errors
// are *ParseError and never quote the text.
func ParseCapKey(text []byte) (*CapKey, error) {
	lines := strings.Split(string(text), "\n")
	if strings.TrimSpace(lines[0]) != capHeader {
		return parseSingleKey(text)
	}
	k := &CapKey{}
	for i, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := k.parseVersion(i+2, line)
		if err != nil {
			return nil, err
		}
		k.versions = append(k.versions, v)
	}
	if len(k.versions) == 0 {
		return nil, &ParseError{Msg: "no key versions after the header"}
	}
	return k, nil
}

// parseSingleKey reads the format of before versions: the whole file is
// one key in hex (either case, as Read accepts).
func parseSingleKey(text []byte) (*CapKey, error) {
	if strings.HasPrefix(string(text), "ron-cap-key") {
		return nil, &ParseError{Line: 1, Field: "header", Msg: fmt.Sprintf("unsupported format (want %q)", capHeader)}
	}
	var seed [auth.KeyBytes]byte
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) != 2*auth.KeyBytes || !isHex(trimmed) {
		return nil, &ParseError{Line: 1, Field: "header",
			Msg: fmt.Sprintf("not a cap key file (want the line %q, or one key of %d hex digits)", capHeader, 2*auth.KeyBytes)}
	}
	_, _ = hex.Decode(seed[:], trimmed)
	if seed == ([auth.KeyBytes]byte{}) {
		return nil, &ParseError{Line: 1, Field: "seed", Msg: "the key is all zero"}
	}
	return &CapKey{versions: []capVersion{newCapVersion(1, &seed)}}, nil
}

// parseVersion parses line number n, "VERSION SEED", against the versions
// before it.
func (k *CapKey) parseVersion(n int, line string) (capVersion, error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return capVersion{}, &ParseError{Line: n, Msg: fmt.Sprintf("%d fields, want 2 (version, seed)", len(fields))}
	}
	if len(k.versions) == auth.KeyVersionsMax {
		return capVersion{}, &ParseError{Line: n, Msg: fmt.Sprintf("more than %d versions", auth.KeyVersionsMax)}
	}
	number, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil || number == 0 || fields[0][0] == '0' {
		return capVersion{}, &ParseError{Line: n, Field: "version", Msg: "not a decimal number in 1..4294967295 without leading zeros"}
	}
	if len(k.versions) > 0 && uint32(number) <= k.Current() {
		return capVersion{}, &ParseError{Line: n, Field: "version",
			Msg: fmt.Sprintf("%d does not follow version %d (versions ascend)", number, k.Current())}
	}
	seedText := []byte(fields[1])
	if len(seedText) != 2*auth.KeyBytes || !lowerHex(seedText) {
		return capVersion{}, &ParseError{Line: n, Field: "seed", Msg: fmt.Sprintf("want %d lowercase hex digits", 2*auth.KeyBytes)}
	}
	var seed [auth.KeyBytes]byte
	_, _ = hex.Decode(seed[:], seedText)
	if seed == ([auth.KeyBytes]byte{}) {
		return capVersion{}, &ParseError{Line: n, Field: "seed", Msg: "all zero"}
	}
	for _, v := range k.versions {
		if subtle.ConstantTimeCompare(v.seed()[:], seed[:]) == 1 {
			return capVersion{}, &ParseError{Line: n, Field: "seed", Msg: fmt.Sprintf("same seed as version %d", v.number)}
		}
	}
	return newCapVersion(uint32(number), &seed), nil
}

func isHex(b []byte) bool { return lowerHex(bytes.ToLower(b)) }

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ReadCap reads the cap key file at path, refusing one that group or
// others may access or that is larger than CapFileBytesMax.
func ReadCap(path string) (*CapKey, error) {
	text, err := readPrivate(path, CapFileBytesMax)
	if err != nil {
		return nil, err
	}
	k, err := ParseCapKey(text)
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Path = path
	}
	return k, err
}

// ReadOrCreateCap reads path, or creates it (Mode, the versioned format)
// with one fresh version when it does not exist.
func ReadOrCreateCap(path string) (*CapKey, error) {
	k, err := ReadCap(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if k, err = NewCapKey(); err != nil {
		return nil, err
	}
	if err := createExclusive(path, k.Marshal()); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteCap replaces the cap key file at path with k, atomically (see
// WriteAtomic).
func WriteCap(path string, k *CapKey) error { return WriteAtomic(path, k.Marshal()) }

// WriteAtomic replaces path with data so that a reader, or a crash at any
// point, sees the old content or the new, never a mix: the data goes to a
// temporary file in the same directory (created with Mode), is synced,
// renamed over path, and the directory is synced so the rename is durable.
// Two writers at once are not serialised: the last rename wins.
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(Mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keyfile: writing %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("keyfile: writing %s: syncing its directory: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
