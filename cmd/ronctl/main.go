// Command ronctl is the client of a rond node's HTTP API.
//
//	ronctl put FILE|-             store a file (or stdin); prints its b3: address
//	ronctl get ADDR [-o FILE]     fetch an object into FILE, or to stdout when
//	                              it is not a terminal (as curl does)
//	ronctl cat ADDR               fetch an object to stdout
//	ronctl name claim NAME --key FILE
//	ronctl name set NAME ADDR --key FILE [--seq N]
//	ronctl name get NAME
//	ronctl providers ADDR
//	ronctl status                 node id, profile, readiness, peers, counts
//	ronctl help [COMMAND]         ronctl COMMAND --help says the same
//	ronctl version                also --version
//	ronctl key gen FILE           make an owner key (hex Ed25519 seed, mode 0600)
//	ronctl token issue|attenuate|inspect|verify|revoke ...   capability tokens (token.go)
//	ronctl audit verify [--node URL | --file FILE [--base SEQ:HASH]]    check an audit chain
//	ronctl audit list [--node URL | --file FILE [--base SEQ:HASH]]      check it, print every record
//	ronctl key id FILE            print the node id of a key file (rond --node-key)
//	ronctl key rotate --cap-key-file FILE            add a cap key version (keys.go)
//	ronctl key retire --cap-key-file FILE --version N  drop one; its tokens stop verifying
//	ronctl registry leader [--to N|NODE_ID]   move registry leadership (registry.go)
//
// Global flags (before or after the command): --node URL (default
// http://127.0.0.1:8080), --token TOKEN (default $RON_TOKEN), --json,
// --quiet, and --oap ADDR with --node-id ID (or --oap-insecure) to send
// every request over OAP/1 instead of HTTP (oap.go). --node takes a URL
// or a bare host:port (http:// assumed). put and get stream (transfer.go):
// memory stays bounded whatever the object's size; of more than 1 MiB they
// draw a progress bar (bytes, percent, rate, ETA; get then says
// "verifying") on stderr when it is a terminal (progress.go). SIGINT or
// SIGTERM during get -o FILE cancels the download, removes its temporary
// file, leaves FILE as it was and exits 128+signal (interrupt.go). With --json,
// an error is also printed as a JSON object on stdout.
// Every failure exits non-zero with one line naming the reason; usage
// errors exit 2.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/regfile"
)

