package storage

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// Client requests (env.Request.Body; pointers are accepted too). The
// storage machine takes ownership of Put.Data.
type (
	// Put stores Data and replicates it; Pin keeps a local copy until Delete.
	Put struct {
		Data []byte
		Pin  bool
	}
	// Get reads Length bytes at Offset (Length 0: to the end). SizeMax,
	// when set, refuses a whole read (Offset and Length 0) of an object
	// larger than SizeMax with ErrTooLarge and the Size, before reading
	// any chunk: a caller that streams large objects learns in one call
	// whether it may read this one whole.
	//
	// Parts, when set, lets a read that spans several chunks reply
	// GetResult.Parts instead of Data: the verified chunks' slices, in
	// order, as the disk returned them, without copying them into one
	// buffer on the node's loop (a 1 MiB range touches 5 chunks of 256
	// KiB). A caller that writes the bytes out (the gateway's Range GET)
	// asks for it; a read within one chunk still replies Data.
	//
	// Into, when set, lends buffers to the local reads of the range's
	// chunks, the k-th to its k-th chunk (env.DiskOp.Into), which the
	// reply's bytes may share. The caller may reuse them once a reply
	// without error arrived (every read completed then); after an error
	// or without a reply a read may still be writing into one.
	Get struct {
		Addr           proto.Addr
		Offset, Length uint64
		SizeMax        uint64
		Parts          bool
		Into           [][]byte
	}
	// Has asks whether this node holds the object.
	Has struct{ Addr proto.Addr }
	// Delete unpins the object and removes this node's copy.
	Delete struct{ Addr proto.Addr }
)

// Replies, one per request kind.
type (
	// PutResult: Replicas counts the placement replicas that held the
	// object durably when the put was acknowledged.
	PutResult struct {
		Addr     proto.Addr
		Size     uint64
		Replicas int
		Err      error
	}
	// GetResult: Data is verified against the chunk addresses (and, for a
	// whole read, against Addr); Size is the object's size.
	//
	// Parts (only when Get.Parts was set and the read spans several
	// chunks) are the read's bytes in order, each verified like Data; Data
	// is then nil. Their concatenation is what Data would hold.
	GetResult struct {
		Data  []byte
		Parts [][]byte
		Size  uint64
		Err   error
	}
	HasResult struct {
		Local bool
		Err   error
	}
	DeleteResult struct{ Err error }
)

// Errors. Replies wrap one of them with detail; match with errors.Is.
var (
	// ErrNotFound: every replica asked said it does not hold the object.
	ErrNotFound = errors.New("storage: not found")
	// ErrCorruption: every copy found was corrupt. It wraps
	// env.ErrCorruption so callers can tell it from an I/O failure.
	ErrCorruption = fmt.Errorf("storage: corruption: %w", env.ErrCorruption)
	// ErrTooLarge: the object exceeds Config.ObjectBytes.
	ErrTooLarge = errors.New("storage: object too large")
	// ErrRange: the requested range is outside the object.
	ErrRange = errors.New("storage: range not satisfiable")
	// ErrUnavailable: the operation could not be carried out (overload,
	// recovering, no replica reachable). For a put it means definitely not
	// stored by this request.
	ErrUnavailable = errors.New("storage: unavailable")
	// ErrBusy is the ErrUnavailable of this node's own load (requests or
	// disk jobs in flight at their bounds): nothing was done, and a retry
	// soon may succeed. errors.Is(ErrBusy, ErrUnavailable) holds, so
	// callers that do not tell them apart see ErrUnavailable; the gateway
	// retries a started stream's reads on ErrBusy only (a holder that did
	// not answer is not a reason to hold a read slot for long).
	ErrBusy = fmt.Errorf("%w: busy", ErrUnavailable)
	// ErrUnknownOutcome: the put's deadline passed after some replica may
	// have stored it; it may or may not be durable.
	ErrUnknownOutcome = errors.New("storage: unknown outcome")
	// ErrBadRequest: the request body is not one of the request types.
	ErrBadRequest = errors.New("storage: bad request")
	// ErrKeptByNewerBuild: a pinned put of an object this node keeps
	// pinned with a manifest this build does not index (a newer build
	// wrote it, or LocalObjectsMax was reached at Start: keptPins) is
	// refused, for writing it would overwrite that manifest. Not
	// retryable: it lasts until a restart indexes the manifest (under the
	// build that wrote it, or with fewer objects) or a Delete of the
	// object here removes the pin. It wraps neither ErrUnavailable nor
	// ErrUnknownOutcome, which callers retry.
	ErrKeptByNewerBuild = errors.New("storage: pinned here with a manifest this build does not index (a newer build wrote it, or too many objects at start); a restart that indexes it or a Delete of the object clears it")
)
