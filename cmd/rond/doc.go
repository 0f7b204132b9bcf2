// Command rond runs a RON node: the same state machines as the simulator,
// bound to QUIC (io/quicnet), pebble (io/pebbledisk) and the real clock by
// io/runtime, behind the HTTP API of io/gateway.
//
// # Two commands
//
//	go run ./cmd/rond                  # a micronode: one node, in memory
//	go run ./cmd/ronctl put README.md  # store a file (RON_TOKEN from rond's banner)
//
// With no flags rond starts a micronode: everything in memory (pebble on
// an in-memory file system: nothing survives the process), HTTP on
// 127.0.0.1:8080, QUIC on UDP 127.0.0.1:7070, a registry of which it is
// the only replica (single-voter raft), and the DHT and storage machines
// (one replica, R = W = 1, while alone). It mints a root capability token
// (every op) from a fresh MAC key, prints it once with curl examples, and
// writes it to --root-token-file when given (mode 0600).
//
// # Macronode
//
//	rond --data-dir /var/lib/ron --http-addr :8080 --quic-addr :7070 \
//	     --bootstrap <id>@10.0.0.2:7070 --replicas <id>,<id>,<id>
//
// --data-dir stores pebble under DIR/pebble, the node key in DIR/node.key
// and the capability MAC key in DIR/cap.key (both hex, mode 0600, created
// on first start), so the node id and tokens survive restarts. A node
// joins peers with --bootstrap (DHT contacts and overlay peers). The
// registry runs on the nodes in --replicas (plus this one with
// --registry-replica); with peers but no replica list the node runs no
// registry and name routes answer 503.
//
// # Configuration
//
// Precedence: defaults < the YAML file (--config FILE or RON_CONFIG;
// strict, unknown keys are errors) < RON_* environment variables < flags.
// Keys: data_dir, http_addr, quic_addr, bootstrap (list), registry_replica,
// replicas (list), node_key, root_token_file, cap_key_file, policy,
// log_format (text|json), log_level, edge_cache_bytes. Environment: RON_DATA_DIR,
// RON_HTTP_ADDR, RON_QUIC_ADDR, RON_BOOTSTRAP (comma-separated),
// RON_REGISTRY_REPLICA, RON_REPLICAS, RON_NODE_KEY, RON_ROOT_TOKEN_FILE,
// RON_CAP_KEY_FILE, RON_POLICY, RON_LOG_FORMAT, RON_LOG_LEVEL,
// RON_EDGE_CACHE_BYTES (the gateway's edge cache of hot objects, default
// 64 MiB, 0 disables). An
// invalid value stops the start with a message naming the setting and exit
// status 2. Revocation adds admin_key_file / RON_ADMIN_KEY_FILE /
// --admin-key-file and admin_keys (list) / RON_ADMIN_KEYS / --admin-keys.
//
// # Capabilities, policy and audit
//
// Key files (node key, capability MAC key) are hex with a newline, created
// with mode 0600; a key file that group or others can access is refused
// (io/keyfile). --cap-key-file FILE (default DIR/cap.key for a
// macronode) holds the MAC key, so `ronctl token issue --key FILE` mints
// tokens this node accepts. --policy FILE is a core/policy bundle (YAML),
// validated at start (invalid: exit 2) and reloaded when the file changes
// (polled every 500 ms) or on SIGHUP; an invalid bundle at reload is logged
// with the rule and field and the old one stays. Without it the gateway's
// default applies: reads public, writes need a token with the op. The
// node's audit log records the root token's issue, every policy in force,
// name writes, deletes and quota rejects; GET /audit streams it to an admin
// token and `ronctl audit verify` checks the chain.
//
// # Revocation
//
// Every node's registry takes revocations signed by an admin key, and
// non-replicas pull them every registry.DefaultRevocationPullInterval
// (1 s). The key this node signs with is --admin-key-file FILE (hex
// Ed25519 seed, mode 0600, created if missing), else one derived with
// BLAKE3 derive-key from the cap key's bytes: nodes sharing a cap key
// (which they must, for tokens to verify everywhere) then share the admin
// key, and it grants nothing the cap key does not already grant (minting
// an admin token). The registry's AdminKeys are --admin-keys hex,... when
// given, else this node's admin key alone; every replica must list the
// same keys. POST /tokens/revoke (an admin token; `ronctl token revoke
// TOKEN`) commits a revoke; the gateway checks tokens against the node's
// registry view through io/gateway's RevocationCache. A node without a
// registry neither accepts nor enforces revocations (it logs so).
//
// # Signals
//
// SIGINT and SIGTERM stop accepting HTTP requests, drain in-flight ones
// (up to 10 s), stop the node, sync the disk and exit 0. SIGHUP reloads
// the policy file.
package main

const usageText = `rond runs a RON node (content-addressed storage, names, DHT).

Usage: rond [flags]

With no flags: a micronode in memory on http://127.0.0.1:8080 (QUIC on
127.0.0.1:7070); it prints a root token and curl examples.
Precedence: defaults < --config FILE (YAML) < RON_* env vars < flags.

Flags:
`