const usage = `ronctl talks to a rond node over HTTP, or OAP/1 with --oap.

Commands:
  put FILE|-                      store a file or stdin; prints the b3: address
  get ADDR [-o FILE]              fetch an object into FILE, checking its hash before
                                  the file appears; without -o, to stdout when stdout is
                                  not a terminal (pipe or redirect), else refused
  cat ADDR                        fetch an object to stdout (hash checked at the end)
  name claim NAME --key FILE      claim NAME for the key's owner
  name set NAME ADDR --key FILE [--seq N]
                                  point NAME at ADDR (seq: current + 1 unless given)
  name get NAME                   resolve NAME
  providers ADDR                  list the nodes that provide ADDR
  status                          node id, profile, version, readiness and its reason,
                                  peers, object and name counts, flags (GET /status)
  key gen FILE                    create an owner key file (mode 0600)
  token issue --key FILE --tenant T --ops write,name [--prefix P] [--ttl 1h] [--max-bytes N]
                                  mint a token with the node's cap key file; without --ttl
                                  it never expires (--ttl 0 is refused). The delete op
                                  is node-wide: objects have no owner, so a delete token
                                  deletes anyone's objects; mint it only for admins, or
                                  narrowed with --prefix
  token attenuate TOKEN|- [--ops read] [--ttl 5m] [--prefix P] [--max-bytes N] [--tenant T]
                                  narrow a token offline (no key needed)
  token inspect TOKEN|-           show tenant, key id, scope, caveats, expiry (never the MAC)
  token verify TOKEN|- --key FILE --op OP [--resource R] [--bytes N]
                                  check a token offline; exit 1 with the deny reason
  token revoke TOKEN|ID|-         revoke a token (or its id) on the node, with an admin --token;
                                  answers once the registry committed it
  audit verify [--file FILE [--base SEQ:HASH]]
                                  fetch GET /audit (admin token) or read an export, verify
                                  the hash chain; exit 1 naming the first bad record; an
                                  export retention cut verifies from its X-Ron-Audit-Base
                                  (--base, with --file only), which must end a segment and
                                  be named by a retention record in the log
  audit list [--file FILE [--base SEQ:HASH]]
                                  verify as audit verify, then print every record: seq, time,
                                  kind, subject, actor, tenant, detail (what rond started
                                  with and each reload: key_rotate cap_keys, policy_change
                                  <bundle>|members, refused:* for a refused reload); --json
                                  prints the records as GET /audit streams them
  key id FILE                     print the node id of a key file (rond --node-key
                                  takes the same format): for --bootstrap/--replicas
  key rotate --cap-key-file FILE  add a version to a node's cap key file (atomic rewrite):
                                  new tokens use it, older versions still verify
  key retire --cap-key-file FILE --version N
                                  drop version N: its tokens get 401 unknown_key once
                                  rond reloads the file (within 1 s, or on SIGHUP)
  registry leader [--to N|NODE_ID]
                                  move registry (raft) leadership, as etcdctl move-leader:
                                  to replica N (1..: its place in the sorted --replicas list)
                                  or node NODE_ID, without --to to the best caught-up voter;
                                  ask the leader's node with an admin --token (another node
                                  answers 409 not_leader naming the leader); prints the old
                                  and new leader. For a slow but live leader, which raft
                                  does not replace on its own
  help [COMMAND]                  this text, or one command's (also: COMMAND --help)
  version                         version, Go version and VCS revision (also --version)

Flags (anywhere on the line):
  --node URL     node to talk to (default http://127.0.0.1:8080; host:port means http://)
  --token TOKEN  capability token for writes (default $RON_TOKEN)
  --oap ADDR     talk OAP/1 over QUIC to the node's client endpoint (rond's banner
                 prints it) instead of HTTP; the token rides in the START frame
  --node-id ID   with --oap: pin the node id (rond's banner prints it)
  --oap-insecure with --oap: accept whatever node answers (no pin)
  --json         print JSON instead of plain text (and no progress bar); errors too
  --quiet        no progress bar (put and get of files over 1 MiB draw one on a terminal)
  -o FILE        output file of get (- for stdout)
  --key FILE     owner key of name claim and set
  --seq N        seq of name set
  --to N|ID      target replica of registry leader

Examples:
  export RON_TOKEN=...    # printed by rond at start
  ronctl put README.md
  ronctl get b3:... -o copy.md
  ronctl cat b3:... | head
  ronctl key gen owner.key && ronctl name claim docs.example --key owner.key
  ronctl name set docs.example b3:... --key owner.key
  curl http://127.0.0.1:8080/n/docs.example
  ronctl key rotate --cap-key-file /var/lib/ron/cap.key      # rond picks it up
  ronctl token issue --key /var/lib/ron/cap.key --tenant acme --ops write --ttl 24h
  ronctl key retire --cap-key-file /var/lib/ron/cap.key --version 1
  ronctl registry leader --node http://leader:8080 --to 2    # admin token
  ronctl registry leader --node http://leader:8080           # best caught-up voter
`

// requestTimeout bounds one HTTP exchange.
const requestTimeout = 2 * time.Minute

type client struct {
	ctx                       context.Context // nil: Background; get -o FILE's is cancelled by SIGINT/SIGTERM (interrupt.go)
	node, token, out, keyFile string
	seq                       uint64
	seqSet, json              bool
	leaderTo                  string     // registry leader --to (registry.go)
	tok                       tokenFlags // token and audit commands (token.go)
	oap                       oapFlags   // --oap: every request over OAP/1 (oap.go)
	stdout                    io.Writer
	stderr                    io.Writer
	stdin                     io.Reader
	http                      *http.Client

	// The progress bar of put and get (progress.go): barOut is nil when
	// no bar may be drawn; transfer is set by the commands that draw one.
	quiet, transfer bool
	barOut          io.Writer
	bar             *progress
}

