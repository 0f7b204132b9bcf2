package main

import (
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
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/env"
	corenode "github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/datadir"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/keyfile"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/quicnet"
	"github.com/ron-network/ron/io/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// drainTimeout bounds the shutdown; the HTTP server's timeouts are
// gateway.NewServer's.
const drainTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 clean,
// 1 runtime failure, 2 bad configuration).
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help":
			printUsage(stdout)
			return 0
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return 0
		case "config":
			return configCmd(args[1:], stdout, stderr)
		case "migrate":
			return migrateCmd(args[1:], stdout, stderr)
		}
	}
	cfg, opts, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		printUsage(stdout)
		return 0
	}
	if opts.version {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := newLogger(cfg, stderr)
	for _, w := range cfg.warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, stdout); err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, err)
			if ce.code != 0 {
				return ce.code
			}
			return 2
		}
		log.Error("rond: stopped", "err", err)
		return 1
	}
	return 0
}

// versionLine is the answer to --version: the release (set with -ldflags,
// else the module version when installed with go install), the Go version
// and the VCS revision the binary was built from, when the build recorded
// it (go build and go install in a checkout do; go run does not).
func versionLine() string {
	release, revision, dirty := version, "unknown", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if release == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			release = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				revision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+dirty"
			}
		}
	}
	return fmt.Sprintf("rond %s (%s, revision %s%s)", release, goruntime.Version(), revision, dirty)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// node is everything serve starts, closed in reverse order.
type node struct {
	disk      *pebbledisk.Disk
	rt        *runtime.Runtime
	transport *quicnet.Transport
	http      *http.Server
	httpLn    net.Listener
	oap       *oapgate.Server // the OAP/1 client endpoint (oap.go); nil when off
}

// gcHeadroomBytes is the allocation between garbage collections
// (runtime.TuneGC). A GET allocates a 256 KiB buffer per chunk it reads
// while the node keeps 3-4 MiB live, so at Go's default GOGC=100 rond
// collected every 16 chunks or so (gctrace: 36 collections a second
// over a 64 MiB whole GET); with 64 MiB between collections a whole GET
// costs about 15% less CPU per GiB (BENCHMARKS.md, branch bytes), for
// a peak heap up to 64 MiB larger.
const gcHeadroomBytes = 64 << 20

