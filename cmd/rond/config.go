package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/core/edgecache"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/oapgate"
	"github.com/ron-network/ron/io/quicnet"
	"github.com/ron-network/ron/io/regfile"
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
	Members         []string `yaml:"members"`      // closed membership beside bootstrap and replicas (doc.go, "Membership")
	OpenNetwork     bool     `yaml:"open_network"` // open DHT placement, no membership; refused with a policy file
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
	// token share (gateway.AdmissionConfig.AnonymousRate);
	// AnonymousReadBurst its bucket's size (AnonymousBurst; 0: twice the
	// rate, at least 1).
	AnonymousReadRate  float64 `yaml:"anonymous_read_rate"`
	AnonymousReadBurst float64 `yaml:"anonymous_read_burst"`
	// TenantRate and TenantBurst size each token tenant's request bucket
	// at this gateway (gateway.AdmissionConfig.TenantRate and
	// TenantBurst; 0: 200/s, burst the larger of 400 and the rate). The
	// bucket is this node's: a tenant has it on every gateway.
	TenantRate  float64 `yaml:"tenant_rate"`
	TenantBurst float64 `yaml:"tenant_burst"`
	// OAPAddr is the OAP/1 client endpoint's UDP address, "off" for none
	// (oap.go).
	OAPAddr string `yaml:"oap_addr"`
	// OAPConnsMax, OAPConnsPerSourceMax and OAPConnIdleTimeout are the
	// OAP/1 endpoint's connection limits (oapgate.Config.ConnsMax,
	// ConnsPerSourceMax and ConnIdleTimeout; 0 or "": oapgate's
	// defaults, 1024, 64 and 2m). checkOAP bounds them (oap.go); a
	// change needs a restart.
	OAPConnsMax          int    `yaml:"oap_conns_max"`
	OAPConnsPerSourceMax int    `yaml:"oap_conns_per_source_max"`
	OAPConnIdleTimeout   string `yaml:"oap_conn_idle_timeout"`
	// MemoryMax is a micronode's memory budget in bytes (0: none); see
	// gateway.Config.MemoryBytesMax.
	MemoryMax int64 `yaml:"memory_max"`
	// ReadAheadBytes bounds the chunks all streamed GETs read ahead of
	// their clients (gateway.Config.ReadAheadBytesMax; 0: the gateway's
	// default, 256 MiB or a quarter of a micronode's memory_max).
	ReadAheadBytes int64 `yaml:"read_ahead_bytes"`
	// NamesPerTenant bounds the names one tenant claims through this
	// gateway (gateway.Config.NamesPerTenantMax; default
	// gateway.NamesPerTenantDefault, 128; the root tenant is never bounded).
	NamesPerTenant int `yaml:"names_per_tenant"`
	// ClusterNameQuota raises this node's registry to read cluster
	// version registry.VersionQuota (runtime.NodeSpec.RegistryVersionMax),
	// at which the registry counts each tenant's names cluster-wide and
	// refuses a new name past names_per_tenant (doc.go, "Cluster name
	// quota"). One-way once the cluster version is raised: refused off on
	// a replica whose data dir applied it (checkClusterVersion).
	ClusterNameQuota bool `yaml:"cluster_name_quota"`
	// RequestsPerSource bounds one source address's requests in flight
	// (gateway.Config.RequestsPerSource; 0: the gateway's default, a
	// quarter of its in-flight cap, 64). A reverse proxy in front of rond
	// is one source: raise it there.
	RequestsPerSource int `yaml:"requests_per_source"`
	// The admission gate's limits (core/admission.Config through
	// gateway.Config.Admission; 0 or "" takes the gate's default, so an
	// unset one changes nothing). InflightMax: requests running at once
	// (256); ReadHeadroom: the slots of it only reads take (64, at most a
	// quarter of InflightMax); QueueDepthMax: requests waiting for a slot,
	// all tenants (1024); QueueWaitMax: the longest wait, a Go duration
	// ("2s"); WritesPerTenantMax: the writes one tenant runs at once (a
	// quarter of the write slots, InflightMax less ReadHeadroom);
	// QueuedWritesPerTenantMax: the writes one tenant has waiting (a
	// quarter of QueueDepthMax). See checkAdmission for their bounds.
	InflightMax              int    `yaml:"inflight_max"`
	ReadHeadroom             int    `yaml:"read_headroom"`
	QueueDepthMax            int    `yaml:"queue_depth_max"`
	QueueWaitMax             string `yaml:"queue_wait_max"`
	WritesPerTenantMax       int    `yaml:"writes_per_tenant_max"`
	QueuedWritesPerTenantMax int    `yaml:"queued_writes_per_tenant_max"`
	// AuditRetainBytes bounds the bytes of the audit log's records
	// (audit.Config.RetainBytes; 0: audit.RetainBytesDefault, 1 GiB): past
	// it the oldest whole segments are dropped.
	AuditRetainBytes int64 `yaml:"audit_retain_bytes"`
	// AuditRetainAge drops audit segments whose newest record is older
	// than it (audit.Config.RetainAge), a Go duration ("720h"); "" or "0"
	// keeps records until the byte bound drops them.
	AuditRetainAge string `yaml:"audit_retain_age"`
	// AuditObjectWrites records every committed PUT /o in the audit log
	// (object_write), default off: opt in once no rollback past this build
	// is planned. Builds before audit kind tolerance (6db240a and earlier)
	// read an object_write record as a break and erase the records after
	// it or stop the log, and turning the setting off again does not
	// remove records already written (doc.go, "Audit and rollbacks").
	// Off, gateway.Config.ObjectWriteAuditOff.
	AuditObjectWrites bool `yaml:"audit_object_writes"`
	// SegmentWrites is how a macronode writes chunk bytes to its segment
	// files: "buffered" (through the page cache, the default) or
	// "direct" (O_DIRECT where the file system takes it); see
	// io/pebbledisk's doc, "Direct I/O". Buffered is the default because
	// on a quiet machine it was faster for both a PUT and the GET of the
	// same object just after (BENCHMARKS.md, "Segment writes: the
	// default"); direct spares CPU on a busy one.
	SegmentWrites string `yaml:"segment_writes"`
	// Flags switches the feature flags (flags.go) off or on; reloaded
	// from the file on SIGHUP and when it changes.
	Flags map[string]bool `yaml:"flags"`
	// ConfigFile is the file the config came from ("" for none), for the
	// reload of its flags and members.
	ConfigFile string `yaml:"-"`
	// reload builds the configuration again as loadConfig did (the same
	// flags and environment, the file read anew): members.go.
	reload func() (Config, error) `yaml:"-"`
	// warnings are loadConfig's complaints that do not stop rond (an
	// unknown RON_* variable); run logs them once the logger exists.
	warnings []string `yaml:"-"`
	// lines maps each top-level key the config file set to its line, for
	// naming the line in validate's errors (fileLine); a key the
	// environment or a flag overrode is dropped from it.
	lines map[string]int `yaml:"-"`
}