// usageError exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if wantsVersion(args) {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	c := &client{stdout: stdout, stderr: stderr, stdin: stdin, http: &http.Client{Timeout: requestTimeout}}
	rest, err := c.parse(args, stderr)
	defer c.closeOAP()
	c.barOut = c.progressOut(stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, helpText(rest))
		return 0
	}
	if err == nil {
		err = c.dispatch(rest)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "ronctl: "+strings.ReplaceAll(err.Error(), "\n", " "))
	var nr *notReadyError
	if c.json && !errors.As(err, &nr) {
		printJSONError(stdout, err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	var ie *interruptedError
	if errors.As(err, &ie) {
		return ie.exitCode()
	}
	return 1
}

// printJSONError writes err as one JSON object: {"ok": false, "error":
// text, "usage": true} or, for an answer of the node, its "http" status,
// code, message and corr_id.
func printJSONError(w io.Writer, err error) {
	out := map[string]any{"ok": false, "error": err.Error()}
	var ae *apiError
	var ue usageError
	switch {
	case errors.As(err, &ae):
		out["http"] = ae
	case errors.As(err, &ue):
		out["usage"] = true
	}
	_ = json.NewEncoder(w).Encode(out)
}

// parse accepts flags anywhere: it parses repeatedly, collecting the
// positional arguments between flags. On --help it returns the
// positionals seen so far (the command) with flag.ErrHelp.
func (c *client) parse(args []string, stderr io.Writer) ([]string, error) {
	fs := flag.NewFlagSet("ronctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.node, "node", "http://127.0.0.1:8080", "")
	fs.StringVar(&c.token, "token", os.Getenv("RON_TOKEN"), "")
	fs.BoolVar(&c.json, "json", false, "")
	fs.BoolVar(&c.quiet, "quiet", false, "")
	fs.StringVar(&c.out, "o", "", "")
	fs.StringVar(&c.keyFile, "key", "", "")
	fs.Func("to", "", func(v string) error {
		if v == "" { // not the same as no --to (the best voter): a typo or an unset variable
			return errors.New("empty: want a replica number (1, 2, ...) or a node id; omit --to for the best caught-up voter")
		}
		c.leaderTo = v
		return nil
	})
	c.tok.register(fs)
	c.oap.register(fs)
	fs.Func("seq", "", func(v string) error {
		_, err := fmt.Sscan(v, &c.seq)
		c.seqSet = true
		return err
	})
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return append(rest, fs.Args()...), err
			}
			return nil, usageError{err.Error() + " (run 'ronctl --help')"}
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	node, err := nodeURL(c.node)
	if err != nil {
		return nil, err
	}
	c.node = node
	return rest, c.useOAP()
}

// nodeURL normalizes --node: a bare host:port means http://host:port, and
// a trailing slash is dropped.
func nodeURL(node string) (string, error) {
	if !strings.Contains(node, "://") {
		node = "http://" + node
	}
	u, err := url.Parse(node)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", usageError{fmt.Sprintf("--node %q: want http://HOST:PORT (or HOST:PORT), e.g. http://127.0.0.1:8080", node)}
	}
	return strings.TrimRight(node, "/"), nil
}

func need(args []string, n int, form string) error {
	if len(args) != n {
		return usageError{"usage: ronctl " + form}
	}
	return nil
}

func (c *client) dispatch(args []string) error {
	if len(args) == 0 {
		return usageError{"no command (run 'ronctl --help')"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "put":
		if err := need(args, 1, "put FILE|-"); err != nil {
			return err
		}
		return c.put(args[0])
	case "get", "cat":
		if err := need(args, 1, cmd+" ADDR"); err != nil {
			return err
		}
		return c.get(args[0], cmd == "cat")
	case "name":
		return c.name(args)
	case "providers":
		if err := need(args, 1, "providers ADDR"); err != nil {
			return err
		}
		return c.show("GET", "/providers/"+args[0], nil, false)
	case "status":
		return c.status()
	case "token":
		return c.tokenCmd(args)
	case "audit":
		return c.auditCmd(args)
	case "key":
		return c.keyCmd(args)
	case "registry":
		return c.registryCmd(args)
	case "help":
		_, err := fmt.Fprint(c.stdout, helpText(args))
		return err
	case "version":
		_, err := fmt.Fprintln(c.stdout, versionLine())
		return err
	}
	return usageError{fmt.Sprintf("unknown command %q (run 'ronctl --help')", cmd)}
}

func (c *client) name(args []string) error {
	if len(args) < 2 {
		return usageError{"usage: ronctl name claim|set|get NAME ..."}
	}
	sub, name := args[0], args[1]
	switch sub {
	case "get":
		return c.show("GET", "/names/"+name, nil, false)
	case "claim":
		key, err := c.ownerKey()
		if err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]string{"owner": hex.EncodeToString(key.Public().(ed25519.PublicKey))})
		return c.show("POST", "/names/"+name, body, true)
	case "set":
		if err := need(args, 3, "name set NAME ADDR --key FILE [--seq N]"); err != nil {
			return err
		}
		return c.setName(name, args[2])
	}
	return usageError{fmt.Sprintf("unknown name command %q", sub)}
}