// serve starts the node, prints how to use it, and blocks until ctx ends;
// then it drains and stops.
func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	started := time.Now()
	runtime.TuneGC(gcHeadroomBytes)
	dirState, unlock, err := lockDataDir(cfg, log)
	if err != nil {
		return err
	}
	defer unlock()
	key, err := nodeKey(cfg)
	if err != nil {
		return err
	}
	if err := stampDataDir(cfg, dirState.isNew, proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))); err != nil {
		return err
	}
	peers, _ := cfg.peers()
	replicas, _ := cfg.replicaIDs()
	members, _ := cfg.memberIDs()
	spec := runtime.NodeSpec{Key: key, Replicas: registryReplicas(cfg, replicas, len(peers), key),
		Members: members, OpenNetwork: cfg.OpenNetwork, ClosedAlone: cfg.Policy != "" || !loopbackAddr(cfg.QUICAddr)}
	if cfg.ClusterNameQuota {
		spec.RegistryVersionMax = registry.VersionQuota
	}
	for _, p := range peers {
		spec.Peers = append(spec.Peers, p.id)
	}
	if cfg.DataDir == "" && cfg.MemoryMax > 0 {
		// A micronode's objects live in its heap: its budget bounds
		// what peers replicate into it as well as its clients' writes.
		spec.HeldBytesMax = cfg.MemoryMax
	}
	if spec.ClosedAlone && len(spec.Membership()) == 1 {
		log.Info("rond: alone with a QUIC address that is not loopback, or a policy file: the peer protocol serves no other node; list nodes that join this one in members")
	}
	if cfg.OpenNetwork && len(peers) > 0 {
		log.Warn("rond: open_network: any node reaching the QUIC port may store objects here, read every object and enter the routing table; use it only on a network you trust")
	}
	token, err := rootToken(cfg)
	if err != nil {
		return err
	}
	spec.AdminKeys = registryAdminKeys(cfg, token.admin.Public().(ed25519.PublicKey), len(spec.Replicas), log)
	spec.RevocationPullInterval = registry.RevocationPullIntervalDefault
	retainAge, _ := cfg.auditRetainAge() // validated with the config
	spec.Audit = audit.Config{RetainBytes: cfg.AuditRetainBytes, RetainAge: retainAge}
	if err := spec.Validate(); err != nil {
		return &configError{msg: err.Error()}
	}
	flags := newFeatureFlags(cfg.Flags, log)
	if cfg.DataDir != "" {
		if err := flags.persistIn(cfg.DataDir); err != nil {
			return err
		}
	}
	mship := newMembership(cfg, spec)
	n, err := start(cfg, dirState, spec, peers, log, flags, mship)
	if err != nil {
		return err
	}
	mship.attach(n.rt, n.transport, n.rt.Prom(), log)
	flags.apply = applyToNode(n.rt)
	flags.export(n.rt.Prom())
	policyFile, err := loadPolicy(cfg, n.rt.Prom(), log)
	if err != nil {
		n.close(log)
		return err
	}
	gwConfig := gatewayConfig(n, spec, token, policyFile, log)
	gwConfig.EdgeCacheBytes = cfg.EdgeCacheBytes
	gwConfig.ReadAheadBytesMax = cfg.ReadAheadBytes
	gwConfig.NamesPerTenantMax = cfg.NamesPerTenant
	gwConfig.RequestsPerSource = cfg.RequestsPerSource
	gwConfig.ObjectWriteAuditOff = !cfg.AuditObjectWrites
	if cfg.AuditObjectWrites {
		log.Info("rond: audit_object_writes on: every PUT /o is audited as object_write; a rollback of this node to a build before audit kind tolerance (6db240a or earlier) loses audit records, so export the log first (ronctl audit list --json)")
	} else {
		log.Info("rond: audit_object_writes off (the default): PUT /o is not audited; turn it on (audit_object_writes: true, --audit-object-writes, RON_AUDIT_OBJECT_WRITES=true) once this node will not be rolled back to 6db240a or an earlier build")
	}
	gate, err := cfg.admission() // validated by loadConfig: cannot fail here
	if err != nil {
		n.close(log)
		return err
	}
	gwConfig.Admission = gate
	if cfg.DataDir == "" && cfg.MemoryMax > 0 { // a micronode keeps its objects in its heap
		gwConfig.MemoryBytesMax = cfg.MemoryMax
		debug.SetMemoryLimit(cfg.MemoryMax)
	}
	gwConfig.Flags = flags
	gw := gateway.New(gwConfig)
	defer gw.Close() // its session sweep; after n.close stopped the server
	handler := gw.WithStatus(gateway.StatusConfig{NodeID: spec.Self().String(), Profile: statusProfile(cfg), Started: started,
		RegistryReplica: slices.Contains(spec.Replicas, spec.Self()), Flags: flags.Flags, FlagSources: flags.Sources})
	n.http.Handler = handler
	go func() {
		// gw.Listener: net/http's own errors leave as envelopes too.
		if err := n.http.Serve(gw.Listener(n.httpLn)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("rond: http server failed", "err", err)
		}
	}()
	if err := startOAP(n, cfg, spec.Key, gw.FlagGuard(flagOAP, handler), log); err != nil {
		n.close(log)
		return err
	}
	// The banner invites the user to write at once: wait (bounded) until
	// the node itself is up (LocalReady: recovered, storage open) so the
	// first curl is not a 503 for that. The registry is not waited for: a
	// replica of a cold-starting set prints its banner at once, since its
	// peers may be waiting for this very banner, while /readyz and name
	// operations may still answer 503 (registry_no_leader) until a quorum
	// runs.
	if !waitReady(n.rt.LocalReady, bannerReadyWait) {
		log.Warn("rond: not ready yet; writes answer 503 (retryable) until /readyz says ready", "waited", bannerReadyWait)
	}
	printBanner(stdout, cfg, spec, n, token.text)
	log.Info("rond: started", "node", spec.Self().String(), "http", n.httpLn.Addr().String(),
		"quic", n.transport.Addr().String(), "profile", profile(cfg), "in", time.Since(started).Round(time.Millisecond))
	// rond's own audit records, in order, once the node serves: what it
	// starts with first, then every reload (reloadaudit.go).
	auditQ := newAuditQueue(log, n.rt.Prom())
	auditStart(auditQ, token, policyFile, mship.current())
	go auditQ.run(ctx, auditReady(n.rt), gw.Audit)
	token.keys.metrics, token.keys.log, token.keys.audit = n.rt.Prom(), log, auditQ.record
	token.keys.rotated = func(key auth.MACKey) { reissueRootToken(cfg, auditQ, key, log) }
	mship.setAudit(auditQ.record)
	stopReloads := watchReloads(auditQ, policyFile, token.keys, cfg.ConfigFile, log)
	stopFlagReloads := watchFlags(ctx, cfg.ConfigFile, flags, auditQ.record, log, reloadHook{reload: mship.reload, retry: mship.retry})
	<-ctx.Done()
	stopFlagReloads()
	stopReloads()
	log.Info("rond: shutting down")
	return n.close(log)
}

