package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/quicnet"
	"github.com/ron-network/ron/io/runtime"
)

// Bounds of starting and stopping a node.
const (
	readyWaitMax = 30 * time.Second
	stopWaitMax  = 30 * time.Second
	// benchTenantRate replaces the gateway's per-tenant and anonymous
	// read rates in the in-process node (requests per second;
	// effectively no limit).
	benchTenantRate = 1e9
)

// target is a node under load: its base URL and a way to mint tokens.
type target struct {
	url   string
	key   auth.MACKey
	label string
	stop  func() error
	pid   int // the rond child (startRond), 0 in process
	// exited is closed once the rond child has exited (nil in process).
	exited <-chan struct{}
}

// token mints an every-op token for tenant.
func (t *target) token(tenant string) (string, error) {
	var nonce [auth.NonceBytes]byte
	_, _ = rand.Read(nonce[:])
	tok, err := auth.Mint(t.key, tenant, auth.OpsAll, nonce)
	if err != nil {
		return "", fmt.Errorf("ronbench: minting a token: %w", err)
	}
	return tok.Encode(), nil
}

// capKey creates the capability key file in dir and returns the keyring
// and MAC key derived from it (the same derivation rond uses).
func capKey(dir string) (string, *auth.Keyring, auth.MACKey, error) {
	path := filepath.Join(dir, "cap.key")
	seed, err := keyfile.ReadOrCreate(path, auth.KeyBytes)
	if err != nil {
		return "", nil, auth.MACKey{}, fmt.Errorf("ronbench: cap key: %w", err)
	}
	keys, key, err := keyfile.CapKeyring(seed)
	return path, keys, key, err
}

// refuseNodeDataDir refuses a --data-dir that holds a rond format record
// (DIR/FORMAT): it is a node's data dir, and the benchmark would write
// its objects into that node's store (in process, under a new node id).
func refuseNodeDataDir(dir string) error {
	path := filepath.Join(dir, datadir.RecordName)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("ronbench: --data-dir %s: cannot check for a rond data dir: %w", dir, err)
	}
	node := ""
	if rec, _, err := datadir.Read(dir); err == nil && rec.NodeID != "" {
		node = " of node " + rec.NodeID
	}
	return fmt.Errorf("ronbench: --data-dir %s is a rond data dir%s (it holds %s): the benchmark would write into that node's store; "+
		"give ronbench an empty or new dir, or --macronode for a temporary one (nothing was changed)", dir, node, path)
}

// startInProcess composes a node as rond does and serves its gateway on
// a loopback port. dataDir "" keeps pebble in memory (a micronode).
func startInProcess(scratch, dataDir string) (*target, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, keys, mac, err := capKey(scratch)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	key := ed25519.NewKeyFromSeed(seed)
	self := proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
	spec := runtime.NodeSpec{Key: key, Replicas: []proto.NodeID{self}}
	opts := pebbledisk.Options{Dir: "ron", FS: vfs.NewMem(), Log: log, ValuesInMemory: true}
	label := "in-process micronode (memory)"
	if dataDir != "" {
		if err := refuseNodeDataDir(dataDir); err != nil {
			return nil, err
		}
		opts = pebbledisk.Options{Dir: filepath.Join(dataDir, "pebble"), Log: log}
		label = "in-process macronode (" + dataDir + ")"
	}
	disk, err := pebbledisk.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("ronbench: opening the store: %w", err)
	}
	metrics := runtime.NewPromMetrics(log)
	rt, err := runtime.New(runtime.Config{Self: self, NewNode: spec.NewNode, Disk: disk,
		Metrics: metrics, Logger: log, ReadyCheck: runtime.NodeReady})
	if err != nil {
		_ = disk.Close()
		return nil, err
	}
	transport, err := quicnet.Listen(quicnet.Config{Key: key, ListenAddr: "127.0.0.1:0", Metrics: metrics, Logger: log}, rt.Deliver)
	if err != nil {
		_ = disk.Close()
		return nil, err
	}
	rt.Start(transport)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gw := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil, self.String()),
		Metrics: metrics, Logger: log, Version: "ronbench", NamesPerTenantMax: -1,
		Admission: gateway.AdmissionConfig{TenantRate: benchTenantRate, TenantBurst: benchTenantRate,
			AnonymousRate: benchTenantRate, AnonymousBurst: benchTenantRate}})
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), stopWaitMax)
		defer cancel()
		err := srv.Shutdown(ctx)
		gw.Close() // its session sweep
		return errors.Join(err, rt.Close(ctx), transport.Close(), disk.Close())
	}
	t := &target{url: "http://" + ln.Addr().String(), key: mac, label: label, stop: stop}
	return t, waitReady(t)
}

// startRond runs the rond binary on loopback ports with a capability key
// ronbench holds, and reads its HTTP address from the banner.
func startRond(bin, scratch, dataDir string) (*target, error) {
	return startRondWith(bin, scratch, dataDir)
}

// startRondWith is startRond with extra flags (which may repeat and so
// override the defaults: the last of a flag wins).
func startRondWith(bin, scratch, dataDir string, extra ...string) (*target, error) {
	t, err := launchRondWith(bin, scratch, dataDir, extra...)
	if err != nil {
		return nil, err
	}
	return t, waitReady(t)
}

// launchRondWith is startRondWith without waiting for /readyz: the
// process has printed its banner. A registry replica of a set starting
// cold is ready only while a quorum of replicas runs (before that it
// answers 503 registry_no_leader after about a second), so a cluster is
// launched whole, then waited for (startRondCluster).
func launchRondWith(bin, scratch, dataDir string, extra ...string) (*target, error) {
	capPath, _, mac, err := capKey(scratch)
	if err != nil {
		return nil, err
	}
	args := []string{"--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0",
		"--cap-key-file", capPath, "--log-level", "warn"}
	label := "rond micronode (memory)"
	if dataDir != "" {
		if err := refuseNodeDataDir(dataDir); err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", dataDir)
		label = "rond macronode (" + dataDir + ")"
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	dieWithParent(cmd)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ronbench: starting rond: %w", err)
	}
	url, err := bannerURL(stdout)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	// Waited for at once, so that waitReady sees a node that exited.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return waitErr
	}
	return &target{url: url, key: mac, label: label, stop: stop, pid: cmd.Process.Pid, exited: exited}, nil
}

// bannerURL reads rond's banner up to its "http" line.
func bannerURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "http" {
			return fields[1], nil
		}
	}
	return "", errors.New("ronbench: rond exited before printing its http address")
}

// waitReady polls /readyz until the node serves. Its error names the
// node and gives the last answer (status and body) or failure, and comes
// at once when the node's process has exited.
func waitReady(t *target) error {
	deadline := time.Now().Add(readyWaitMax)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		select {
		case <-t.exited: // nil in process: never
			return fmt.Errorf("ronbench: %s (%s) exited before it was ready; last /readyz: %s", t.label, t.url, last)
		default:
		}
		resp, err := http.Get(t.url + "/readyz")
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(body)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("ronbench: %s (%s) not ready after %v; last /readyz: %s", t.label, t.url, readyWaitMax, last)
}