// Values of Config.SegmentWrites.
const (
	segmentWritesDirect   = "direct"
	segmentWritesBuffered = "buffered"
)

func defaults() Config {
	return Config{HTTPAddr: "127.0.0.1:8080", QUICAddr: "127.0.0.1:7070", LogFormat: "text", LogLevel: "info",
		EdgeCacheBytes: edgecache.BytesMaxDefault, AnonymousReadRate: gateway.AnonymousRateDefault, OAPAddr: oapAddrDefault,
		MemoryMax: gateway.MemoryBytesMaxDefault, SegmentWrites: segmentWritesBuffered, NamesPerTenant: gateway.NamesPerTenantDefault}
}

// setting is one configuration knob reachable from the file, the
// environment and a flag; apply parses a string value into cfg. kind
// says how the file, the flag set and the schema treat the value.
type setting struct {
	flag, env, usage string
	kind             settingKind
	apply            func(cfg *Config, v string) error
}

// settingKind is how a setting's value is read beyond its apply: a
// boolean is a flag without a value; a size is read by parseByteSize
// from the file too (convertSizes) and has its own schema (sizeSchema).
type settingKind int

const (
	kindPlain settingKind = iota
	kindBool
	kindSize
)

// key is the setting's YAML key (data-dir: data_dir).
func (s setting) key() string { return strings.ReplaceAll(s.flag, "-", "_") }

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
	{"data-dir", "RON_DATA_DIR", "store data in `DIR` (pebble on disk: a macronode); unset keeps everything in memory", kindPlain, str(func(c *Config) *string { return &c.DataDir })},
	{"http-addr", "RON_HTTP_ADDR", "HTTP API `host:port`", kindPlain, str(func(c *Config) *string { return &c.HTTPAddr })},
	{"quic-addr", "RON_QUIC_ADDR", "QUIC (UDP) `host:port` for peers", kindPlain, str(func(c *Config) *string { return &c.QUICAddr })},
	{"oap-addr", "RON_OAP_ADDR", "OAP/1 client API (QUIC, UDP) `host:port` (default 127.0.0.1:0: a free port, in the banner; off disables)", kindPlain, str(func(c *Config) *string { return &c.OAPAddr })},
	intOption("oap-conns-max", "RON_OAP_CONNS_MAX", fmt.Sprintf("OAP/1 client connections, `N`, open at once (1..%d; 0 or unset: %d); at it a new connection takes the place of the one idle longest (closed, evicted), or is refused when every one has a request in flight. Needs a restart",
		oapgate.ConnsMaxLimit, oapgate.ConnsDefault), "connections", func(c *Config) *int { return &c.OAPConnsMax }),
	intOption("oap-conns-per-source-max", "RON_OAP_CONNS_PER_SOURCE_MAX", fmt.Sprintf("OAP/1 connections, `N`, from one source address, handshakes included (1..--oap-conns-max; 0 or unset: %d); one more is refused at the handshake. Behind a proxy or NAT, which is one source, raise it. Needs a restart",
		quicnet.ConnsPerSourceDefault), "connections", func(c *Config) *int { return &c.OAPConnsPerSourceMax }),
	{"oap-conn-idle-timeout", "RON_OAP_CONN_IDLE_TIMEOUT", fmt.Sprintf("close an OAP/1 connection that has had no request stream for this `DURATION`, keep-alive PINGs or not (%v..%v; unset or 0: %v). Needs a restart",
		oapConnIdleMin, oapConnIdleCap, oapgate.ConnIdleTimeoutDefault), kindPlain, str(func(c *Config) *string { return &c.OAPConnIdleTimeout })},
	{"bootstrap", "RON_BOOTSTRAP", "peers to join, `id@host:port,...`", kindPlain, list(func(c *Config) *[]string { return &c.Bootstrap })},
	{"registry-replica", "RON_REGISTRY_REPLICA", "this node is a registry (raft) replica", kindBool, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.RegistryReplica = b
		return nil
	}},
	{"replicas", "RON_REPLICAS", "registry replicas, node `id,id,...` (hex)", kindPlain, list(func(c *Config) *[]string { return &c.Replicas })},
	{"members", "RON_MEMBERS", "further cluster members, node `id,id,...` (hex): with peers, only this node, the bootstrap peers, the replicas and these store, read and route over the peer protocol", kindPlain, list(func(c *Config) *[]string { return &c.Members })},
	{"open-network", "RON_OPEN_NETWORK", "open DHT placement: any node reaching the QUIC port may store, read and enter the routing table (no membership; refused with --policy)", kindBool, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.OpenNetwork = b
		return nil
	}},
	{"node-key", "RON_NODE_KEY", "node key `FILE` (hex Ed25519 seed; generated with mode 0600 if missing)", kindPlain, str(func(c *Config) *string { return &c.NodeKey })},
	{"root-token-file", "RON_ROOT_TOKEN_FILE", "write the root capability token to `FILE` (mode 0600)", kindPlain, str(func(c *Config) *string { return &c.RootTokenFile })},
	{"cap-key-file", "RON_CAP_KEY_FILE", "capability MAC key `FILE` (versions, mode 0600, created if missing; ronctl token --key mints from it, ronctl key rotate|retire edits it; reloaded on change and on SIGHUP); default DIR/cap.key, or a fresh key per start in memory", kindPlain, str(func(c *Config) *string { return &c.CapKeyFile })},
	{"admin-key-file", "RON_ADMIN_KEY_FILE", "revocation admin signing key `FILE` (hex Ed25519 seed, mode 0600; created if missing); default: derived from the cap key", kindPlain, str(func(c *Config) *string { return &c.AdminKeyFile })},
	{"admin-keys", "RON_ADMIN_KEYS", "public keys that may revoke tokens, `hex,...` (every registry replica must list the same); default: this node's admin key", kindPlain, list(func(c *Config) *[]string { return &c.AdminKeys })},
	{"policy", "RON_POLICY", "policy bundle `FILE` (YAML; reloaded on change and on SIGHUP); default: reads public, writes need a token", kindPlain, str(func(c *Config) *string { return &c.Policy })},
	{"log-format", "RON_LOG_FORMAT", "log format: `text|json`", kindPlain, str(func(c *Config) *string { return &c.LogFormat })},
	{"log-level", "RON_LOG_LEVEL", "log level: `debug|info|warn|error`", kindPlain, str(func(c *Config) *string { return &c.LogLevel })},
	sizeOption("edge-cache-bytes", "RON_EDGE_CACHE_BYTES", "edge cache capacity, a `SIZE` (bytes, or 64MiB, 1GiB, 500MB), for hot objects of GET /o (0 disables; default 64MiB; a micronode's must fit in --memory-max)", func(c *Config) *int64 { return &c.EdgeCacheBytes }),
	{"anonymous-read-rate", "RON_ANONYMOUS_READ_RATE", "requests per second, `N`, that all reads without a token share, apart from each tenant's 200/s (burst: 2N, at least 1; default 5000)", kindPlain, func(c *Config, v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of requests per second (e.g. 5000 or 0.5)", v)
		}
		c.AnonymousReadRate = n
		return nil
	}},
	floatOption("anonymous-read-burst", "RON_ANONYMOUS_READ_BURST", fmt.Sprintf("requests, `N`, that reads without a token may make at once before --anonymous-read-rate paces them (1..%g; 0 or unset: twice the rate, at least 1)",
		tenantRateMax), "requests (e.g. 10000)", func(c *Config) *float64 { return &c.AnonymousReadBurst }),
	floatOption("tenant-rate", "RON_TENANT_RATE", fmt.Sprintf("requests per second, `N`, that each token's tenant may make through this gateway (above 0, at most %g; 0 or unset: %g); over it, 429 OVER_QUOTA with Retry-After. Per node: a tenant has this rate on every gateway",
		tenantRateMax, gateway.TenantRateDefault), "requests per second (e.g. 200 or 0.5)", func(c *Config) *float64 { return &c.TenantRate }),
	floatOption("tenant-burst", "RON_TENANT_BURST", fmt.Sprintf("requests, `N`, that each token's tenant may make at once before --tenant-rate paces it (1..%g; 0 or unset: the larger of %g and --tenant-rate)",
		tenantRateMax, gateway.TenantBurstDefault), "requests (e.g. 400)", func(c *Config) *float64 { return &c.TenantBurst }),
	{"segment-writes", "RON_SEGMENT_WRITES", "how a macronode writes chunk bytes: `direct|buffered` (direct: O_DIRECT where the file system takes it, skipping the page cache; buffered: through it, so a read soon after finds them in memory); default buffered", kindPlain, str(func(c *Config) *string { return &c.SegmentWrites })},
	sizeOption("read-ahead-bytes", "RON_READ_AHEAD_BYTES", fmt.Sprintf("the bytes of chunks that all streamed GETs together may read ahead of their clients, a `SIZE` (bytes, or 256MiB, 1GiB); a GET that finds no room for its first chunk within %v is refused (503); 0: %s, or a quarter of a micronode's --memory-max when smaller; at least %s (one largest chunk); a micronode's must fit in --memory-max",
		gateway.ReadAheadWaitMax, formatByteSize(gateway.ReadAheadBytesDefault), formatByteSize(gateway.ReadAheadBytesMin)), func(c *Config) *int64 { return &c.ReadAheadBytes }),
	{"names-per-tenant", "RON_NAMES_PER_TENANT", fmt.Sprintf("names, `N`, that one tenant may claim through this gateway (1..%d; default %d: no one tenant fills the registry's %d; the root token is not bounded, narrower root-tenant tokens are); a claim past it is refused (403 NAME_QUOTA)", registry.NamesMax, gateway.NamesPerTenantDefault, registry.NamesMax), kindPlain, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of names (e.g. 128)", v)
		}
		c.NamesPerTenant = n
		return nil
	}},
	{"cluster-name-quota", "RON_CLUSTER_NAME_QUOTA", fmt.Sprintf("count each tenant's names in the registry, cluster-wide and across restarts, and refuse a new name past --names-per-tenant there (403 NAME_QUOTA): this node reads and advertises registry cluster version %d, and the replicas raise the cluster to it once every replica advertises it. Turn it on on every node only after all run this build: after the raise it cannot be turned off on a replica, and an older binary stops its replicas (README, Upgrades)", registry.VersionQuota), kindBool, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.ClusterNameQuota = b
		return nil
	}},
	{"requests-per-source", "RON_REQUESTS_PER_SOURCE", fmt.Sprintf("requests, `N`, that one source address may have in flight at once, streamed responses until their last byte (1..--inflight-max, %d by default; 0 or unset: a quarter of it, %d by default); one more is refused (429 source_inflight); behind a reverse proxy, which is one source, raise it; GETs of more than 1 MiB from all sources together are held to half of --inflight-max (%d by default; 503 stream_slots)", gateway.InflightMaxDefault, gateway.InflightMaxDefault/4, gateway.InflightMaxDefault/2), kindPlain, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of requests (e.g. 64)", v)
		}
		c.RequestsPerSource = n
		return nil
	}},
	intOption("inflight-max", "RON_INFLIGHT_MAX", fmt.Sprintf("requests, `N`, that the gateway runs at once (1..%d; 0 or unset: %d); more wait in its queue (503 OVERLOADED when it is full or a wait passes --queue-wait-max)",
		admissionInflightCap, gateway.InflightMaxDefault), "requests", func(c *Config) *int { return &c.InflightMax }),
	intOption("read-headroom", "RON_READ_HEADROOM", fmt.Sprintf("slots of --inflight-max, `N`, that only reads may take, so writes never hold every slot (1..inflight_max-1; 0 or unset: %d, at most a quarter of --inflight-max)",
		admission.ReadHeadroomDefault), "slots", func(c *Config) *int { return &c.ReadHeadroom }),
	intOption("queue-depth-max", "RON_QUEUE_DEPTH_MAX", fmt.Sprintf("requests, `N`, that may wait for a slot, all tenants together (1..%d; 0 or unset: %d); one more is refused (503 OVERLOADED)",
		admissionQueueCap, admission.QueueDepthMaxDefault), "requests", func(c *Config) *int { return &c.QueueDepthMax }),
	{"queue-wait-max", "RON_QUEUE_WAIT_MAX", fmt.Sprintf("the longest a request waits for a slot, a `DURATION` (%v..%v; unset or 0: %v); past it the request is refused (503 OVERLOADED)",
		queueWaitMin, queueWaitCap, admission.QueueWaitMaxDefault), kindPlain, str(func(c *Config) *string { return &c.QueueWaitMax })},
	intOption("writes-per-tenant-max", "RON_WRITES_PER_TENANT_MAX", fmt.Sprintf("writes, `N`, that one tenant runs at once; its further writes queue (1..the write slots, --inflight-max less --read-headroom; 0 or unset: a quarter of them, %d with the defaults)",
		(admission.InflightMaxDefault-admission.ReadHeadroomDefault)/admission.WritesPerTenantShare), "writes", func(c *Config) *int { return &c.WritesPerTenantMax }),
	intOption("queued-writes-per-tenant-max", "RON_QUEUED_WRITES_PER_TENANT_MAX", fmt.Sprintf("writes, `N`, that one tenant may have waiting for a slot; one more is refused (429 OVER_QUOTA, reason tenant_writes) (1..--queue-depth-max; 0 or unset: a quarter of it, %d with the defaults)",
		admission.QueueDepthMaxDefault/admission.WritesPerTenantShare), "writes", func(c *Config) *int { return &c.QueuedWritesPerTenantMax }),
	sizeOption("audit-retain-bytes", "RON_AUDIT_RETAIN_BYTES", fmt.Sprintf("the bytes of audit records this node keeps, a `SIZE` (bytes, or 512MiB, 4GiB); past it the oldest whole segments of %d records are deleted and GET /audit starts after them (X-Ron-Audit-Base); 0 or unset: %s; at least %s",
		audit.SegmentRecords, formatByteSize(audit.RetainBytesDefault), formatByteSize(audit.RetainBytesMin)), func(c *Config) *int64 { return &c.AuditRetainBytes }),
	{"audit-object-writes", "RON_AUDIT_OBJECT_WRITES", "record every committed PUT /o in the audit log (object_write: tenant, token, address, size, new or already stored), so an operator finds what a tenant stored; costs a storage Has and an audit append per new object (repeated writes of stored bytes are recorded once per tenant and address, and paced). Default false. Turn it on only once this node will not be rolled back to 6db240a or an earlier build: those read an object_write record as a break and erase up to 1024 records after it or stop the audit log, and turning it off again does not remove the records already written (README, Upgrades)", kindBool, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.AuditObjectWrites = b
		return nil
	}},
	{"audit-retain-age", "RON_AUDIT_RETAIN_AGE", fmt.Sprintf("drop audit segments whose newest record is older than this `DURATION` (720h; at least %v); unset or 0: no age bound, only --audit-retain-bytes", auditRetainAgeMin), kindPlain, str(func(c *Config) *string { return &c.AuditRetainAge })},
	sizeOption("memory-max", "RON_MEMORY_MAX", "a micronode's memory budget, a `SIZE` (bytes, or 512MiB, 2GiB, 4GB): writes that do not fit are refused (507); 0 disables; default 1GiB", func(c *Config) *int64 { return &c.MemoryMax }),
}