// bannerReadyWait bounds how long rond waits for readiness before printing
// its banner.
const bannerReadyWait = 5 * time.Second

// auditReady is what rond's audit queue waits for before each append:
// the node itself up (runtime.LocalReady), not Ready. The audit log is
// local to the node and needs no registry, so a node that /readyz
// reports registry_no_leader or registry_unreachable still takes rond's
// records; waiting for Ready held them, and dropped them at shutdown,
// for as long as the registry had no quorum.
func auditReady(rt *runtime.Runtime) func() bool { return rt.LocalReady }

// waitReady polls ready until it reports true or within has passed.
func waitReady(ready func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !ready() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// gatewayConfig wires the gateway to the node. Its verifier checks
// revocations through a RevocationCache (queries on the node loop, never
// a read of the registry from an HTTP goroutine); the admin key signs
// POST /tokens/revoke when the node runs a registry to commit it to.
func gatewayConfig(n *node, spec runtime.NodeSpec, token capabilities, pf *gateway.PolicyFile, log *slog.Logger) gateway.Config {
	revs := gateway.NewRevocationCache(n.rt, n.rt.Prom(), nil)
	cfg := gateway.Config{Backend: n.rt, Verifier: auth.NewVerifier(token.keys, revs, spec.Self().String()),
		Metrics: n.rt.Prom(), Gatherer: n.rt.Prom().Registry(), Logger: log, Version: version, Policy: pf.Policy,
		Revocations: revs, NameQuotaExempt: []string{rootTenant}, RegistryReplica: slices.Contains(spec.Replicas, spec.Self())}
	if len(spec.Replicas) > 0 {
		cfg.AdminKey = token.admin
	} else {
		log.Warn("rond: this node runs no registry: token revocations are neither enforced nor accepted here")
	}
	return cfg
}

// registryReplicas: an explicit list (plus this node with
// --registry-replica); else this node alone when it has no peers (a
// micronode) or is a replica; else no registry.
func registryReplicas(cfg Config, listed []proto.NodeID, peers int, key ed25519.PrivateKey) []proto.NodeID {
	self := proto.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
	if len(listed) > 0 {
		if cfg.RegistryReplica {
			listed = append(listed, self)
		}
		return listed
	}
	if peers == 0 || cfg.RegistryReplica {
		return []proto.NodeID{self}
	}
	return nil
}

func profile(cfg Config) string {
	if cfg.DataDir == "" {
		return "micronode (in memory)"
	}
	return "macronode (" + cfg.DataDir + ")"
}

// statusProfile is the profile GET /status shows: it answers anyone, so
// it names the kind of node, not where its data directory is (the start
// banner and log, which only the operator sees, name the directory).
func statusProfile(cfg Config) string {
	if cfg.DataDir == "" {
		return "micronode (in memory)"
	}
	return "macronode (on disk)"
}

func start(cfg Config, dirState dataDirState, spec runtime.NodeSpec, peers []peer, log *slog.Logger, flags *featureFlags, members *membership) (*node, error) {
	metrics := runtime.NewPromMetrics(log)
	opts := pebbledisk.Options{Dir: "ron", FS: vfs.NewMem(), Log: log, ValuesInMemory: true, Metrics: metrics}
	if cfg.DataDir != "" {
		// checkDataDir refused any format before datadir.FormatCurrent
		// (side files), so the store is never Legacy here; a store it
		// found is opened with MustExist, so pebble never creates one
		// over it.
		opts = pebbledisk.Options{Dir: filepath.Join(cfg.DataDir, datadir.StoreName), Log: log,
			BufferedSegments: cfg.SegmentWrites == segmentWritesBuffered, Metrics: metrics,
			MustExist: dirState.storeFound}
	}
	disk, err := pebbledisk.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("rond: opening the store: %w", err)
	}
	if cfg.DataDir != "" {
		// Before the node runs (votes, acknowledges, holds replicas): from
		// here on a missing store is refused, never created anew.
		if err := datadir.MarkStoreCreated(cfg.DataDir, versionLine()); err != nil {
			_ = disk.Close()
			return nil, fmt.Errorf("rond: recording that the store was created: %w", err)
		}
	}
	if err := checkClusterVersion(disk, spec); err != nil {
		_ = disk.Close()
		return nil, err
	}
	n := &node{disk: disk}
	// Restarts keep the flags and the reloaded members.
	newNode := func(e env.Env) *corenode.Node { return members.spec(flags.spec(spec)).NewNode(e) }
	n.rt, err = runtime.New(runtime.Config{Self: spec.Self(), NewNode: newNode, Disk: disk,
		Metrics: metrics, Logger: log, ReadyCheck: runtime.NodeReady, FailedCheck: runtime.NodeFailed,
		UnreadyCheck: runtime.NodeUnready})
	if err != nil {
		n.close(log)
		return nil, err
	}
	// The transport closes a non-member's connection right after its
	// handshake, before it holds inbound room or a frame of it is read;
	// members get the reserved room. An open membership (nil: a lone
	// loopback node, open_network) admits every node as before.
	n.transport, err = quicnet.Listen(quicnet.Config{Key: spec.Key, ListenAddr: cfg.QUICAddr, Metrics: metrics, Logger: log,
		Lost: n.rt.PeerUnreachable, Members: spec.Membership()}, n.rt.Deliver)
	if err != nil {
		n.close(log)
		return nil, listenError("quic_addr", cfg.QUICAddr, "UDP", err)
	}
	for _, p := range peers {
		n.transport.AddPeer(p.id, p.addr)
	}
	n.rt.Start(n.transport)
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		n.close(log)
		return nil, listenError("http_addr", cfg.HTTPAddr, "TCP", err)
	}
	n.http = gateway.NewServer(nil, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	return n, nil
}

