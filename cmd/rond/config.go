package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
)

// Config is rond's configuration. Precedence: defaults < the YAML file
// (--config / RON_CONFIG) < RON_* environment variables < flags.
type Config struct {
	DataDir         string   `yaml:"data_dir"`
	HTTPAddr        string   `yaml:"http_addr"`
	QUICAddr        string   `yaml:"quic_addr"`
	Bootstrap       []string `yaml:"bootstrap"`
	RegistryReplica bool     `yaml:"registry_replica"`
	Replicas        []string `yaml:"replicas"`
	NodeKey         string   `yaml:"node_key"`
	RootTokenFile   string   `yaml:"root_token_file"`
	CapKeyFile      string   `yaml:"cap_key_file"`
	AdminKeyFile    string   `yaml:"admin_key_file"`
	AdminKeys       []string `yaml:"admin_keys"`
	Policy          string   `yaml:"policy"`
	LogFormat       string   `yaml:"log_format"`
	LogLevel        string   `yaml:"log_level"`
	// EdgeCacheBytes is the gateway's edge cache capacity (0: no cache).
	EdgeCacheBytes int64 `yaml:"edge_cache_bytes"`
	// AnonymousReadRate is the requests per second that reads without a
	// token share (gateway.AdmissionConfig.AnonymousRate; burst: twice).
	AnonymousReadRate float64 `yaml:"anonymous_read_rate"`
	// OAPAddr is the OAP/1 client endpoint's UDP address, "off" for none
	// (oap.go).
	OAPAddr string `yaml:"oap_addr"`
}

func defaults() Config {
	return Config{HTTPAddr: "127.0.0.1:8080", QUICAddr: "127.0.0.1:7070", LogFormat: "text", LogLevel: "info",
		EdgeCacheBytes: edgecache.BytesMaxDefault, AnonymousReadRate: gateway.AnonymousRateDefault, OAPAddr: oapAddrDefault}
}

// setting is one configuration knob reachable from the file, the
// environment and a flag; apply parses a string value into cfg.
type setting struct {
	flag, env, usage string
	isBool           bool
	apply            func(cfg *Config, v string) error
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func list(field func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = splitList(v); return nil }
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

var settings = []setting{
	{"data-dir", "RON_DATA_DIR", "store data in `DIR` (pebble on disk: a macronode); unset keeps everything in memory", false, str(func(c *Config) *string { return &c.DataDir })},
	{"http-addr", "RON_HTTP_ADDR", "HTTP API `host:port`", false, str(func(c *Config) *string { return &c.HTTPAddr })},
	{"quic-addr", "RON_QUIC_ADDR", "QUIC (UDP) `host:port` for peers", false, str(func(c *Config) *string { return &c.QUICAddr })},
	{"oap-addr", "RON_OAP_ADDR", "OAP/1 client API (QUIC, UDP) `host:port` (default 127.0.0.1:0: a free port, in the banner; off disables)", false, str(func(c *Config) *string { return &c.OAPAddr })},
	{"bootstrap", "RON_BOOTSTRAP", "peers to join, `id@host:port,...`", false, list(func(c *Config) *[]string { return &c.Bootstrap })},
	{"registry-replica", "RON_REGISTRY_REPLICA", "this node is a registry (raft) replica", true, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.RegistryReplica = b
		return err
	}},
	{"replicas", "RON_REPLICAS", "registry replicas, node `id,id,...` (hex)", false, list(func(c *Config) *[]string { return &c.Replicas })},
	{"node-key", "RON_NODE_KEY", "node key `FILE` (hex Ed25519 seed; generated with mode 0600 if missing)", false, str(func(c *Config) *string { return &c.NodeKey })},
	{"root-token-file", "RON_ROOT_TOKEN_FILE", "write the root capability token to `FILE` (mode 0600)", false, str(func(c *Config) *string { return &c.RootTokenFile })},
	{"cap-key-file", "RON_CAP_KEY_FILE", "capability MAC key `FILE` (versions, mode 0600, created if missing; ronctl token --key mints from it, ronctl key rotate|retire edits it; reloaded on change and on SIGHUP); default DIR/cap.key, or a fresh key per start in memory", false, str(func(c *Config) *string { return &c.CapKeyFile })},
	{"admin-key-file", "RON_ADMIN_KEY_FILE", "revocation admin signing key `FILE` (hex Ed25519 seed, mode 0600; created if missing); default: derived from the cap key", false, str(func(c *Config) *string { return &c.AdminKeyFile })},
	{"admin-keys", "RON_ADMIN_KEYS", "public keys that may revoke tokens, `hex,...` (every registry replica must list the same); default: this node's admin key", false, list(func(c *Config) *[]string { return &c.AdminKeys })},
	{"policy", "RON_POLICY", "policy bundle `FILE` (YAML; reloaded on change and on SIGHUP); default: reads public, writes need a token", false, str(func(c *Config) *string { return &c.Policy })},
	{"log-format", "RON_LOG_FORMAT", "log format: `text|json`", false, str(func(c *Config) *string { return &c.LogFormat })},
	{"log-level", "RON_LOG_LEVEL", "log level: `debug|info|warn|error`", false, str(func(c *Config) *string { return &c.LogLevel })},
	{"edge-cache-bytes", "RON_EDGE_CACHE_BYTES", "edge cache capacity in `BYTES` for hot objects of GET /o (0 disables; default 64 MiB)", false, func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		c.EdgeCacheBytes = n
		return err
	}},
	{"anonymous-read-rate", "RON_ANONYMOUS_READ_RATE", "requests per second, `N`, that all reads without a token share, apart from each tenant's 200/s (burst: 2N, at least 1; default 5000)", false, func(c *Config, v string) error {
		n, err := strconv.ParseFloat(v, 64)
		c.AnonymousReadRate = n
		return err
	}},
}