// intOption is a setting holding a whole number of what (requests,
// writes); its range is checked by validate.
func intOption(flag, env, usage, what string, field func(*Config) *int) setting {
	return setting{flag, env, usage, kindPlain, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of %s", v, what)
		}
		*field(c) = n
		return nil
	}}
}

// floatOption is a setting holding a number (a rate); example names
// what it counts, with examples, for the error on a non-number. Its range
// is checked by validate.
func floatOption(flag, env, usage, example string, field func(*Config) *float64) setting {
	return setting{flag, env, usage, kindPlain, func(c *Config, v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of %s", v, example)
		}
		*field(c) = n
		return nil
	}}
}

// tenantRateMax bounds the rate settings: far beyond what a node serves,
// and finite (+Inf would make a bucket's arithmetic NaN).
const tenantRateMax = 1e9

// checkRates checks tenant_rate, tenant_burst and anonymous_read_burst:
// NaN, a negative or an infinite value and a burst below one request (its
// bucket would never admit one) are refused, each naming its setting.
func (c Config) checkRates() error {
	if c.TenantRate != 0 && !(c.TenantRate > 0 && c.TenantRate <= tenantRateMax) {
		return badSetting("tenant_rate", "%v is not a rate above 0 and at most %g requests per second (0 or unset: %g)",
			c.TenantRate, tenantRateMax, gateway.TenantRateDefault)
	}
	if c.TenantBurst != 0 && !(c.TenantBurst >= 1 && c.TenantBurst <= tenantRateMax) {
		return badSetting("tenant_burst", "%v is outside 1..%g requests: a bucket smaller than one request admits none (0 or unset: the larger of %g and tenant_rate)",
			c.TenantBurst, tenantRateMax, gateway.TenantBurstDefault)
	}
	if c.AnonymousReadBurst != 0 && !(c.AnonymousReadBurst >= 1 && c.AnonymousReadBurst <= tenantRateMax) {
		return badSetting("anonymous_read_burst", "%v is outside 1..%g requests: a bucket smaller than one request admits none (0 or unset: twice anonymous_read_rate)",
			c.AnonymousReadBurst, tenantRateMax)
	}
	return nil
}

