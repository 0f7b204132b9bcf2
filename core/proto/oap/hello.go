package oap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// HELLO limits.
const (
	// HelloBytesMax bounds a HELLO payload; a real one is under 200 bytes.
	HelloBytesMax = 4 << 10
	// HelloFrameBytesMax is the longest frame a HELLO may be: a header and
	// its payload, no capability bytes. Readers of a HELLO pass it to
	// ReadFrameLimit, so a header declaring more is refused unread.
	HelloFrameBytesMax = HeaderBytes + HelloBytesMax
	// HelloUABytesMax bounds the user-agent string.
	HelloUABytesMax = 256
	// HelloVersionsMax bounds the versions list of a reply.
	HelloVersionsMax = 16
	// HelloInflightMax bounds the max_inflight a reply may advertise.
	HelloInflightMax = 1 << 16
	// HelloInflightDefault is the max_inflight this implementation offers.
	HelloInflightDefault = 64
)

// HelloRequest opens a session (app_proto_id 0, REQ). JSON: {"ua":"..."}.
type HelloRequest struct {
	UA string `json:"ua"`
}

// HelloReply answers a HelloRequest (app_proto_id 0, RESP, same corr_id).
// Versions is ascending without duplicates, so a reply has one encoding.
type HelloReply struct {
	MaxFrame       uint32   `json:"max_frame"`
	MaxInflight    uint32   `json:"max_inflight"`
	FlagsSupported uint16   `json:"flags_supported"`
	Versions       []uint16 `json:"versions"`
	UA             string   `json:"ua,omitempty"`
}

var (
	helloRequestKeys = []string{"ua"}
	helloReplyKeys   = []string{"max_frame", "max_inflight", "flags_supported", "versions", "ua"}
)

// LocalHelloReply is the reply this implementation sends: its own limits.
func LocalHelloReply(ua string) HelloReply {
	return HelloReply{
		MaxFrame:       FrameBytesMax,
		MaxInflight:    HelloInflightDefault,
		FlagsSupported: FlagsKnown,
		Versions:       []uint16{Version},
		UA:             ua,
	}
}

// Validate checks the request's fields (bad_hello).
func (req HelloRequest) Validate() error { return checkUA(req.UA, true) }

// Validate checks the reply's fields (bad_hello).
func (rep HelloReply) Validate() error {
	switch {
	case rep.MaxFrame < HeaderBytes || rep.MaxFrame > FrameBytesMax:
		return reject(ReasonBadHello, "max_frame %d outside [%d, %d]", rep.MaxFrame, HeaderBytes, FrameBytesMax)
	case rep.MaxInflight == 0 || rep.MaxInflight > HelloInflightMax:
		return reject(ReasonBadHello, "max_inflight %d outside [1, %d]", rep.MaxInflight, HelloInflightMax)
	case rep.FlagsSupported&^FlagsKnown != 0:
		return reject(ReasonBadHello, "flags_supported has unknown bits %#04x", rep.FlagsSupported&^FlagsKnown)
	case len(rep.Versions) == 0 || len(rep.Versions) > HelloVersionsMax:
		return reject(ReasonBadHello, "%d versions, want 1 to %d", len(rep.Versions), HelloVersionsMax)
	}
	for i, v := range rep.Versions {
		if v == 0 || (i > 0 && v <= rep.Versions[i-1]) {
			return reject(ReasonBadHello, "versions %v not ascending, distinct and non-zero", rep.Versions)
		}
	}
	return checkUA(rep.UA, false)
}

// Supports reports whether the reply lists version v.
func (rep HelloReply) Supports(v uint16) bool {
	_, found := slices.BinarySearch(rep.Versions, v)
	return found
}

func checkUA(ua string, required bool) error {
	if required && ua == "" {
		return reject(ReasonBadHello, "empty ua")
	}
	if len(ua) > HelloUABytesMax {
		return reject(ReasonBadHello, "ua of %d bytes exceeds %d", len(ua), HelloUABytesMax)
	}
	for i := 0; i < len(ua); i++ {
		if ua[i] < 0x20 || ua[i] > 0x7e {
			return reject(ReasonBadHello, "ua byte %#02x at offset %d is not printable ASCII", ua[i], i)
		}
	}
	return nil
}

// MarshalHelloRequest validates req and encodes it as JSON.
func MarshalHelloRequest(req HelloRequest) ([]byte, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return marshalHello(req)
}

// MarshalHelloReply validates rep and encodes it as JSON.
func MarshalHelloReply(rep HelloReply) ([]byte, error) {
	if err := rep.Validate(); err != nil {
		return nil, err
	}
	return marshalHello(rep)
}

