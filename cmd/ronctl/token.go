package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/io/keyfile"
)

// ttlMax is the longest --ttl: 100 years.
const ttlMax = 100 * 365 * 24 * time.Hour

// tokenFlags are the flags of the token, audit and key commands.
type tokenFlags struct {
	tenant, ops, prefix, audience string
	op, resource, file            string
	ttl                           time.Duration
	maxBytes, bytes               uint64
	maxBytesSet                   bool
	// ttlSet tells --ttl 0 (refused) from no --ttl (no expiry caveat).
	ttlSet bool
	// capKeyFile and version are the flags of key rotate and retire
	// (keys.go); token issue and verify take --cap-key-file for --key.
	capKeyFile string
	// auditBase is audit verify's --base: the X-Ron-Audit-Base of an
	// export that retention cut ("<seq>:<hash hex>").
	auditBase  string
	version    uint64
	versionSet bool
}

func (f *tokenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tenant, "tenant", "", "")
	fs.StringVar(&f.ops, "ops", "", "")
	fs.StringVar(&f.prefix, "prefix", "", "")
	fs.StringVar(&f.audience, "audience", "", "")
	fs.StringVar(&f.op, "op", "", "")
	fs.StringVar(&f.resource, "resource", "", "")
	fs.StringVar(&f.file, "file", "", "")
	fs.StringVar(&f.auditBase, "base", "", "")
	fs.Func("ttl", "", func(v string) error {
		d, err := time.ParseDuration(v)
		f.ttl, f.ttlSet = d, true
		return err
	})
	fs.Uint64Var(&f.bytes, "bytes", 0, "")
	fs.Func("max-bytes", "", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		f.maxBytes, f.maxBytesSet = n, true
		return err
	})
	fs.StringVar(&f.capKeyFile, "cap-key-file", "", "")
	fs.Func("version", "", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		f.version, f.versionSet = n, true
		return err
	})
}