func (c *client) setName(name, target string) error {
	addr, err := proto.ParseAddr(target)
	if err != nil {
		return usageError{err.Error()}
	}
	key, err := c.ownerKey()
	if err != nil {
		return err
	}
	seq := c.seq
	if !c.seqSet {
		var rec struct{ Seq uint64 }
		if err := c.fetchJSON("/names/"+name, &rec); err != nil {
			return err
		}
		seq = rec.Seq + 1
	}
	sig := ed25519.Sign(key, registry.SetSigningBytes(name, addr, seq))
	body, _ := json.Marshal(map[string]any{"target": addr.String(), "seq": seq,
		"owner": hex.EncodeToString(key.Public().(ed25519.PublicKey)), "sig": hex.EncodeToString(sig)})
	return c.show("PUT", "/names/"+name, body, true)
}

func (c *client) ownerKey() (ed25519.PrivateKey, error) {
	if c.keyFile == "" {
		return nil, usageError{"--key FILE is required (make one with: ronctl key gen FILE)"}
	}
	// A FIFO or device is refused by name and type, not read (a FIFO
	// without a writer would block for ever).
	text, err := regfile.ReadFile(c.keyFile, keyfile.FileBytesMax)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not a key file (want %d bytes of hex)", c.keyFile, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// keyID prints the node id (BLAKE3 of the public key) of a key file, so a
// cluster's --bootstrap and --replicas lists can be written before its
// nodes start (deploy/compose does).
func (c *client) keyID(path string) error {
	c.keyFile = path
	key, err := c.ownerKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey)))
	return nil
}

func keyGen(path string, stdout io.Writer) error {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(seed)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	fmt.Fprintf(stdout, "wrote %s (owner %s)\n", path, hex.EncodeToString(pub))
	return nil
}

// show performs a request and prints its JSON answer.
func (c *client) show(method, path string, body []byte, auth bool) error {
	resp, err := c.do(method, path, body, auth)
	if err != nil {
		return err
	}
	if c.json {
		_, err = c.stdout.Write(resp)
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, resp, "", "  ") != nil {
		_, err = c.stdout.Write(resp)
		return err
	}
	_, err = pretty.WriteTo(c.stdout)
	return err
}