// Bounds of the admission settings. admissionInflightCap is the
// gateway's connection cap (gateway.ConnsMaxDefault): an HTTP/1
// connection carries one request at a time, so more slots than that
// could never fill. admissionQueueCap is 64 times the default queue: a
// waiter costs a goroutine and its connection, and a queue that deep
// already waits far longer than --queue-wait-max allows. The wait is at
// least queueWaitMin (a shorter one refuses what a slot freeing a
// moment later would have served) and at most queueWaitCap (a client
// waiting longer holds its connection while it has most likely given up).
const (
	admissionInflightCap = gateway.ConnsMaxDefault
	admissionQueueCap    = 64 * admission.QueueDepthMaxDefault
	queueWaitMin         = 10 * time.Millisecond
	queueWaitCap         = time.Minute
)

// admission is the gate's configuration from the settings (zero fields:
// the gate's defaults).
func (c Config) admission() (admission.Config, error) {
	wait, err := c.queueWaitMax()
	if err != nil {
		return admission.Config{}, err
	}
	return admission.Config{AnonymousRate: c.AnonymousReadRate, AnonymousBurst: c.AnonymousReadBurst, TenantRate: c.TenantRate, TenantBurst: c.TenantBurst, InflightMax: c.InflightMax, ReadHeadroom: c.ReadHeadroom,
		QueueDepthMax: c.QueueDepthMax, QueueWaitMax: wait, WritesPerTenantMax: c.WritesPerTenantMax,
		QueuedWritesPerTenantMax: c.QueuedWritesPerTenantMax}, nil
}

