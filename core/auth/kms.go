package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto/wire"
	"lukechampine.com/blake3"
)

// Keyring limits.
const (
	// KeysMax bounds the key ids (purposes) of one keyring.
	KeysMax = 64
	// KeyVersionsMax bounds the live versions of one key. Rotation past it
	// is refused: the operator retires an old version first, knowingly
	// invalidating what it signed, instead of the keyring doing so silently.
	KeyVersionsMax = 16
	// keyringFormat is the version of the Marshal encoding.
	keyringFormat = 1
)

// KeyKind is what a key is used for.
type KeyKind uint8

const (
	// KindMAC keys are capability root keys (Token MAC chains).
	KindMAC KeyKind = 1
	// KindEd25519 keys sign (node identity, name records, snapshots).
	KindEd25519 KeyKind = 2
)

func (k KeyKind) String() string {
	switch k {
	case KindMAC:
		return "mac"
	case KindEd25519:
		return "ed25519"
	}
	return fmt.Sprintf("KeyKind(%d)", uint8(k))
}

// Keyring errors.
var (
	ErrKeyNotFound = errors.New("auth: key not found")
	ErrKeyExists   = errors.New("auth: key exists")
	ErrKeyringFull = errors.New("auth: keyring full")
	ErrWrongKind   = errors.New("auth: wrong key kind")
)

// keyVersion is one version of a key. material is derived from the seed
// (see newKeyVersion). An Ed25519 private key is reachable only through
// the sign closure, for the same reason Secret hides its bytes in one.
type keyVersion struct {
	version  uint32
	seed     Secret
	material Secret
	sign     func(msg []byte) []byte
	public   ed25519.PublicKey
}

type keyEntry struct {
	kind     KeyKind
	versions []keyVersion // ascending by version; the last is current
}

// Keyring holds per-purpose keys, each with versions. New tokens and
// signatures use a key's newest version; every live version still
// verifies, so rotation never invalidates what was issued before it.
//
// Keys are derived from seeds the caller supplies (env randomness or
// configuration); this package never reads an entropy source. Persisting
// keys is io/'s work: io/keyfile keeps the capability key's versions in a
// 0600 text file and rebuilds the keyring with Restore.
type Keyring struct {
	keys    map[string]*keyEntry
	metrics env.Metrics
}

// NewKeyring returns an empty keyring reporting rotations to m (nil: none).
func NewKeyring(m env.Metrics) *Keyring {
	return &Keyring{keys: map[string]*keyEntry{}, metrics: m}
}

// Format keeps key material out of every fmt verb.
func (k *Keyring) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "Keyring{%d keys %s}", len(k.keys), Redacted)
}

// Create adds key id of kind at version 1, derived from seed.
func (k *Keyring) Create(id string, kind KeyKind, seed Secret) error {
	if err := checkKeyArgs(id, kind, seed); err != nil {
		return err
	}
	if _, ok := k.keys[id]; ok {
		return fmt.Errorf("%w: %q", ErrKeyExists, id)
	}
	if len(k.keys) >= KeysMax {
		return fmt.Errorf("%w: %d keys", ErrKeyringFull, KeysMax)
	}
	k.keys[id] = &keyEntry{kind: kind, versions: []keyVersion{newKeyVersion(id, kind, 1, seed)}}
	return nil
}

// StoredVersion is one version of a key as io/ persists it: the version
// number and the seed its material derives from.
type StoredVersion struct {
	Version uint32
	Seed    Secret
}

// Restore adds key id of kind with versions read back from storage,
// ascending by version, the last current. Unlike Create and Rotate it keeps
// the stored version numbers, so tokens made before a restart or a retire
// still name their version; and it counts no rotation, since restoring a
// keyring is not rotating it.
func (k *Keyring) Restore(id string, kind KeyKind, versions []StoredVersion) error {
	if len(versions) == 0 || len(versions) > KeyVersionsMax {
		return fmt.Errorf("%w: key %q with %d versions outside 1..%d", ErrInvalid, id, len(versions), KeyVersionsMax)
	}
	if _, ok := k.keys[id]; ok {
		return fmt.Errorf("%w: %q", ErrKeyExists, id)
	}
	if len(k.keys) >= KeysMax {
		return fmt.Errorf("%w: %d keys", ErrKeyringFull, KeysMax)
	}
	e := &keyEntry{kind: kind}
	for i, v := range versions {
		if err := checkKeyArgs(id, kind, v.Seed); err != nil {
			return err
		}
		if v.Version == 0 || i > 0 && v.Version <= versions[i-1].Version {
			return fmt.Errorf("%w: key %q: version %d at position %d is zero or not ascending", ErrInvalid, id, v.Version, i)
		}
		e.versions = append(e.versions, newKeyVersion(id, kind, v.Version, v.Seed))
	}
	k.keys[id] = e
	return nil
}