func (c *client) fetchJSON(path string, v any) error {
	body, err := c.do("GET", path, nil, false)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// do performs a request and turns any non-2xx answer into an *apiError
// that carries the envelope's code and message.
func (c *client) do(method, path string, body []byte, auth bool) ([]byte, error) {
	data, status, err := c.exchange(method, path, body, auth)
	if err != nil {
		return nil, err
	}
	if status >= 200 && status < 300 {
		return data, nil
	}
	return nil, newAPIError(method, path, status, data)
}

// exchange performs a request with a small body and reads the whole
// answer (JSON: names, providers, token revocations).
func (c *client) exchange(method, path string, body []byte, auth bool) ([]byte, int, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	resp, err := c.send(method, path, reader, int64(len(body)), auth)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	defer c.endProgress()
	data, err := io.ReadAll(io.LimitReader(c.trackDownload(resp), answerBytesMax+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer: %v", err)
	}
	if len(data) > answerBytesMax {
		return nil, 0, fmt.Errorf("%s %s: the answer is larger than %d MiB; not a RON node's answer to this request", method, path, answerBytesMax>>20)
	}
	return data, resp.StatusCode, nil
}

// answerBytesMax bounds a small request's answer (names, providers,
// revocations, status: a few KiB to a few MiB from a real node), so a
// hostile or wrong server cannot make ronctl read without end.
const answerBytesMax = 64 << 20

// send starts a request whose body (nil: none) streams from body: size
// bytes, or chunked when size < 0. The caller closes the answer's body.
func (c *client) send(method, path string, body io.Reader, size int64, auth bool) (*http.Response, error) {
	// A replayable body (a file, bytes: io.ReaderAt at a known offset, of
	// a known size) is sent from its own section reader per attempt, so
	// an attempt's body writer still reading after its request failed
	// cannot take bytes from the next one.
	replay, canRetry := func() io.Reader { return body }, body == nil
	if ra, ok := body.(io.ReaderAt); ok && size >= 0 {
		if sk, ok := body.(io.Seeker); ok {
			if start, err := sk.Seek(0, io.SeekCurrent); err == nil {
				replay, canRetry = func() io.Reader { return io.NewSectionReader(ra, start, size) }, true
			}
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.sendOnce(method, path, replay(), size, auth)
		if !errors.Is(err, oapgate.ErrBusy) {
			return resp, err
		}
		if !canRetry || attempt == len(busyBackoff) {
			return nil, fmt.Errorf("%s refused the request as busy, %d times (nothing was served): %w", c.node, attempt+1, err)
		}
		select {
		case <-time.After(busyBackoff[attempt]):
		case <-c.context().Done():
			return nil, fmt.Errorf("%s refused the request as busy (nothing was served): %w", c.node, err)
		}
	}
}

// busyBackoff are the waits before each retry of a request the node
// refused as busy (oapgate.ErrBusy: too many START frames pending, or
// its connection was being closed; it served none of it, so a retry is
// safe, a PUT too). Pending STARTs
// clear within the node's StartTimeout (5 s). A variable for tests.
var busyBackoff = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// sendOnce is one attempt of send.
func (c *client) sendOnce(method, path string, body io.Reader, size int64, auth bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(c.context(), method, c.node+path, body)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if auth {
		if c.token == "" {
			return nil, usageError{"this command writes: pass --token or set RON_TOKEN"}
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	switch {
	case body == nil:
	case strings.HasPrefix(path, "/names/"), path == "/tokens/revoke":
		req.Header.Set("Content-Type", "application/json")
	default:
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	c.trackUpload(req, size)
	resp, err := c.http.Do(req)
	if err != nil {
		c.endProgress()
		if errors.Is(err, oapgate.ErrBusy) {
			return nil, err // the node was reached, and refused
		}
		return nil, fmt.Errorf("cannot reach %s: %v", c.node, err)
	}
	return resp, nil
}

// apiError is a non-2xx answer of the node, with its error envelope when
// it sent one.
type apiError struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	CorrID  string `json:"corr_id,omitempty"`
	// Retryable is the envelope's: the node says the same request may
	// succeed later (503 UNAVAILABLE of a read cut off from the registry
	// quorum, 429, ...). ronctl does not retry it itself; the message
	// says it is temporary.
	Retryable bool   `json:"retryable,omitempty"`
	Hint      string `json:"hint,omitempty"`
}

// answerErrorBytesMax bounds how much of an error answer is read.
const answerErrorBytesMax = 64 << 10

func newAPIError(method, path string, status int, data []byte) *apiError {
	e := &apiError{Method: method, Path: path, Status: status}
	var env struct {
		Code, Message string
		CorrID        string `json:"corr_id"`
		Retryable     bool
	}
	if json.Unmarshal(data, &env) == nil && env.Code != "" {
		e.Code, e.Message, e.CorrID, e.Retryable = env.Code, env.Message, env.CorrID, env.Retryable
	}
	if status == http.StatusUnauthorized && strings.Contains(e.Message, "bad_mac") {
		e.Hint = "minted with another node's key? A token verifies only on the nodes that hold the cap key it was minted with " +
			"(rond --cap-key-file; a micronode makes a fresh key at every start, so its old tokens die with it)"
	}
	return e
}

// responseError reads (a bounded prefix of) a non-2xx answer into an
// *apiError.
func responseError(method, path string, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, answerErrorBytesMax))
	return newAPIError(method, path, resp.StatusCode, data)
}

func (e *apiError) Error() string {
	text := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		text = fmt.Sprintf("%s %s: %d %s: %s (corr_id %s)", e.Method, e.Path, e.Status, e.Code, e.Message, e.CorrID)
	}
	if e.Retryable {
		text += "; temporary: the node says the same request may succeed if retried later"
	}
	if e.Hint != "" {
		text += "; " + e.Hint
	}
	return text
}