// queueWaitMax is QueueWaitMax parsed (0: the gate's default).
func (c Config) queueWaitMax() (time.Duration, error) {
	if c.QueueWaitMax == "" || c.QueueWaitMax == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.QueueWaitMax)
	switch {
	case err != nil:
		return 0, badSetting("queue_wait_max", "%q is not a duration (e.g. 2s, 500ms)", c.QueueWaitMax)
	case d == 0: // "0s", "0ms": as "0"
		return 0, nil
	case d < queueWaitMin || d > queueWaitCap:
		return 0, badSetting("queue_wait_max", "%v is outside %v..%v (0 or unset takes the default, %v)", d, queueWaitMin, queueWaitCap, admission.QueueWaitMaxDefault)
	}
	return d, nil
}

// checkAdmission checks the admission settings, each against the gate's
// value of the others (a default where unset): no zero or negative slot
// count, no headroom that leaves writes no slot, no tenant share larger
// than the whole it is a share of.
func (c Config) checkAdmission() error {
	if _, err := c.admission(); err != nil {
		return err
	}
	if c.InflightMax < 0 || c.InflightMax > admissionInflightCap {
		return badSetting("inflight_max", "%d is outside 1..%d, the gateway's connection cap (0 takes the default, %d)",
			c.InflightMax, admissionInflightCap, admission.InflightMaxDefault)
	}
	inflight := admission.Config{InflightMax: c.InflightMax}.WithDefaults().InflightMax
	if c.ReadHeadroom > 0 && inflight < 2 {
		return badSetting("read_headroom", "%d leaves writes no slot: inflight_max %d has none to spare for reads alone (set read_headroom 0: no headroom below inflight_max 4)",
			c.ReadHeadroom, inflight)
	}
	if c.ReadHeadroom < 0 || c.ReadHeadroom >= inflight {
		return badSetting("read_headroom", "%d is outside 1..%d, below inflight_max %d so writes keep a slot (0 takes the default, %d or a quarter of inflight_max)",
			c.ReadHeadroom, inflight-1, inflight, admission.ReadHeadroomDefault)
	}
	if c.QueueDepthMax < 0 || c.QueueDepthMax > admissionQueueCap {
		return badSetting("queue_depth_max", "%d is outside 1..%d (0 takes the default, %d)", c.QueueDepthMax, admissionQueueCap, admission.QueueDepthMaxDefault)
	}
	gate := admission.Config{InflightMax: c.InflightMax, ReadHeadroom: c.ReadHeadroom, QueueDepthMax: c.QueueDepthMax}.WithDefaults()
	writeSlots := gate.InflightMax - gate.ReadHeadroom
	if c.WritesPerTenantMax < 0 || c.WritesPerTenantMax > writeSlots {
		return badSetting("writes_per_tenant_max", "%d is outside 1..%d, the write slots (inflight_max %d less read_headroom %d; 0 takes a quarter of them, %d)",
			c.WritesPerTenantMax, writeSlots, gate.InflightMax, gate.ReadHeadroom, gate.WritesPerTenantMax)
	}
	if c.QueuedWritesPerTenantMax < 0 || c.QueuedWritesPerTenantMax > gate.QueueDepthMax {
		return badSetting("queued_writes_per_tenant_max", "%d is outside 1..%d, queue_depth_max (0 takes a quarter of it, %d)",
			c.QueuedWritesPerTenantMax, gate.QueueDepthMax, gate.QueuedWritesPerTenantMax)
	}
	if c.RequestsPerSource < 0 || c.RequestsPerSource > gate.InflightMax {
		return badSetting("requests_per_source", "%d is outside 1..%d, the gateway's in-flight cap (0 takes the default, %d)",
			c.RequestsPerSource, gate.InflightMax, max(1, gate.InflightMax/4))
	}
	return nil
}

// auditRetainAgeMin is the least audit_retain_age: the audit trail of an
// incident must outlive its review.
const auditRetainAgeMin = audit.RetainAgeMin

// auditRetainAge is AuditRetainAge parsed (0: none).
func (c Config) auditRetainAge() (time.Duration, error) {
	if c.AuditRetainAge == "" || c.AuditRetainAge == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.AuditRetainAge)
	switch {
	case err != nil:
		return 0, badSetting("audit_retain_age", "%q is not a duration (e.g. 720h, 90m)", c.AuditRetainAge)
	case d < auditRetainAgeMin:
		return 0, badSetting("audit_retain_age", "%v is below the least age bound, %v (0 or unset: none)", d, auditRetainAgeMin)
	}
	return d, nil
}

// anonymousReadRateMax bounds anonymous_read_rate: far beyond what a node
// serves, and finite (+Inf would make the bucket's arithmetic NaN).
const anonymousReadRateMax = 1e9

// configError is a configuration problem; main prints it alone and
// exits 2 on it, or code when set (1: a data dir in use, worth a retry).
type configError struct {
	msg  string
	code int
	// setting is badSetting's name (fileLine adds its line in the file).
	setting string
}

func (e *configError) Error() string { return e.msg }

func badSetting(name string, format string, args ...any) error {
	return &configError{msg: "rond: config: " + name + ": " + fmt.Sprintf(format, args...), setting: name}
}

// fileLine rewrites validate's error about a setting the config file set
// into the file's form, "rond: config: FILE:LINE: key: message", as the
// file's key and type errors are; other errors are returned as they are.
func (c Config) fileLine(err error) error {
	var ce *configError
	if !errors.As(err, &ce) || c.ConfigFile == "" {
		return err
	}
	line, ok := c.lines[ce.setting]
	if !ok {
		return err
	}
	return &configError{msg: fmt.Sprintf("rond: config: %s:%d: %s", c.ConfigFile, line, strings.TrimPrefix(ce.msg, "rond: config: ")),
		code: ce.code, setting: ce.setting}
}