func marshalHello(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		// Plain structs of strings and integers always marshal.
		panic(fmt.Sprintf("oap: marshal HELLO: %v", err))
	}
	return b, nil
}

// UnmarshalHelloRequest strictly decodes and validates a request payload.
func UnmarshalHelloRequest(payload []byte) (HelloRequest, error) {
	var req HelloRequest
	if err := unmarshalHello(payload, helloRequestKeys, &req); err != nil {
		return HelloRequest{}, err
	}
	return req, req.Validate()
}

// UnmarshalHelloReply strictly decodes and validates a reply payload.
func UnmarshalHelloReply(payload []byte) (HelloReply, error) {
	var rep HelloReply
	if err := unmarshalHello(payload, helloReplyKeys, &rep); err != nil {
		return HelloReply{}, err
	}
	return rep, rep.Validate()
}

func unmarshalHello(payload []byte, keys []string, v any) error {
	if len(payload) > HelloBytesMax {
		return reject(ReasonBadHello, "payload of %d bytes exceeds %d", len(payload), HelloBytesMax)
	}
	if err := checkHelloKeys(payload, keys); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return reject(ReasonBadHello, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return reject(ReasonBadHello, "data after the JSON object")
	}
	return nil
}

// checkHelloKeys requires a JSON object whose keys are all in allowed,
// spelled exactly, each at most once. encoding/json alone would match keys
// case-insensitively and let a repeated key silently win.
func checkHelloKeys(payload []byte, allowed []string) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return reject(ReasonBadHello, "payload is not a JSON object")
	}
	var seen []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return reject(ReasonBadHello, "%v", err)
		}
		key, _ := tok.(string)
		if !slices.Contains(allowed, key) {
			return reject(ReasonBadHello, "unknown key %q", key)
		}
		if slices.Contains(seen, key) {
			return reject(ReasonBadHello, "duplicate key %q", key)
		}
		seen = append(seen, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return reject(ReasonBadHello, "value of %q: %v", key, err)
		}
	}
	return nil
}

// HelloRequestFrame builds the REQ frame opening a session.
func HelloRequestFrame(tenantHi, tenantLo, corrID uint64, req HelloRequest) (Frame, error) {
	payload, err := MarshalHelloRequest(req)
	if err != nil {
		return Frame{}, err
	}
	return Frame{Header: Header{Flags: FlagREQ, AppProto: ProtoHello, TenantHi: tenantHi, TenantLo: tenantLo, CorrID: corrID}, Payload: payload}, nil
}

// HelloReplyFrame builds the RESP frame answering request frame reqFrame.
func HelloReplyFrame(reqFrame *Frame, rep HelloReply) (Frame, error) {
	payload, err := MarshalHelloReply(rep)
	if err != nil {
		return Frame{}, err
	}
	h := Header{Flags: FlagRESP, AppProto: ProtoHello, TenantHi: reqFrame.TenantHi, TenantLo: reqFrame.TenantLo, CorrID: reqFrame.CorrID}
	return Frame{Header: h, Payload: payload}, nil
}

// ParseHelloRequestFrame checks that f is a HELLO request and decodes it.
func ParseHelloRequestFrame(f *Frame) (HelloRequest, error) {
	if err := checkHelloFrame(f, FlagREQ); err != nil {
		return HelloRequest{}, err
	}
	return UnmarshalHelloRequest(f.Payload)
}

// ParseHelloReplyFrame checks that f is a HELLO reply and decodes it.
func ParseHelloReplyFrame(f *Frame) (HelloReply, error) {
	if err := checkHelloFrame(f, FlagRESP); err != nil {
		return HelloReply{}, err
	}
	return UnmarshalHelloReply(f.Payload)
}

// checkHelloFrame: HELLO precedes negotiation, so it may not be compressed
// or carry a capability, and must be exactly the expected direction.
func checkHelloFrame(f *Frame, direction uint16) error {
	switch {
	case f.AppProto != ProtoHello:
		return reject(ReasonBadHello, "app_proto_id %d, HELLO is %d", f.AppProto, ProtoHello)
	case f.Flags&(FlagREQ|FlagRESP) != direction:
		return reject(ReasonBadHello, "flags %#04x, want exactly one of REQ/RESP = %#04x", f.Flags, direction)
	case f.Flags&FlagCOMP != 0:
		return reject(ReasonBadHello, "compressed HELLO")
	case len(f.Cap) != 0:
		return reject(ReasonBadHello, "capability on HELLO")
	}
	return nil
}
