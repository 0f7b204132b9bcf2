package env

import (
	"errors"
	"fmt"
)

// DiskOpKind is the kind of an asynchronous disk operation.
type DiskOpKind uint8

const (
	// DiskGet reads Key. Result.Found and Result.Value.
	DiskGet DiskOpKind = iota + 1
	// DiskPut writes Key=Value (visible at completion, durable after Sync).
	DiskPut
	// DiskDelete removes Key (deleting a missing key succeeds).
	DiskDelete
	// DiskBatch applies Batch atomically: all of it or none of it, also
	// across a crash.
	DiskBatch
	// DiskSync makes every write completed before it durable.
	DiskSync
	// DiskScan returns up to Limit pairs whose keys start with Prefix, in
	// ascending key order, starting at the first key >= Start (if set).
	// With KeysOnly set it returns the same keys with nil values and
	// need not read the values at all (see DiskOp.KeysOnly).
	DiskScan
)

var diskOpNames = [...]string{"", "get", "put", "delete", "batch", "sync", "scan"}

func (k DiskOpKind) String() string {
	if int(k) < len(diskOpNames) && k != 0 {
		return diskOpNames[k]
	}
	return fmt.Sprintf("DiskOpKind(%d)", uint8(k))
}

// Disk limits every implementation enforces.
const (
	// DiskKeyBytesMax bounds a key.
	DiskKeyBytesMax = 1 << 10
	// DiskValueBytesMax bounds a value (a 1 MiB chunk plus its seal).
	DiskValueBytesMax = 1<<20 + 1<<10
	// DiskBatchWritesMax bounds the writes in one batch.
	DiskBatchWritesMax = 4096
	// DiskScanLimitMax bounds the pairs one scan may return.
	DiskScanLimitMax = 4096
)

// DiskWrite is one write in a batch: a put, or a delete when Delete is set.
type DiskWrite struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// DiskOp is an asynchronous disk operation. The disk takes ownership of the
// byte slices it is given.
type DiskOp struct {
	Kind   DiskOpKind
	Tag    uint64 // echoed back in DiskDone; the node uses it for routing
	Key    []byte
	Value  []byte
	Batch  []DiskWrite
	Prefix []byte
	Start  []byte
	Limit  int
	// KeysOnly makes a DiskScan return keys without their values: every
	// KV.Value of the result is nil, the keys, order, Limit and More are
	// those of the same scan without the flag. An implementation should
	// not read the values (a scan over large values then costs what its
	// keys cost); a keys-only scan cannot report a value's corruption.
	// Set on any other kind, the op is invalid. It exists so that a
	// machine can find unreferenced keys (storage's orphan sweep) without
	// reading every byte on disk.
	KeysOnly bool
	// Check, set on a DiskGet, is a pure check of the value read (a
	// storage chunk's hash against its key). The disk runs it on the value
	// it found, on whatever goroutine read it, so a check costs the node's
	// loop nothing and several can run at once (io/pebbledisk runs
	// consecutive reads in parallel). A value that fails it is not
	// returned: the result has Err wrapping ErrCorruption and no Value,
	// like any corrupt read. A missing key or a failed read is not
	// checked. The disk sets DiskResult.Checked when it ran the check; a
	// caller must verify a result whose Checked is false itself (a disk
	// that ignores Check loses speed, never a verification). Check must
	// not touch state shared with the caller; on any other kind it is
	// ignored. Disks apply it with RunCheck.
	Check func(value []byte) error
	// Into, set on a DiskGet, is a buffer the disk may read the value into
	// when its capacity holds it: the result's Value then shares its
	// array, so a caller that reuses buffers (io/gateway's streamed GETs)
	// gets no fresh allocation per read. A disk may ignore it. The caller
	// must not touch the buffer until the op completed, nor reuse it while
	// it holds the Value. Ignored on any other kind.
	Into []byte
	// Offset and Length, set on a DiskGet, read only the Length bytes of
	// the value from byte Offset (Length 0: the whole value, and Offset
	// must be 0). Result.Value is then that part, Check runs on the part
	// (so it must check what the part holds: storage checks the groups
	// of a chunk against their cached CVs), and a part that does not lie
	// within the value found fails with an error wrapping ErrDiskInvalid
	// (the key was found). A disk that stores values with a checksum of
	// the whole value cannot check it on a part: see io/pebbledisk for
	// what replaces it. Set on any other kind, the op is invalid.
	Offset, Length uint64
}

// Part returns the part of value op reads (DiskOp.Offset, Length), or an
// error wrapping ErrDiskInvalid when it does not lie within value. Disks
// that hold the whole value in memory use it.
func (op *DiskOp) Part(value []byte) ([]byte, error) {
	if op.Length == 0 {
		return value, nil
	}
	if op.Offset > uint64(len(value)) || op.Length > uint64(len(value))-op.Offset {
		return nil, fmt.Errorf("%w: part %d+%d of a value of %d bytes", ErrDiskInvalid, op.Offset, op.Length, len(value))
	}
	return value[op.Offset : op.Offset+op.Length], nil
}