// options are the command-line-only switches.
type options struct {
	configFile string
	version    bool
}

// errHelp is loadConfig's answer to --help: run prints the usage to
// stdout and exits 0.
var errHelp = errors.New("rond: help requested")

// newFlagSet declares rond's flags: the command-line-only switches into
// opts and every setting into flagValues (applied last, over the file and
// the environment).
func newFlagSet(opts *options, flagValues map[string]string) *flag.FlagSet {
	fs := flag.NewFlagSet("rond", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&opts.configFile, "config", "", "YAML config `FILE` (strict: unknown keys are errors; check one with: rond config check FILE)")
	fs.BoolVar(&opts.version, "version", false, "print the version, the Go version and the VCS revision, and exit")
	for _, s := range settings {
		set := func(v string) error { flagValues[s.flag] = v; return nil }
		if s.kind == kindBool {
			fs.BoolFunc(s.flag, s.usage, set)
		} else {
			fs.Func(s.flag, s.usage, set)
		}
	}
	return fs
}

// printUsage writes rond --help: the usage text and every flag.
func printUsage(w io.Writer) {
	fs := newFlagSet(&options{}, map[string]string{})
	fs.SetOutput(w)
	fmt.Fprint(w, usageText)
	fs.PrintDefaults()
}

// loadConfig builds the configuration from args and the environment.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, options, error) {
	var opts options
	flagValues := map[string]string{}
	fs := newFlagSet(&opts, flagValues)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, opts, errHelp
		}
		return Config{}, opts, &configError{msg: "rond: " + err.Error() + " (run 'rond --help')"}
	}
	if fs.NArg() > 0 {
		return Config{}, opts, badSetting("arguments", "unexpected %q (rond takes only flags, or: rond config check FILE | rond config schema; run 'rond --help')", fs.Arg(0))
	}
	cfg := defaults()
	if opts.configFile == "" {
		opts.configFile = getenv("RON_CONFIG")
	}
	if opts.configFile != "" {
		if err := readConfigFile(opts.configFile, &cfg); err != nil {
			return Config{}, opts, err
		}
		cfg.ConfigFile = opts.configFile
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.apply(&cfg, v); err != nil {
				return Config{}, opts, badSetting(s.env, "%v", err)
			}
			delete(cfg.lines, s.key())
		}
	}
	for _, s := range settings {
		if v, ok := flagValues[s.flag]; ok {
			if err := s.apply(&cfg, v); err != nil {
				return Config{}, opts, badSetting("--"+s.flag, "%v", err)
			}
			delete(cfg.lines, s.key())
		}
	}
	cfg.warnings = unknownEnvWarnings(environ())
	if ram, ok := physicalMemory(); ok && cfg.DataDir == "" && cfg.MemoryMax > ram {
		// A warning, not an error: the default (1GiB) must still start
		// on a smaller machine; the budget then never binds.
		cfg.warnings = append(cfg.warnings, fmt.Sprintf("rond: memory_max %s is larger than this machine's memory, %.1fGiB: the budget cannot bind; lower --memory-max",
			formatByteSize(cfg.MemoryMax), float64(ram)/(1<<30)))
	}
	cfg.reload = func() (Config, error) {
		c, _, err := loadConfig(args, getenv, io.Discard)
		return c, err
	}
	return cfg, opts, cfg.fileLine(cfg.validate())
}

// environ lists the process environment (os.Environ; a variable so a
// test can hand loadConfig its own).
var environ = os.Environ

// otherEnvVars are the RON_* variables the rest of the project reads:
// rond does not, but must not call them mistyped.
var otherEnvVars = []string{
	"RON_CONFIG",                // rond: --config
	"RON_TOKEN",                 // ronctl --token; rond's banner exports it
	"RON_FLAGS_OFF_SEEDS",       // sim/runner tests (make)
	"RON_REAL_CANARY",           // sim/real canary (make real-canary)
	"RON_PEBBLEDISK_KILL_CHILD", // io/pebbledisk crash tests' child process
}

// unknownEnvWarnings returns a warning for each RON_* variable of env
// (KEY=VALUE entries) that no part of the project reads, most likely a
// mistyped setting: it names the variable and the closest known one, or
// lists the known ones. They are warnings, not errors, since other tools
// may set RON_* variables of their own.
func unknownEnvWarnings(env []string) []string {
	var known []string
	for _, s := range settings {
		known = append(known, s.env)
	}
	known = append(known, otherEnvVars...)
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "RON_") || slices.Contains(known, name) {
			continue
		}
		hint := "known: " + strings.Join(known, ", ")
		if near := nearestKey(name, known); near != "" {
			hint = fmt.Sprintf("did you mean %s?", near)
		}
		out = append(out, fmt.Sprintf("rond: environment variable %s is not a rond setting and is ignored (%s)", name, hint))
	}
	return out
}

// configFileBytesMax bounds what is read of a config file: a real one is
// a few KiB, and a path to /dev/zero or a huge file by mistake would
// otherwise be read until memory ran out.
const configFileBytesMax = 1 << 20