// anonymousReadRateMax bounds anonymous_read_rate: far beyond what a node
// serves, and finite (+Inf would make the bucket's arithmetic NaN).
const anonymousReadRateMax = 1e9

// configError is a configuration problem; main exits 2 on it.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func badSetting(name string, format string, args ...any) error {
	return &configError{msg: "rond: config: " + name + ": " + fmt.Sprintf(format, args...)}
}

// options are the command-line-only switches.
type options struct {
	configFile string
	version    bool
}

// loadConfig builds the configuration from args and the environment.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, options, error) {
	fs := flag.NewFlagSet("rond", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	var opts options
	fs.StringVar(&opts.configFile, "config", "", "YAML config `FILE` (strict: unknown keys are errors)")
	fs.BoolVar(&opts.version, "version", false, "print the version and exit")
	flagValues := map[string]string{}
	for _, s := range settings {
		set := func(v string) error { flagValues[s.flag] = v; return nil }
		if s.isBool {
			fs.BoolFunc(s.flag, s.usage, set)
		} else {
			fs.Func(s.flag, s.usage, set)
		}
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, opts, &configError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return Config{}, opts, badSetting("arguments", "unexpected %q (rond takes only flags)", fs.Arg(0))
	}
	cfg := defaults()
	if opts.configFile == "" {
		opts.configFile = getenv("RON_CONFIG")
	}
	if opts.configFile != "" {
		if err := readConfigFile(opts.configFile, &cfg); err != nil {
			return Config{}, opts, err
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.apply(&cfg, v); err != nil {
				return Config{}, opts, badSetting(s.env, "%v", err)
			}
		}
	}
	for _, s := range settings {
		if v, ok := flagValues[s.flag]; ok {
			if err := s.apply(&cfg, v); err != nil {
				return Config{}, opts, badSetting("--"+s.flag, "%v", err)
			}
		}
	}
	return cfg, opts, cfg.validate()
}

func readConfigFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return badSetting("--config", "%v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return badSetting(path, "%v", err)
	}
	return nil
}

// peer is a parsed bootstrap entry.
type peer struct {
	id   proto.NodeID
	addr string
}

func (c Config) peers() ([]peer, error) {
	var out []peer
	for _, b := range c.Bootstrap {
		idText, addr, ok := strings.Cut(b, "@")
		if !ok {
			return nil, badSetting("bootstrap", "%q is not id@host:port", b)
		}
		id, err := proto.ParseNodeID(idText)
		if err != nil {
			return nil, badSetting("bootstrap", "%q: %v", b, err)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, badSetting("bootstrap", "%q: %v", b, err)
		}
		out = append(out, peer{id, addr})
	}
	return out, nil
}

func (c Config) replicaIDs() ([]proto.NodeID, error) {
	var out []proto.NodeID
	for _, r := range c.Replicas {
		id, err := proto.ParseNodeID(r)
		if err != nil {
			return nil, badSetting("replicas", "%q: %v", r, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func (c Config) validate() error {
	for _, a := range []struct{ name, addr string }{{"http_addr", c.HTTPAddr}, {"quic_addr", c.QUICAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return badSetting(a.name, "%q: %v", a.addr, err)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return badSetting("log_format", "%q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return badSetting("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if err := checkOAPAddr(c.OAPAddr); err != nil {
		return err
	}
	if c.EdgeCacheBytes < 0 {
		return badSetting("edge_cache_bytes", "%d is negative (0 disables the cache)", c.EdgeCacheBytes)
	}
	if !(c.AnonymousReadRate > 0 && c.AnonymousReadRate <= anonymousReadRateMax) {
		return badSetting("anonymous_read_rate", "%v is not a rate above 0 and at most %g requests per second", c.AnonymousReadRate, anonymousReadRateMax)
	}
	if _, err := c.peers(); err != nil {
		return err
	}
	if _, err := parseAdminKeys(c.AdminKeys); err != nil {
		return err
	}
	_, err := c.replicaIDs()
	return err
}