// KV is one pair returned by a scan. The receiver owns the slices.
type KV struct {
	Key   []byte
	Value []byte
}

// DiskResult is the outcome of a DiskOp. Err is nil or wraps one of the
// sentinel errors below.
type DiskResult struct {
	Found bool   // DiskGet: the key exists
	Value []byte // DiskGet: its value (receiver owns it)
	Pairs []KV   // DiskScan: the pairs, ascending (values nil if KeysOnly)
	More  bool   // DiskScan: Limit cut the result short
	// Checked: the op's Check ran on Value and passed (see DiskOp.Check).
	Checked bool
	Err     error
}

// RunCheck applies op's Check to the result of its read: a found value
// that fails it becomes an error wrapping ErrCorruption (and is dropped),
// one that passes is marked Checked. Results of other kinds, of reads
// that failed or found nothing, and of ops without a Check are returned
// as they are. Every disk calls it on its DiskGet results.
func RunCheck(op *DiskOp, res DiskResult) DiskResult {
	if op.Check == nil || op.Kind != DiskGet || res.Err != nil || !res.Found {
		return res
	}
	if err := op.Check(res.Value); err != nil {
		if !errors.Is(err, ErrCorruption) {
			err = fmt.Errorf("%w: %w", ErrCorruption, err)
		}
		return DiskResult{Err: err}
	}
	res.Checked = true
	return res
}

// Disk errors. Corruption is a class of its own, distinct from an I/O error,
// so callers can treat it differently (refetch from a replica, never serve).
var (
	ErrDiskIO      = errors.New("env: disk I/O error")
	ErrDiskFull    = errors.New("env: disk full")
	ErrCorruption  = errors.New("env: corruption")
	ErrDiskInvalid = errors.New("env: invalid disk operation")
	// ErrNewerFormat: a record carries a version newer than this build
	// reads. It was written by a newer build: refuse it by name, never
	// treat it as corruption (which would delete or replace it).
	ErrNewerFormat = errors.New("env: record of a newer format")
)

// Validate checks op against the disk limits. Implementations call it and
// complete an invalid op with an error wrapping ErrDiskInvalid.
func (op *DiskOp) Validate() error {
	if op.KeysOnly && op.Kind != DiskScan {
		return fmt.Errorf("%w: KeysOnly on a %s", ErrDiskInvalid, op.Kind)
	}
	if (op.Offset != 0 || op.Length != 0) && op.Kind != DiskGet {
		return fmt.Errorf("%w: a part (offset %d, length %d) on a %s", ErrDiskInvalid, op.Offset, op.Length, op.Kind)
	}
	switch op.Kind {
	case DiskGet:
		if op.Length == 0 && op.Offset != 0 {
			return fmt.Errorf("%w: get at offset %d of length 0", ErrDiskInvalid, op.Offset)
		}
		if op.Length > DiskValueBytesMax || op.Offset > DiskValueBytesMax-op.Length {
			return fmt.Errorf("%w: part %d+%d beyond the largest value (%d bytes)", ErrDiskInvalid, op.Offset, op.Length, DiskValueBytesMax)
		}
		return checkKey(op.Key)
	case DiskDelete:
		return checkKey(op.Key)
	case DiskPut:
		if err := checkKey(op.Key); err != nil {
			return err
		}
		return checkValue(op.Value)
	case DiskBatch:
		if len(op.Batch) > DiskBatchWritesMax {
			return fmt.Errorf("%w: batch of %d writes exceeds %d", ErrDiskInvalid, len(op.Batch), DiskBatchWritesMax)
		}
		for i := range op.Batch {
			if err := checkKey(op.Batch[i].Key); err != nil {
				return fmt.Errorf("batch write %d: %w", i, err)
			}
			if err := checkValue(op.Batch[i].Value); err != nil {
				return fmt.Errorf("batch write %d: %w", i, err)
			}
		}
		return nil
	case DiskSync:
		return nil
	case DiskScan:
		if op.Limit <= 0 || op.Limit > DiskScanLimitMax {
			return fmt.Errorf("%w: scan limit %d outside 1..%d", ErrDiskInvalid, op.Limit, DiskScanLimitMax)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind %d", ErrDiskInvalid, op.Kind)
}

func checkKey(k []byte) error {
	if len(k) == 0 || len(k) > DiskKeyBytesMax {
		return fmt.Errorf("%w: key of %d bytes outside 1..%d", ErrDiskInvalid, len(k), DiskKeyBytesMax)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > DiskValueBytesMax {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrDiskInvalid, len(v), DiskValueBytesMax)
	}
	return nil
}
