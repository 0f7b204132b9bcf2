package oapgate

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// Head limits. A head travels in one START frame next to at most
// oap.CapBytesMax capability bytes, so HeadBytesMax leaves room for both.
const (
	// MethodBytesMax bounds the request method.
	MethodBytesMax = 16
	// TargetBytesMax bounds the request target (path and query).
	TargetBytesMax = 8 << 10
	// FieldsMax bounds the header fields of a head.
	FieldsMax = 64
	// FieldNameBytesMax bounds one field name.
	FieldNameBytesMax = 128
	// FieldValueBytesMax bounds one field value.
	FieldValueBytesMax = 8 << 10
	// HeadBytesMax bounds an encoded head (a START frame's payload).
	HeadBytesMax = 64 << 10
)

// ReasonBadHead is the reject label of a START frame whose payload is not
// a canonical head (oap_rejects_total{reason="bad_head"}). It is local to
// the client API: the frame itself is valid OAP/1, its payload is not.
const ReasonBadHead oap.Reason = "bad_head"

// ErrBadHead is wrapped by every head decoding error; oap.ReasonOf of such
// an error is ReasonBadHead.
var ErrBadHead = &oap.Error{Reason: ReasonBadHead}

func badHead(format string, args ...any) error {
	return &oap.Error{Reason: ReasonBadHead, Detail: fmt.Sprintf(format, args...)}
}

// Field is one header field. A head lists its fields sorted by Name, each
// Name in canonical MIME form (textproto.CanonicalMIMEHeaderKey), the
// values of a repeated name adjacent and in their original order.
type Field struct {
	Name, Value string
}

// RequestHead is the payload of a request's START frame: what an HTTP/1.1
// request line and header block say, in core/proto/wire's deterministic
// encoding (method, target, field count, then name and value of each).
// The Authorization field is never part of it: the token travels as the
// frame's capability bytes.
type RequestHead struct {
	Method string
	// Target is the origin form: an absolute path and an optional query.
	Target string
	Fields []Field
}

// ResponseHead is the payload of a response's START frame (the status is
// the frame's code): field count, then name and value of each.
type ResponseHead struct {
	Fields []Field
}

// AppendRequestHead validates h and appends its encoding to b.
func AppendRequestHead(b []byte, h RequestHead) ([]byte, error) {
	if err := h.validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = wire.AppendString(b, h.Method)
	b = wire.AppendString(b, h.Target)
	b = appendFields(b, h.Fields)
	if len(b)-start > HeadBytesMax {
		return b[:start], badHead("head of %d bytes exceeds %d", len(b)-start, HeadBytesMax)
	}
	return b, nil
}

// AppendResponseHead validates h and appends its encoding to b.
func AppendResponseHead(b []byte, h ResponseHead) ([]byte, error) {
	if err := checkFields(h.Fields); err != nil {
		return b, err
	}
	start := len(b)
	b = appendFields(b, h.Fields)
	if len(b)-start > HeadBytesMax {
		return b[:start], badHead("head of %d bytes exceeds %d", len(b)-start, HeadBytesMax)
	}
	return b, nil
}

func appendFields(b []byte, fields []Field) []byte {
	b = wire.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = wire.AppendString(b, f.Name)
		b = wire.AppendString(b, f.Value)
	}
	return b
}

// ParseRequestHead decodes a request head, accepting only the canonical
// encoding of a valid head, so that one head has exactly one encoding.
// Errors wrap ErrBadHead. The strings are copies: the head outlives the
// frame buffer it came from.
func ParseRequestHead(payload []byte) (RequestHead, error) {
	if len(payload) > HeadBytesMax {
		return RequestHead{}, badHead("head of %d bytes exceeds %d", len(payload), HeadBytesMax)
	}
	r := wire.NewReader(payload)
	h := RequestHead{Method: r.String(MethodBytesMax), Target: r.String(TargetBytesMax)}
	h.Fields = readFields(r)
	if err := r.Done(); err != nil {
		return RequestHead{}, badHead("%v", err)
	}
	if err := h.validate(); err != nil {
		return RequestHead{}, err
	}
	return h, nil
}