// checkClusterVersion refuses to start a registry replica whose store
// has applied a registry cluster version above what the node's settings
// read: turning cluster_name_quota off after the cluster was raised to
// registry.VersionQuota. The replica would otherwise start and stop at
// recovery (env.ErrNewerFormat), naming its binary rather than the
// setting; the cluster version never goes down, so the setting is
// one-way from the raise on (doc.go, "Cluster name quota"). A node that
// is no replica reads no log and is not checked. A store the registry
// cannot read is left to its recovery, which names the corruption.
func checkClusterVersion(disk *pebbledisk.Disk, spec runtime.NodeSpec) error {
	if !slices.Contains(spec.Replicas, spec.Self()) {
		return nil
	}
	readMax := max(spec.Describe().Registry.VersionMax, registry.VersionBase) // the failpoint's, when on
	var pairs []env.KV
	var start []byte
	for {
		res := disk.Do(env.DiskOp{Kind: env.DiskScan, Prefix: []byte(registry.DurablePrefix), Start: start, Limit: env.DiskScanLimitMax})
		if res.Err != nil {
			return fmt.Errorf("rond: reading the registry's durable state: %w", res.Err)
		}
		pairs = append(pairs, res.Pairs...)
		if !res.More || len(res.Pairs) == 0 {
			break
		}
		start = append(slices.Clone(res.Pairs[len(res.Pairs)-1].Key), 0)
	}
	applied, err := registry.DurableClusterVersion(pairs)
	if err != nil || applied <= readMax {
		return nil
	}
	return badSetting("cluster_name_quota", "off, but this replica's store has applied registry cluster version %d "+
		"(the cluster was raised once every replica ran with cluster_name_quota on); the cluster version never goes down, "+
		"so the setting cannot be turned off after the raise: turn it back on (--cluster-name-quota, RON_CLUSTER_NAME_QUOTA=true, "+
		"or cluster_name_quota: true in the config file)", applied)
}

// close drains HTTP, then the node, then stops the transport and the disk.
func (n *node) close(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var errs []error
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	} else if n.httpLn != nil {
		errs = append(errs, n.httpLn.Close())
	}
	errs = append(errs, n.shutdownOAP(ctx))
	if n.rt != nil {
		errs = append(errs, n.rt.Close(ctx))
	}
	if n.transport != nil {
		errs = append(errs, n.transport.Close())
	}
	if n.disk != nil {
		errs = append(errs, n.disk.Close())
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Error("rond: shutdown", "err", err)
	}
	return err
}