func readConfigFile(path string, cfg *Config) error {
	// A FIFO, device or directory is refused rather than read (a FIFO
	// without a writer would block rond for ever).
	f, err := regfile.Open(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return badSetting("--config", "%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, configFileBytesMax+1))
	if err != nil {
		return badSetting("--config", "%v", err)
	}
	if len(data) > configFileBytesMax {
		return badSetting("--config", "%s is larger than %d KiB; not a rond config file", path, configFileBytesMax>>10)
	}
	return parseConfigFile(path, data, cfg)
}

// parseConfigFile decodes data (the file path) into cfg. Unknown keys are
// refused with their line and the nearest known key; type errors carry
// the file, the line and the key in the compiler's form (FILE:LINE: key:
// message). Byte sizes (sizeKeys) are read by parseByteSize, so they
// take the units their flags take. A second YAML document, a fraction
// for an integer setting and a flag without a value are refused with
// their line too; cfg.lines records each key's line.
func parseConfigFile(path string, data []byte, cfg *Config) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return badSetting(path, "%s", yamlErrorText(path, err, nil))
	}
	// The library reads one document at a time: a second one (after
	// "---") would otherwise be ignored, its keys unchecked. An empty one
	// (a trailing "---", perhaps with comments) has no keys to miss and
	// is accepted, as it always was.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if err == io.EOF {
			break
		}
		if err != nil {
			return badSetting(path, "%s", yamlErrorText(path, err, nil))
		}
		if !emptyDocument(&next) {
			return &configError{msg: fmt.Sprintf("rond: config: %s:%d: a second YAML document starts here; a config file is one document (drop the \"---\")",
				path, next.Line)}
		}
	}
	if err := checkConfigKeys(path, &doc); err != nil {
		return err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil // an empty file: the defaults
	}
	if err := convertSizes(path, doc.Content[0]); err != nil {
		return err
	}
	if err := checkValues(path, doc.Content[0]); err != nil {
		return err
	}
	if err := doc.Decode(cfg); err != nil {
		return badSetting(path, "%s", yamlErrorText(path, err, lineKeys(doc.Content[0])))
	}
	cfg.lines = map[string]int{}
	for i := 0; i+1 < len(doc.Content[0].Content); i += 2 {
		key := doc.Content[0].Content[i]
		cfg.lines[key.Value] = key.Line
	}
	return nil
}

// emptyDocument reports whether a YAML document holds nothing: no node,
// or only a null (what the library makes of "---" followed by nothing or
// by comments).
func emptyDocument(doc *yaml.Node) bool {
	for _, n := range doc.Content {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!null" {
			return false
		}
	}
	return true
}

// checkValues refuses, with its line and key, what the YAML library would
// decode silently into something else: a fraction for an integer setting
// (it truncates 1.5 to 1) and a flag without a value (null, which it
// decodes as false, switching the flag off).
func checkValues(path string, root *yaml.Node) error {
	ints := map[string]bool{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			ints[name] = true
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], resolveAlias(root.Content[i+1])
		if ints[key.Value] && value.Kind == yaml.ScalarNode && value.ShortTag() == "!!float" {
			if f, err := strconv.ParseFloat(value.Value, 64); err != nil || f != math.Trunc(f) {
				return &configError{msg: fmt.Sprintf("rond: config: %s:%d: %s: %s is not a whole number", path, key.Line, key.Value, value.Value)}
			}
		}
		if key.Value == "flags" && value.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(value.Content); j += 2 {
				if v := resolveAlias(value.Content[j+1]); v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
					return &configError{msg: fmt.Sprintf("rond: config: %s:%d: flags: %s has no value; want true or false",
						path, value.Content[j].Line, value.Content[j].Value)}
				}
			}
		}
	}
	return nil
}

// resolveAlias returns the node an alias (*name) stands for, so a value
// given through an anchor is checked like one written out.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// convertSizes rewrites the value of every byte-size key of the mapping
// root into a whole number of bytes, refusing one that is not a size with
// its line and key.
func convertSizes(path string, root *yaml.Node) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if !slices.Contains(sizeKeys(), key.Value) {
			continue
		}
		if value.Kind != yaml.ScalarNode {
			return &configError{msg: fmt.Sprintf("rond: config: %s:%d: %s: a size is a single value, not a %s; %s",
				path, value.Line, key.Value, yamlKindName(value), sizeForms)}
		}
		n, err := parseByteSize(value.Value)
		if err != nil {
			return &configError{msg: fmt.Sprintf("rond: config: %s:%d: %s: %v", path, value.Line, key.Value, err)}
		}
		value.Value, value.Tag, value.Style = strconv.FormatInt(n, 10), "!!int", 0
	}
	return nil
}

// lineKeys maps each line of the mapping root's values to its key, for
// naming the key in a decoding error that only gives the line.
func lineKeys(root *yaml.Node) map[int]string {
	out := map[int]string{}
	var mark func(n *yaml.Node, key string)
	mark = func(n *yaml.Node, key string) {
		if _, ok := out[n.Line]; !ok {
			out[n.Line] = key
		}
		for _, c := range n.Content {
			mark(c, key)
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		mark(root.Content[i+1], root.Content[i].Value)
	}
	return out
}

// checkConfigKeys walks the top-level mapping of doc and refuses the
// first key that is not a Config field.
func checkConfigKeys(path string, doc *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil // an empty file: the defaults
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &configError{msg: fmt.Sprintf("rond: config: %s:%d: the file must be a mapping of settings (key: value), not a %s",
			path, root.Line, yamlKindName(root))}
	}
	known := configKeys()
	for i := 0; i+1 < len(root.Content); i += 2 {
		key := root.Content[i]
		if slices.Contains(known, key.Value) {
			continue
		}
		hint := "known keys: " + strings.Join(known, ", ")
		if near := nearestKey(key.Value, known); near != "" {
			hint = fmt.Sprintf("did you mean %q?", near)
		}
		return &configError{msg: fmt.Sprintf("rond: config: %s:%d: unknown key %q (%s)", path, key.Line, key.Value, hint)}
	}
	return nil
}

func yamlKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "non-mapping"
}

// yamlErrorText turns the YAML library's "yaml: line N: msg" errors into
// "FILE:N: msg" lines joined with "; ", naming the key of line N when
// keys (lineKeys) knows it: "FILE:N: key: msg".
func yamlErrorText(path string, err error, keys map[int]string) string {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "line "); ok {
			if n, msg, ok := strings.Cut(rest, ": "); ok {
				l = path + ":" + n + ": " + msg
				if line, err := strconv.Atoi(n); err == nil && keys[line] != "" {
					l = path + ":" + n + ": " + keys[line] + ": " + msg
				}
			}
		} else {
			l = path + ": " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "; ")
}