// Rotate adds a new version of id derived from seed, makes it current and
// counts kms_rotation_events_total{key=id}. It returns the new version.
func (k *Keyring) Rotate(id string, seed Secret) (uint32, error) {
	e, ok := k.keys[id]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	if err := checkKeyArgs(id, e.kind, seed); err != nil {
		return 0, err
	}
	if len(e.versions) >= KeyVersionsMax {
		return 0, fmt.Errorf("%w: key %q has %d versions; retire one first", ErrKeyringFull, id, KeyVersionsMax)
	}
	last := e.versions[len(e.versions)-1].version
	if last == math.MaxUint32 {
		return 0, fmt.Errorf("%w: key %q has no versions left", ErrKeyringFull, id)
	}
	e.versions = append(e.versions, newKeyVersion(id, e.kind, last+1, seed))
	if k.metrics != nil {
		k.metrics.Add(MetricKMSRotations, id, 1)
	}
	return last + 1, nil
}

// Retire removes an old version of id; tokens and signatures made with it
// stop verifying. The current version cannot be retired.
func (k *Keyring) Retire(id string, version uint32) error {
	e, ok := k.keys[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	i := e.find(version)
	if i < 0 {
		return fmt.Errorf("%w: %q version %d", ErrKeyNotFound, id, version)
	}
	if i == len(e.versions)-1 {
		return fmt.Errorf("%w: cannot retire the current version %d of %q", ErrInvalid, version, id)
	}
	e.versions = append(e.versions[:i], e.versions[i+1:]...)
	return nil
}

// IDs returns the key ids in ascending order.
func (k *Keyring) IDs() []string { return env.SortedKeys(k.keys) }

// Versions returns the live versions of id, ascending (nil if unknown).
func (k *Keyring) Versions(id string) []uint32 {
	e, ok := k.keys[id]
	if !ok {
		return nil
	}
	out := make([]uint32, len(e.versions))
	for i, v := range e.versions {
		out[i] = v.version
	}
	return out
}

// MACKey implements KeySource: version of MAC key id, if live.
func (k *Keyring) MACKey(id string, version uint32) (MACKey, bool) {
	e, ok := k.keys[id]
	if !ok || e.kind != KindMAC {
		return MACKey{}, false
	}
	i := e.find(version)
	if i < 0 {
		return MACKey{}, false
	}
	return MACKey{ID: id, Version: version, Secret: e.versions[i].material}, true
}

// CurrentMACKey returns the newest version of MAC key id, for minting.
func (k *Keyring) CurrentMACKey(id string) (MACKey, error) {
	v, err := k.current(id, KindMAC)
	if err != nil {
		return MACKey{}, err
	}
	return MACKey{ID: id, Version: v.version, Secret: v.material}, nil
}

// Sign signs msg with the newest version of Ed25519 key id and returns
// that version with the signature.
func (k *Keyring) Sign(id string, msg []byte) (uint32, []byte, error) {
	v, err := k.current(id, KindEd25519)
	if err != nil {
		return 0, nil, err
	}
	return v.version, v.sign(msg), nil
}

// PublicKey returns the public key of version of Ed25519 key id.
func (k *Keyring) PublicKey(id string, version uint32) (ed25519.PublicKey, error) {
	e, ok := k.keys[id]
	if !ok || e.kind != KindEd25519 {
		return nil, fmt.Errorf("%w: ed25519 key %q", ErrKeyNotFound, id)
	}
	i := e.find(version)
	if i < 0 {
		return nil, fmt.Errorf("%w: %q version %d", ErrKeyNotFound, id, version)
	}
	return e.versions[i].public, nil
}

// VerifySignature checks sig over msg against version of key id.
func (k *Keyring) VerifySignature(id string, version uint32, msg, sig []byte) bool {
	pub, err := k.PublicKey(id, version)
	return err == nil && ed25519.Verify(pub, msg, sig)
}

func (k *Keyring) current(id string, kind KeyKind) (keyVersion, error) {
	e, ok := k.keys[id]
	if !ok {
		return keyVersion{}, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	if e.kind != kind {
		return keyVersion{}, fmt.Errorf("%w: %q is %s, want %s", ErrWrongKind, id, e.kind, kind)
	}
	return e.versions[len(e.versions)-1], nil
}

func (e *keyEntry) find(version uint32) int {
	for i, v := range e.versions {
		if v.version == version {
			return i
		}
	}
	return -1
}

func checkKeyArgs(id string, kind KeyKind, seed Secret) error {
	if id == "" || len(id) > KeyIDBytesMax {
		return fmt.Errorf("%w: key id of %d bytes outside 1..%d", ErrInvalid, len(id), KeyIDBytesMax)
	}
	if kind != KindMAC && kind != KindEd25519 {
		return fmt.Errorf("%w: key kind %d", ErrInvalid, kind)
	}
	if seed.IsZero() {
		return fmt.Errorf("%w: zero seed for key %q", ErrInvalid, id)
	}
	return nil
}

// newKeyVersion derives a version's material from its seed with BLAKE3's
// key derivation mode, under a context naming the kind and the key id, so
// one seed reused across purposes still yields unrelated keys.
func newKeyVersion(id string, kind KeyKind, version uint32, seed Secret) keyVersion {
	var material [KeyBytes]byte
	blake3.DeriveKey(material[:], "ron kms v1 "+kind.String()+" "+id, seed.bytes())
	v := keyVersion{version: version, seed: seed, material: secretOf(&material)}
	if kind == KindEd25519 {
		sk := ed25519.NewKeyFromSeed(material[:])
		v.public = sk.Public().(ed25519.PublicKey)
		v.sign = func(msg []byte) []byte { return ed25519.Sign(sk, msg) }
	}
	return v
}

// Marshal encodes the keyring, seeds included: the result is key material.
// io/ writes it to a file with mode 0600 and never logs it.
func (k *Keyring) Marshal() []byte {
	b := wire.AppendUvarint(nil, keyringFormat)
	b = wire.AppendUvarint(b, uint64(len(k.keys)))
	for _, id := range k.IDs() {
		e := k.keys[id]
		b = wire.AppendString(b, id)
		b = wire.AppendUvarint(b, uint64(e.kind))
		b = wire.AppendUvarint(b, uint64(len(e.versions)))
		for _, v := range e.versions {
			b = wire.AppendUvarint(b, uint64(v.version))
			b = append(b, v.seed.bytes()...)
		}
	}
	return b
}

// UnmarshalKeyring decodes Marshal's output. Errors never quote the input.
func UnmarshalKeyring(data []byte, m env.Metrics) (*Keyring, error) {
	k := NewKeyring(m)
	r := wire.NewReader(data)
	if f := r.Uvarint(); r.Err() == nil && f != keyringFormat {
		return nil, fmt.Errorf("%w: keyring format %d, want %d", ErrMalformed, f, keyringFormat)
	}
	n := r.Count(KeysMax)
	for i := 0; i < n && r.Err() == nil; i++ {
		if err := k.readEntry(r); err != nil {
			return nil, fmt.Errorf("%w: keyring entry %d: %v", ErrMalformed, i, err)
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: keyring: %v", ErrMalformed, redactWireError(err))
	}
	return k, nil
}

func (k *Keyring) readEntry(r *wire.Reader) error {
	id := r.String(KeyIDBytesMax)
	kind := KeyKind(r.Uint(math.MaxUint8))
	count := r.Count(KeyVersionsMax)
	var seed [KeyBytes]byte
	e := &keyEntry{kind: kind}
	for j := 0; j < count && r.Err() == nil; j++ {
		version := uint32(r.Uint(math.MaxUint32))
		r.Fixed(seed[:])
		s, _ := NewSecret(seed[:])
		if len(e.versions) > 0 && version <= e.versions[len(e.versions)-1].version {
			return fmt.Errorf("versions of %q not ascending", id)
		}
		e.versions = append(e.versions, newKeyVersion(id, kind, version, s))
	}
	if r.Err() != nil {
		return nil // reported by the caller's r.Done
	}
	if err := checkKeyArgs(id, kind, secretOf(&seed)); err != nil || count == 0 || e.versions[0].version == 0 {
		return fmt.Errorf("bad key %q (kind %d, %d versions)", id, kind, count)
	}
	if _, dup := k.keys[id]; dup {
		return fmt.Errorf("duplicate key %q", id)
	}
	k.keys[id] = e
	return nil
}

// redactWireError drops everything but the class of a decode error: wire
// errors give offsets only, but a keyring's bytes are secret, so say less.
func redactWireError(err error) error {
	if errors.Is(err, wire.ErrMalformed) {
		return wire.ErrMalformed
	}
	return err
}