// ParseResponseHead decodes a response head, canonical form only.
func ParseResponseHead(payload []byte) (ResponseHead, error) {
	if len(payload) > HeadBytesMax {
		return ResponseHead{}, badHead("head of %d bytes exceeds %d", len(payload), HeadBytesMax)
	}
	r := wire.NewReader(payload)
	h := ResponseHead{Fields: readFields(r)}
	if err := r.Done(); err != nil {
		return ResponseHead{}, badHead("%v", err)
	}
	if err := checkFields(h.Fields); err != nil {
		return ResponseHead{}, err
	}
	return h, nil
}

func readFields(r *wire.Reader) []Field {
	n := r.Count(FieldsMax)
	if r.Err() != nil || n == 0 {
		return nil
	}
	fields := make([]Field, 0, n)
	for range n {
		f := Field{Name: r.String(FieldNameBytesMax), Value: r.String(FieldValueBytesMax)}
		if r.Err() != nil {
			return nil
		}
		fields = append(fields, f)
	}
	return fields
}

func (h RequestHead) validate() error {
	if h.Method == "" || len(h.Method) > MethodBytesMax || !isToken(h.Method) {
		return badHead("method %q is not an HTTP token of 1 to %d bytes", h.Method, MethodBytesMax)
	}
	if len(h.Target) > TargetBytesMax || !strings.HasPrefix(h.Target, "/") || strings.HasPrefix(h.Target, "//") {
		return badHead("target %q is not an absolute path of at most %d bytes", h.Target, TargetBytesMax)
	}
	for i := 0; i < len(h.Target); i++ {
		if c := h.Target[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return badHead("target byte %#02x at offset %d", c, i)
		}
	}
	return checkFields(h.Fields)
}

// checkFields enforces the canonical field list: at most FieldsMax,
// names canonical HTTP tokens in non-decreasing order, values without
// control characters (HTAB aside).
func checkFields(fields []Field) error {
	if len(fields) > FieldsMax {
		return badHead("%d fields exceed %d", len(fields), FieldsMax)
	}
	for i, f := range fields {
		switch {
		case f.Name == "" || len(f.Name) > FieldNameBytesMax || !isToken(f.Name):
			return badHead("field name %q is not an HTTP token of 1 to %d bytes", f.Name, FieldNameBytesMax)
		case textproto.CanonicalMIMEHeaderKey(f.Name) != f.Name:
			return badHead("field name %q is not in canonical form %q", f.Name, textproto.CanonicalMIMEHeaderKey(f.Name))
		case i > 0 && f.Name < fields[i-1].Name:
			return badHead("field %q after %q: fields must be sorted by name", f.Name, fields[i-1].Name)
		case len(f.Value) > FieldValueBytesMax:
			return badHead("value of %s is %d bytes, at most %d", f.Name, len(f.Value), FieldValueBytesMax)
		}
		for j := 0; j < len(f.Value); j++ {
			if c := f.Value[j]; (c < ' ' && c != '\t') || c == 0x7f {
				return badHead("value of %s has control byte %#02x at offset %d", f.Name, c, j)
			}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (tchar only).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// FieldsOf lists h as canonical fields: names canonicalised and sorted,
// values of a name in their order.
func FieldsOf(h http.Header) []Field {
	raw := make([]string, 0, len(h))
	for name := range h { // map order ok: sorted on the next line
		raw = append(raw, name)
	}
	slices.Sort(raw)
	var fields []Field
	for _, name := range raw {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		for _, v := range h[name] {
			fields = append(fields, Field{Name: canonical, Value: v})
		}
	}
	// Stable: two raw spellings of one name keep their sorted order.
	slices.SortStableFunc(fields, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return fields
}

// HeaderOf turns canonical fields back into an http.Header.
func HeaderOf(fields []Field) http.Header {
	h := make(http.Header, len(fields))
	for _, f := range fields {
		h[f.Name] = append(h[f.Name], f.Value)
	}
	return h
}
