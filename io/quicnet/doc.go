// Package quicnet is RON's production transport: OAP/1 frames between
// nodes over QUIC (github.com/quic-go/quic-go), TLS 1.3, ALPN "ron/1"
// (ARCHITECTURE 5.2 and 7).
//
// A Transport gives the node runtime what env.Send promises machines:
// Send(to, frame) never blocks and is best effort, like a datagram; frames
// that arrive are handed to the deliver callback with their authenticated
// sender. It is an adapter: everything that decides (sessions, HELLO,
// backoff policy, peer scoring) stays in core/overlay.
//
// # Identity
//
// Each node presents a self-signed X.509 certificate whose key is its
// Ed25519 node key, and requires one from its peer. A dialer checks that
// BLAKE3(certificate key) is the NodeID it meant to reach; a listener reads
// the dialer's NodeID from its certificate. TLS's own CertificateVerify
// proves the peer holds that key, so the certificate's issuer, signature
// and validity dates carry no information and are not checked (hence
// InsecureSkipVerify with our VerifyPeerCertificate). A mismatch fails the
// handshake and counts transport_handshake_fail_total{reason="id_mismatch"};
// a certificate that is not Ed25519 counts "bad_cert", and one whose key
// is of small order or non-canonically encoded (proto.CheckPublicKey)
// counts "weak_key": TLS checks CertificateVerify with the cofactorless
// ed25519.Verify, under which such a key accepts a signature anyone can
// make, so anyone could be that key's NodeID. Trusting a CA was
// rejected: a node's name is its key, and a CA would be a second authority
// that could contradict it.
//
// # One connection per peer
//
// Outbound and inbound connections share one UDP socket, so a peer's source
// address is its listening address and is remembered for dialing back. If
// both nodes dial at once, each ends up holding two connections; both keep
// the one dialed by the lower NodeID and close the other. The rule depends
// only on the two ids, so the ends agree whatever order the connections
// complete in. Two connections dialed by the same node mean the dialer
// lost the first (it dials only when it has none), so the newer one wins.
// For the same reason, a dial from the peer arriving more than
// SimultaneousOpenWindow after we adopted a connection we dialed is not a
// simultaneous open: the peer lost ours (it restarted), and its dial wins.
// In both of these cases the frames still queued for the lost connection
// are dropped (DropPeerRedialed) and the loss reported, not written first
// on the new one: they were meant for a process that may be gone, and a
// restarted raft replica spent seconds rejecting such stale appends
// before the fresh ones reached it.
// Frames already written on the connection that loses a simultaneous open
// may be lost: that is within Send's best-effort contract, and making the
// hand-over lossless needs a drain-and-acknowledge exchange before closing
// (noted as future work). A restarted node derives its QUIC stateless
// reset key from its node key, so peers holding a connection to its
// previous process learn at once that it is dead.
//
// # Frames on streams
//
// Each connection carries one long-lived unidirectional stream per
// direction with OAP/1 frames back to back; the OAP length field delimits
// them. The receiver reads each frame with oap.ReadFrame, which validates
// the header (at most FrameBytesMax, known version and flags) before it
// allocates, then grows the buffer in two exact steps: 64 KiB (the bufio
// size) until that much arrived, then the declared length. So a peer
// cannot make it buffer more than one frame, nor more than 16 times what
// it sent, and a 256 KiB chunk costs three allocations; the
// frame's buffer goes to deliver without a further copy. oap.Decoder was
// not used because it copies every chunk into its own buffer and suits
// input that arrives in arbitrary pieces; a stream reader can ask for
// exactly the bytes it needs. A malformed frame counts
// oap_rejects_total{reason} and closes the connection with that reason:
// the length field is the only delimiter, so nothing after a bad header
// can be trusted. One stream per frame was rejected: it costs a stream
// open per frame, runs into QUIC's stream-count flow control under bursts,
// and loses the per-peer ordering machines find convenient; its benefit,
// no head-of-line blocking behind a 1 MiB frame, does not matter at RON's
// frame sizes. A peer may open one unidirectional stream and no
// bidirectional ones (MaxIncomingUniStreams 1, MaxIncomingStreams -1).
//
// # Bounds and drops
//
// Every peer has a send queue of SendQueueDepthMax frames and
// SendQueueBytesMax bytes; when either is full the oldest frames are
// dropped (queue_full, queue_bytes). The writer takes at most
// WriteBatchBytesMax (at least one frame) from the queue per write, so a
// peer that stops reading pins at most about SendQueueBytesMax +
// WriteBatchBytesMax in this node, however large its frames. A dial is attempted lazily on Send, at most one at a
// time per peer, DialAttemptsMax times with doubling backoff, after which
// the queue is dropped. The address book holds at most PeersMax peers
// (idle learned peers are evicted first) and a peer at most
// ConnsPerPeerMax live connections. Every drop is counted in
// transport_dropped_total{reason}. Datagrams no connection owns (garbage,
// packets for unknown connections, unsupported versions) are counted in
// transport_datagrams_dropped_total{reason} by SourceGuard's tracer, on
// this endpoint and on io/oapgate's (drops.go).
//
// # Stalled connections and loss reports
//
// QUIC retransmits on its probe timer (PTO), which doubles after every
// unanswered probe: after a path was blocked for a few seconds, the next
// probe, and so the first frame after the heal, can wait seconds more. A
// per-connection watchdog therefore closes a kept connection that received
// no packet for StallTimeout (3 s; KeepAlive, 1 s, makes a quiet but
// healthy connection receive the ACK of a PING), with CONNECTION_CLOSE,
// which a one-way cut lets through; the peer redials with a fresh timer
// (counted as transport_dropped_total{reason="stalled"}). Capping quic-go's
// PTO backoff was not possible: quic-go v0.65 exposes no setting for it.
// Config.Lost is told the peer whenever frames to it may have been lost
// (a kept connection ended, a write failed, a queue was dropped after
// failed dials), so raft (through the runtime, as an
// env.TopicPeerUnreachable event) resends at once instead of waiting for
// acknowledgements that will never come.
//
// # UDP buffers
//
// quic-go asks the kernel for 7 MiB socket buffers and, when it cannot get
// them, prints a warning through the standard log package, bypassing slog.
// The transport sets QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING (unless the
// operator set it), inspects the buffers itself after quic-go's attempt,
// and logs once per process through slog with the sysctl that fixes it.
//
// # Hostile sources
//
// SourceGuard (guard.go) sits in front of both QUIC endpoints (this
// transport and io/oapgate): at most ConnsPerSourceDefault connections,
// handshakes included, per source (per_source): per address for IPv4 (not
// per /24: that would lump a NAT'd site's neighbours, and the 127.0.0.x
// sources tests use, into one quota), per /64 for IPv6, where one host
// usually holds a whole /64, but per address again for IPv6 addresses
// standing for IPv4 clients (NAT64/SIIT, Teredo); a Retry round trip
// (source-address validation) for every attempt once
// HandshakesUnvalidatedMax handshakes are in flight or the source holds
// half its quota, so spoofed Initial packets cost no connection state;
// transport_handshakes_in_flight{endpoint} shows the handshakes pending,
// transport_inbound_connections{endpoint} the connections held, handshakes
// included. Every refusal is counted in transport_handshake_fail_total{reason}:
// per_source, handshakes_full, conns_full, no_cert, bad_cert, wrong_alpn
// (and, on the client endpoint, hello_timeout, bad_hello and hello_pending),
// and again in transport_handshake_fail_endpoint_total{endpoint} under the
// endpoint that counted it, "peer" or "oap" (the code's name for the
// listener, never anything a remote sent: two series). env metrics carry
// one label and the design fixes {reason} on the first, so the endpoint
// is a sibling counter; the peer HELLO checks of core/overlay (malformed,
// version, wrong_target, bad_signature, bad_nonce, and its own weak_key,
// id_mismatch and timeout) count by reason only, all on the peer
// endpoint by construction. per_source
// and handshakes_full refuse before the handshake and count once per
// Initial packet refused (quic-go keeps nothing of a refused attempt, so
// each packet of a ClientHello, two with a post-quantum key share, and
// each retransmission is refused anew); the others count once per
// connection. An attacker connection costs a slot of its source's quota
// and, until its handshake timeout, about 100 KiB and four goroutines of
// quic-go state while its handshake is pending (measured by a red team:
// 768 pending handshakes on the peer port took a node from 38 to 144 MB
// of RSS and from 44 to 3,116 goroutines); on the client endpoint, once
// its handshake is done and until its HELLO deadline, up to about 1 MiB
// (what it may send on streams not yet accepted, io/oapgate's "Memory").
// A pending handshake holds its slot for up to twice
// HandshakeTimeout (10 s by default): it is quic-go's
// HandshakeIdleTimeout, and quic-go ends a handshake after
// 2×HandshakeIdleTimeout in any case, after HandshakeIdleTimeout only if
// no packet arrives. A broken
// count found at a release (a bug) is repaired, logged and counted in
// transport_guard_errors_total{endpoint}, never a panic: the release runs
// on a goroutine of quic-go's, where a panic would end the process.
//
// The per-source quota alone bounds nothing in total: 127.0.0.0/8 alone
// is 16 million sources. This endpoint therefore also bounds its inbound
// connections, handshakes included, at ConnsMax (ConnsDefault 1024, four
// times the overlay's session table at two connections per peer);
// io/oapgate's client endpoint bounds its own at its ConnsMax (1024
// established) plus a quarter for handshakes. An attempt beyond the bound
// is refused in ConnContext, before quic-go allocates a connection, with
// CONNECTION_REFUSED (handshakes_full); no handshake is evicted, since an
// attacker could as well churn whatever eviction frees. (Past the
// handshake, io/oapgate at its ConnsMax closes its established
// connection idle longest for a new one: an idle client connection kept
// alive by QUIC's PINGs would otherwise hold its place for ever.) Connections
// release their room whenever they end (the guard hooks each connection's
// context), so the gauge returns to 0 once all closed.
//
// Refusing new connections lets an attacker who fills the bound lock out
// peers dialing in. Three things limit that. Our own dials are not
// counted: a node still reaches every peer it dials, and the connection is
// shared both ways. A quarter of ConnsMax is reserved for peers configured
// with AddPeer (the cluster members), before and after the handshake:
// every attempt from another address, pending or established, counts in
// the other three quarters and is refused beyond them (handshakes_full),
// so an attacker keeping handshakes pending, however many real addresses
// it has, holds three quarters at most. An attempt from a member's
// address may take the reserve, once it proved that address with a Retry
// (asked as soon as the three quarters are used up); until then it counts
// in the three quarters like any other attempt, so spoofing a member's
// address takes none of the reserve. A member's addresses are those of
// its AddPeer entry (a host name is looked up in the background, each
// peer's on its own, so AddPeer and node start-up never wait on DNS; a
// name that does not resolve yet, such as a container not started, is
// logged and gives none), the address our last successful dial to it
// reached, and the addresses its own connections came from once their
// NodeID showed it, the last four of those two kinds (a recreated
// container's new address replaces the old). Once the handshake shows
// the dialer's NodeID, a connection from any other NodeID must find room
// in the three quarters or is refused (conns_full): an unconfigured node
// sharing a member's address gets the reserve for its handshake only.
// What remains: a member dialing from an address it was never seen at
// (behind NAT, a multi-homed host, a name not resolved yet) has no
// reserve before its first handshake from there, and an attacker holding
// the three quarters with pending handshakes refuses it as any other (its
// dials are retried with backoff, and our dials to it still work, which
// entitles the address they reach); after its handshake its connection
// leaves the three quarters for the reserve, and its address is entitled
// for the next. Members share the reserve with whatever else dials from
// their addresses, each within its per-source quota. Sizing the reserve
// from the configured peers (two connections each), or evicting learned
// peers' connections for members, were judged not worth their complexity
// for clusters of a few nodes: a quarter of 1024 holds 128 members.
//
// # Closed membership
//
// Config.Members gives the transport the node's closed membership from
// its start (rond's is runtime.NodeSpec.Membership); SetMembers replaces
// it at any time, from any goroutine (an atomic pointer to an immutable
// set), for a membership reloaded while the node runs; the kept
// connection of a node it drops (not a configured peer) is closed at
// once with application error 6. Under it
// an inbound connection is checked as soon as its handshake shows the
// dialer's NodeID: one from outside the membership is closed at once
// with application error 6 (not a member), counted in
// transport_handshake_fail_total{reason="not_member"} (once per
// connection) and its id logged, before it is adopted, takes a place in
// the address book or has a frame read. So strangers' connections no
// longer hold the unreserved room (the red team filled 768 of it with
// idle connections from 12 addresses and locked out a member listed only
// by id), nor a 1 MiB frame each while its reader waits for the rest
// (the services refused them only after a whole frame), and none of
// their frames reaches the overlay, the DHT, storage or the registry.
// What a stranger still costs is its handshake, within the bounds above.
// Every member, not only the peers configured with AddPeer, takes the
// reserved room once its handshake shows its NodeID, and the addresses
// its connections came from (the last seenSourcesMax) are entitled to
// the reserve before the handshake, as a configured peer's are; a member
// listed by id only has, as before, no reserve for its first attempt from
// a new address. A refused node running this transport logs which peer
// refused it ("peer <id> refused this node: not a member of its
// cluster"), so a node left out of the member lists is told where to be
// listed. Our own dials are not checked before they start (a node dials
// only the peers its services chose, and the services keep refusing
// non-members' frames on any connection), but every connection, dialed
// or accepted, is checked again as it is adopted, under the lock
// SetMembers takes to close a dropped node's connection: a dial or an
// accept that raced a SetMembers dropping its peer is closed (error 6)
// rather than kept; a peer configured with AddPeer is exempt, as
// SetMembers exempts it. With no membership set, or an empty one (a node alone
// on a loopback address, open_network), every NodeID is admitted and
// only configured peers have the reserve, as before.
//
// # Log lines others cause
//
// A node id costs nothing to make, so a line per refused id, or per
// malformed frame, would let strangers fill the log. The refused-peer
// lines (per id at most once per 10 minutes, 64 ids remembered), the
// lines about peers refusing this node, and the malformed-frame lines
// are each bounded to 10 per minute in all; the first line after a
// suppression is preceded by one counting the lines suppressed
// (logpace.go, as core/internal/refusedlog does for the services).
// Counters are never paced.
//
// # Goroutines
//
// Per Transport: one accept loop; per connection, a reader (which calls
// deliver), a writer and a stall watchdog; per peer being dialed, one
// dialer. Close cancels
// them all and waits for them, so deliver is never called after Close
// returns.
package quicnet