// configKeys returns the YAML keys of Config, in field order.
func configKeys() []string {
	var keys []string
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// nearestKey returns the known key closest to key by edit distance, or ""
// when none is close enough to be the intended one (at most a third of
// the key's length, and at least 1, edits away).
func nearestKey(key string, known []string) string {
	best, bestDistance := "", max(len(key)/3, 1)+1
	for _, k := range known {
		if d := editDistance(key, k); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// listenError explains a listen failure of setting (http_addr, quic_addr,
// oap_addr) at addr: a port in use is most often another rond, so say so
// and name the flag that moves it.
func listenError(setting, addr, network string, err error) error {
	flagName := strings.ReplaceAll(setting, "_", "-")
	env := "RON_" + strings.ToUpper(setting)
	if errors.Is(err, syscall.EADDRINUSE) {
		return &configError{msg: fmt.Sprintf("rond: config: %s: %s (%s) is already in use: another rond may be running; "+
			"stop it, or choose another port with --%s HOST:PORT (or %s, or %s in --config)", setting, addr, network, flagName, env, setting)}
	}
	return &configError{msg: fmt.Sprintf("rond: config: %s: %s (%s): %v (set it with --%s HOST:PORT)", setting, addr, network, err, flagName)}
}

// checkHostPort refuses addr unless it is host:port with a decimal port
// from portMin to 65535 (net.SplitHostPort alone takes any port text,
// "99999" too, which fails only when rond listens or dials).
func checkHostPort(addr string, portMin int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < portMin || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("port %q: want a numeric port from %d to 65535, written plainly (not a service name such as \"http\", not empty, no leading zeros)", port, portMin)
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
		if err := checkHostPort(addr, 1); err != nil {
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

func (c Config) memberIDs() ([]proto.NodeID, error) {
	var out []proto.NodeID
	for _, m := range c.Members {
		id, err := proto.ParseNodeID(m)
		if err != nil {
			return nil, badSetting("members", "%q: %v", m, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func (c Config) validate() error {
	for _, a := range []struct{ name, addr string }{{"http_addr", c.HTTPAddr}, {"quic_addr", c.QUICAddr}} {
		if err := checkHostPort(a.addr, 0); err != nil {
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
	if err := c.checkOAP(); err != nil {
		return err
	}
	if err := checkFlags(c.Flags); err != nil {
		return err
	}
	if c.EdgeCacheBytes < 0 {
		return badSetting("edge_cache_bytes", "%d is negative (0 disables the cache)", c.EdgeCacheBytes)
	}
	if c.MemoryMax < 0 {
		return badSetting("memory_max", "%d is negative (0 disables the budget)", c.MemoryMax)
	}
	if _, err := c.auditRetainAge(); err != nil {
		return err
	}
	if c.AuditRetainBytes < 0 || c.AuditRetainBytes > 0 && c.AuditRetainBytes < audit.RetainBytesMin {
		return badSetting("audit_retain_bytes", "%s is below the least retention, %s (0 takes the default, %s)",
			formatByteSize(c.AuditRetainBytes), formatByteSize(audit.RetainBytesMin), formatByteSize(audit.RetainBytesDefault))
	}
	if c.NamesPerTenant < 1 || c.NamesPerTenant > registry.NamesMax {
		return badSetting("names_per_tenant", "%d is outside 1..%d, the names the registry holds (default %d)",
			c.NamesPerTenant, registry.NamesMax, gateway.NamesPerTenantDefault)
	}
	if err := c.checkAdmission(); err != nil { // requests_per_source too: it is bounded by inflight_max
		return err
	}
	if c.ReadAheadBytes < 0 || c.ReadAheadBytes > 0 && c.ReadAheadBytes < gateway.ReadAheadBytesMin {
		return badSetting("read_ahead_bytes", "%s is below the smallest budget, %s (one chunk of the largest size; 0 takes the default)",
			formatByteSize(c.ReadAheadBytes), formatByteSize(gateway.ReadAheadBytesMin))
	}
	if c.DataDir == "" && c.MemoryMax > 0 && c.ReadAheadBytes > c.MemoryMax {
		// Read-ahead buffers live in the heap a micronode's budget
		// bounds, beside the objects it stores: a budget larger than
		// memory_max could never be honoured.
		return badSetting("read_ahead_bytes", "%s is larger than this micronode's memory_max, %s (read-ahead buffers live in that memory); "+
			"lower --read-ahead-bytes, raise --memory-max, or set --data-dir for a macronode",
			formatByteSize(c.ReadAheadBytes), formatByteSize(c.MemoryMax))
	}
	if c.DataDir == "" && c.MemoryMax > 0 && c.EdgeCacheBytes > c.MemoryMax {
		// A micronode's edge cache lives in the heap its budget bounds:
		// one larger than the budget could never fill, and would push
		// the objects it stores out.
		return badSetting("edge_cache_bytes", "%s is larger than this micronode's memory_max, %s (the cache lives in that memory); "+
			"lower --edge-cache-bytes, raise --memory-max, or set --data-dir for a macronode",
			formatByteSize(c.EdgeCacheBytes), formatByteSize(c.MemoryMax))
	}
	if ram, ok := physicalMemory(); ok && c.EdgeCacheBytes > ram {
		return badSetting("edge_cache_bytes", "%s is larger than this machine's memory, %.1fGiB (the cache lives in memory); lower --edge-cache-bytes",
			formatByteSize(c.EdgeCacheBytes), float64(ram)/(1<<30))
	}
	if c.SegmentWrites != segmentWritesDirect && c.SegmentWrites != segmentWritesBuffered {
		return badSetting("segment_writes", "%q is not %s or %s", c.SegmentWrites, segmentWritesDirect, segmentWritesBuffered)
	}
	if !(c.AnonymousReadRate > 0 && c.AnonymousReadRate <= anonymousReadRateMax) {
		return badSetting("anonymous_read_rate", "%v is not a rate above 0 and at most %g requests per second", c.AnonymousReadRate, anonymousReadRateMax)
	}
	if err := c.checkRates(); err != nil {
		return err
	}
	if _, err := c.peers(); err != nil {
		return err
	}
	if _, err := parseAdminKeys(c.AdminKeys); err != nil {
		return err
	}
	if _, err := c.memberIDs(); err != nil {
		return err
	}
	if c.OpenNetwork && len(c.Members) > 0 {
		return badSetting("open_network", "true with members listed: an open network has no membership; drop one of them")
	}
	if c.OpenNetwork && c.Policy != "" {
		// On an open network any node reaching the QUIC port reads
		// every object over the peer protocol, whatever the policy says
		// (the policy is the gateway's): a policy that requires tokens
		// for reads would only seem to.
		return badSetting("open_network", "true with a policy file (%s): any node reaching the QUIC port would read objects over the peer protocol without a token, bypassing the policy; drop open_network (a closed membership: bootstrap, replicas, members)", c.Policy)
	}
	_, err := c.replicaIDs()
	return err
}