// checkNodeKeyPresent refuses to start on a data dir whose record names
// its node when the node key file is missing: nodeKey would create a new
// key, which the record then refuses (another node), and that key would
// stay, so every later start would fail the same way with the real key's
// absence hidden. It runs before nodeKey and writes nothing. A new dir,
// or a record that names no node, gets a fresh key as before.
func checkNodeKeyPresent(cfg Config, newDataDir bool) error {
	if cfg.DataDir == "" || newDataDir {
		return nil
	}
	rec, present, err := datadir.Read(cfg.DataDir)
	if err != nil {
		return &configError{msg: "rond: " + err.Error()}
	}
	if !present || rec.NodeID == "" {
		return nil
	}
	path := nodeKeyPath(cfg)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or unreadable: nodeKey says which
	}
	if cfg.NodeKey == "" {
		return &configError{msg: fmt.Sprintf("rond: node.key is missing from %s (the data dir belongs to node %s); restore it, or pass --node-key FILE", cfg.DataDir, rec.NodeID)}
	}
	return badSetting("node_key", "%s is missing (the data dir %s belongs to node %s); restore it", path, cfg.DataDir, rec.NodeID)
}

// nodeKeyPath is the node key file: --node-key, else DIR/node.key for a
// macronode, else "" (a micronode's fresh key).
func nodeKeyPath(cfg Config) string {
	if cfg.NodeKey == "" && cfg.DataDir != "" {
		return filepath.Join(cfg.DataDir, "node.key")
	}
	return cfg.NodeKey
}

// nodeKey loads (or creates, mode 0600) the node key file: --node-key, or
// DIR/node.key for a macronode. A micronode without one gets a fresh key.
func nodeKey(cfg Config) (ed25519.PrivateKey, error) {
	path := cfg.NodeKey
	if path == "" && cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, badSetting("data_dir", "%v", err)
		}
		path = filepath.Join(cfg.DataDir, "node.key")
	}
	if path == "" {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("rond: node key: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	seed, err := keyfile.ReadOrCreate(path, ed25519.SeedSize)
	if err != nil {
		return nil, badSetting("node_key", "%v", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

type capabilities struct {
	keys  *capKeys
	admin ed25519.PrivateKey // signs revocations (revoke.go)
	text  string
	id    auth.TokenID
}

// rootToken builds the capability keys and mints a root token (every op,
// tenant "root") with the cap key's current version. The MAC key comes
// from --cap-key-file, else DIR/cap.key for a macronode (both created with
// mode 0600 when missing, so tokens survive restarts and ronctl token
// issue --key can mint more; capkeys.go reloads the file when it is
// rotated); a micronode without one gets a fresh key per start (the token
// dies with the process).
func rootToken(cfg Config) (capabilities, error) {
	keys, err := openCapKeys(capKeyPath(cfg))
	if err != nil {
		return capabilities{}, err
	}
	tok, err := mintRoot(keys.current())
	if err != nil {
		return capabilities{}, err
	}
	text := tok.Encode()
	if cfg.RootTokenFile != "" {
		if err := os.WriteFile(cfg.RootTokenFile, []byte(text+"\n"), 0o600); err != nil {
			return capabilities{}, badSetting("root_token_file", "%v", err)
		}
	}
	admin, err := adminKey(cfg, keys.file)
	if err != nil {
		return capabilities{}, err
	}
	return capabilities{keys: keys, admin: admin, text: text, id: tok.ID()}, nil
}

func printBanner(w io.Writer, cfg Config, spec runtime.NodeSpec, n *node, token string) {
	url := "http://" + n.httpLn.Addr().String()
	fmt.Fprintf(w, "rond %s: %s\n", version, profile(cfg))
	fmt.Fprintf(w, "  node id   %s\n", spec.Self())
	fmt.Fprintf(w, "  quic      %s@%s\n", spec.Self(), n.transport.Addr())
	fmt.Fprintf(w, "  http      %s\n", url)
	printOAPBanner(w, n)
	fmt.Fprintf(w, "  root token (shown once; every op allowed):\n    %s\n\n", token)
	fmt.Fprintf(w, "Try it:\n")
	fmt.Fprintf(w, "  export RON_TOKEN=%s\n", token)
	fmt.Fprintf(w, "  curl -sX PUT --data-binary @README.md -H \"Authorization: Bearer $RON_TOKEN\" %s/o\n", url)
	fmt.Fprintf(w, "  curl -s %s/o/b3:<addr from the put>\n", url)
	fmt.Fprintf(w, "  curl -s -H 'Range: bytes=0-99' %s/o/b3:<addr>\n", url)
	fmt.Fprintf(w, "  go run ./cmd/ronctl --node %s put README.md\n", url)
	printOAPExample(w, n, spec.Self())
	fmt.Fprintf(w, "  curl -s %s/metrics | grep omnigate_\n", url)
	fmt.Fprintf(w, "Stop with Ctrl-C (drains in-flight requests).\n")
}

// loopbackAddr reports whether host:port addr listens on loopback only: a
// literal loopback address or "localhost". Anything else (a wildcard, a
// host name, an unparsable address) is taken as reachable from outside.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