// caveats turns the restriction flags into caveats, relative to now.
func (f *tokenFlags) caveats(now time.Time) ([]auth.Caveat, error) {
	var out []auth.Caveat
	if f.ops != "" {
		var ops []auth.Op
		for _, name := range splitList(f.ops) {
			op, err := auth.ParseOp(name)
			if err != nil {
				return nil, usageError{fmt.Sprintf("--ops: unknown op %q (want read, write, delete, name, admin)", name)}
			}
			ops = append(ops, op)
		}
		out = append(out, auth.AllowOps(ops...))
	}
	// --ttl 0 used to mint a token that never expires, which reads as
	// "expires at once"; a permanent token is asked for by omitting --ttl.
	if f.ttlSet && f.ttl <= 0 {
		return nil, usageError{fmt.Sprintf("--ttl %v: must be positive (omit --ttl for a token that never expires)", f.ttl)}
	}
	// An expiry is nanoseconds since 1970 in an int64, which ends in 2262:
	// a --ttl of ~240 years and more would wrap it into the past.
	if f.ttlSet && f.ttl > ttlMax {
		return nil, usageError{fmt.Sprintf("--ttl %v: more than 100 years (omit --ttl for a token that never expires)", f.ttl)}
	}
	if f.ttlSet {
		out = append(out, auth.Expiry(env.Time(now.Add(f.ttl).UnixNano())))
	}
	if f.prefix != "" {
		out = append(out, auth.Prefix(f.prefix))
	}
	if f.maxBytesSet {
		out = append(out, auth.MaxBytes(f.maxBytes))
	}
	if f.audience != "" {
		out = append(out, auth.Audience(f.audience))
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *client) tokenCmd(args []string) error {
	if len(args) == 0 {
		return usageError{"usage: ronctl token issue|attenuate|inspect|verify|revoke ..."}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "issue":
		if err := need(args, 0, "token issue --key FILE --tenant T --ops write,name [--prefix P] [--ttl 1h] [--max-bytes N]"); err != nil {
			return err
		}
		return c.tokenIssue()
	case "revoke":
		if err := need(args, 1, "token revoke TOKEN|ID|- --node URL --token ADMIN_TOKEN"); err != nil {
			return err
		}
		text, err := c.tokenText(args[0])
		if err != nil {
			return err
		}
		return c.tokenRevoke(text)
	case "attenuate", "inspect", "verify":
		if err := need(args, 1, "token "+sub+" TOKEN|- ..."); err != nil {
			return err
		}
		text, err := c.tokenText(args[0])
		if err != nil {
			return err
		}
		switch sub {
		case "attenuate":
			return c.tokenAttenuate(text)
		case "inspect":
			return c.tokenInspect(text)
		}
		return c.tokenVerify(text)
	}
	return usageError{fmt.Sprintf("unknown token command %q", sub)}
}

// tokenText is the argument, or one line of stdin for "-" (so a token
// need not appear in a shell's history or the process list).
func (c *client) tokenText(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, auth.TokenTextBytesMax+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// capKey reads the cap key file of --key (or --cap-key-file): every live
// version verifies, and the returned MAC key, the newest, mints.
func (c *client) capKey() (*auth.Keyring, auth.MACKey, error) {
	path := c.keyFile
	if path == "" {
		path = c.tok.capKeyFile
	}
	if path == "" {
		return nil, auth.MACKey{}, usageError{"--key FILE is required (the node's cap key: rond --cap-key-file, or DIR/cap.key)"}
	}
	return keyfile.ReadCapKey(path)
}

func (c *client) tokenIssue() error {
	_, key, err := c.capKey()
	if err != nil {
		return err
	}
	if c.tok.tenant == "" || c.tok.ops == "" {
		return usageError{"token issue needs --tenant T and --ops op,op"}
	}
	caveats, err := c.tok.caveats(time.Now())
	if err != nil {
		return err
	}
	// The scope is the ops; the ops caveat is then redundant, but
	// keeping scope and caveat equal makes inspect show one set.
	scope := caveats[0].Ops
	var nonce [auth.NonceBytes]byte
	if err := randomNonce(nonce[:]); err != nil {
		return err
	}
	tok, err := auth.Mint(key, c.tok.tenant, scope, nonce, caveats[1:]...)
	if err != nil {
		return err
	}
	return c.printToken(tok)
}

func (c *client) tokenAttenuate(text string) error {
	tok, err := auth.Decode(text)
	if err != nil {
		return err
	}
	caveats, err := c.tok.caveats(time.Now())
	if err != nil {
		return err
	}
	if c.tok.tenant != "" {
		caveats = append(caveats, auth.Tenant(c.tok.tenant))
	}
	if len(caveats) == 0 {
		return usageError{"token attenuate needs at least one of --ops --ttl --prefix --max-bytes --tenant --audience"}
	}
	narrowed, err := tok.Attenuate(caveats...)
	if err != nil {
		return err
	}
	return c.printToken(narrowed)
}

func (c *client) printToken(tok *auth.Token) error {
	if c.json {
		return json.NewEncoder(c.stdout).Encode(map[string]any{"token": tok.Encode(), "id": tok.ID().String(), "grant": grantJSON(tok)})
	}
	_, err := fmt.Fprintln(c.stdout, tok.Encode())
	return err
}

// TokenInfo is what inspect shows: everything but the MAC (a bearer
// secret for anyone who could extend the chain from it).
type TokenInfo struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	KeyID      string    `json:"key_id"`
	KeyVersion uint32    `json:"key_version"`
	Scope      string    `json:"scope"`
	Caveats    []string  `json:"caveats"`
	Grant      GrantJSON `json:"grant"`
	Bytes      int       `json:"bytes"`
}

// GrantJSON is the effective grant: the intersection of scope and caveats.
type GrantJSON struct {
	Ops       string   `json:"ops"`
	Expiry    string   `json:"expiry,omitempty"`
	NotBefore string   `json:"not_before,omitempty"`
	MaxBytes  *uint64  `json:"max_bytes,omitempty"`
	Prefixes  []string `json:"prefixes,omitempty"`
	Tenants   []string `json:"tenants,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

func grantJSON(tok *auth.Token) GrantJSON {
	g := auth.Effective(tok)
	out := GrantJSON{Ops: g.Ops.String(), Prefixes: g.Prefixes, Tenants: g.Tenants, Audiences: g.Audiences}
	if g.Expiry != math.MaxInt64 {
		out.Expiry = formatTime(g.Expiry)
	}
	if g.NotBefore != math.MinInt64 {
		out.NotBefore = formatTime(g.NotBefore)
	}
	if g.MaxBytes != math.MaxUint64 {
		out.MaxBytes = &g.MaxBytes
	}
	return out
}

func formatTime(t env.Time) string { return time.Unix(0, int64(t)).UTC().Format(time.RFC3339) }

func caveatText(cv auth.Caveat) string {
	switch cv.Kind {
	case auth.CaveatExpiry, auth.CaveatNotBefore:
		return cv.Kind.String() + " " + formatTime(cv.Time)
	case auth.CaveatOps:
		return "ops " + cv.Ops.String()
	case auth.CaveatMaxBytes:
		return "max_bytes " + strconv.FormatUint(cv.Bytes, 10)
	}
	return cv.Kind.String() + " " + strconv.Quote(cv.Text)
}

// displayText is a token's free-text base field (tenant, key id: anyone
// can mint a token text with any bytes there) for a terminal: as is when
// every character is printable (audit.go's printable), else quoted with
// strconv.Quote, as caveat text is, so a newline, ESC or a bidi control
// reaches the terminal as an escape, not as itself.
func displayText(s string) string {
	if strings.Map(printable, s) == s {
		return s
	}
	return strconv.Quote(s)
}

func (c *client) tokenInspect(text string) error {
	tok, err := auth.Decode(text)
	if err != nil {
		return err
	}
	info := TokenInfo{ID: tok.ID().String(), Tenant: tok.Tenant, KeyID: tok.KeyID, KeyVersion: tok.KeyVersion,
		Scope: tok.Scope.String(), Caveats: []string{}, Grant: grantJSON(tok), Bytes: len(tok.Marshal())}
	for _, cv := range tok.Caveats {
		info.Caveats = append(info.Caveats, caveatText(cv))
	}
	if c.json {
		return json.NewEncoder(c.stdout).Encode(info)
	}
	w := c.stdout
	fmt.Fprintf(w, "id         %s\ntenant     %s\nkey        %s v%d\nscope      %s\n", info.ID, displayText(info.Tenant),
		displayText(info.KeyID), info.KeyVersion, info.Scope)
	for i, cv := range info.Caveats {
		fmt.Fprintf(w, "caveat %-3d %s\n", i+1, cv)
	}
	fmt.Fprintf(w, "grant ops  %s\n", info.Grant.Ops)
	expiry := info.Grant.Expiry
	if expiry == "" {
		expiry = "never"
	}
	fmt.Fprintf(w, "expires    %s\n", expiry)
	fmt.Fprintf(w, "(the MAC is not shown; `token verify --key` checks it)\n")
	return nil
}

// tokenVerify checks the token offline with the cap key; a deny exits 1
// with the stable reason.
func (c *client) tokenVerify(text string) error {
	keys, _, err := c.capKey()
	if err != nil {
		return err
	}
	if c.tok.op == "" {
		return usageError{"token verify needs --op OP (and --resource R for prefix caveats)"}
	}
	op, err := auth.ParseOp(c.tok.op)
	if err != nil {
		return usageError{err.Error()}
	}
	req := auth.Request{Op: op, Resource: c.tok.resource, Tenant: c.tok.tenant, Bytes: c.tok.bytes,
		Now: env.Time(time.Now().UnixNano())}
	if req.Tenant == "" {
		if tok, err := auth.Decode(text); err == nil {
			req.Tenant = tok.Tenant
		}
	}
	var audiences []string
	if c.tok.audience != "" {
		audiences = append(audiences, c.tok.audience)
	}
	v := auth.NewVerifier(keys, nil, audiences...).Verify(text, req)
	if c.json {
		_ = json.NewEncoder(c.stdout).Encode(map[string]any{"allowed": v.Allowed(), "reason": string(v.Reason)})
	} else if v.Allowed() {
		fmt.Fprintf(c.stdout, "allowed: %s on %q for tenant %s\n", op, req.Resource, req.Tenant)
	}
	if !v.Allowed() {
		return fmt.Errorf("denied: %s", v.Reason)
	}
	return nil
}

func randomNonce(b []byte) error {
	_, err := rand.Read(b)
	return err
}

// tokenRevoke asks the node to revoke a token (or a token id: 64 hex
// digits) through POST /tokens/revoke, with the --token admin token. The
// node answers once the registry committed the revocation; every node
// enforces it within its pull interval.
func (c *client) tokenRevoke(text string) error {
	body := map[string]string{"token": text}
	if b, err := hex.DecodeString(text); err == nil && len(b) == len(auth.TokenID{}) {
		body = map[string]string{"id": text}
	}
	data, _ := json.Marshal(body)
	resp, err := c.do("POST", "/tokens/revoke", data, true)
	if err != nil {
		return err
	}
	if c.json {
		_, err = c.stdout.Write(resp)
		return err
	}
	var ans struct {
		ID    string `json:"id"`
		Until string `json:"until"`
	}
	if err := json.Unmarshal(resp, &ans); err != nil {
		return fmt.Errorf("POST /tokens/revoke: answer: %v", err)
	}
	if ans.Until == "" {
		ans.Until = "never (kept for good)"
	}
	_, err = fmt.Fprintf(c.stdout, "revoked %s (entry kept until %s)\n", ans.ID, ans.Until)
	return err
}
