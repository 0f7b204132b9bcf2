package registry

import (
	"crypto/ed25519"

	"github.com/ron-network/ron/core/proto"
)

// Reject reasons (registry_rejects_total{reason}).
const (
	reasonInvalidName    = "invalid_name"
	reasonBadKey         = "bad_key"
	reasonBadSignature   = "bad_signature"
	reasonTooLarge       = "too_large"
	reasonUnknownRequest = "unknown_request"
	reasonOverload       = "overload"
	reasonMalformed      = "malformed"
	reasonNotMember      = "not_member"
	reasonCanaryIgnored  = "canary_ignored"
	reasonApplyInvalid   = "apply_invalid"
	// reasonDescribeNotSelf: a non-replica's Describe of another node
	// (onForward, onRequest): a member describes only itself.
	reasonDescribeNotSelf = "describe_not_self"
	// reasonDescriptorsFull: a Describe of a new node while the applied
	// state already holds DescriptorsMax, refused before it is proposed
	// (descriptorsFull).
	reasonDescriptorsFull = "descriptors_full"
	// reasonVersionAhead: an entry of a version the cluster has not
	// reached (prefixed with reasonApplyInvalid).
	reasonVersionAhead = "version_ahead"
)

// opFromRequest is checkRequest without a signature cache.
func opFromRequest(body any) (op, code, string) { return checkRequest(body, nil) }

// checkRequest converts a client request body into a validated,
// normalised op, verifying a Set's signature through sigs (nil: verify
// directly). On failure it returns the definite error code and the reject
// reason.
func checkRequest(body any, sigs *SignatureCache) (op, code, string) {
	return checkRequestSig(body, sigs, true)
}

// checkRequestSig is checkRequest; verify false skips a Set's signature
// (Bug.TrustForwarded only).
func checkRequestSig(body any, sigs *SignatureCache, verify bool) (op, code, string) {
	var o op
	switch b := body.(type) {
	case Claim:
		o = op{kind: opClaim, name: b.Name, tenant: TenantDigest(b.Tenant), quota: b.Quota}
		// A small-order owner key would let anyone sign the name's Sets
		// (proto.CheckPublicKey). Checked at ingress only, where the key
		// is first accepted: a Set needs a claimed owner, and an entry
		// already in a log applies as it always did.
		if len(b.Owner) != ed25519.PublicKeySize || proto.CheckPublicKey(b.Owner) != nil {
			return o, codeBadSignature, reasonBadKey
		}
		copy(o.owner[:], b.Owner)
	case Set:
		o = op{kind: opSet, name: b.Name, target: b.Target, seq: b.Seq}
		if len(b.Owner) != ed25519.PublicKeySize {
			return o, codeBadSignature, reasonBadKey
		}
		if len(b.Sig) != ed25519.SignatureSize {
			return o, codeBadSignature, reasonBadSignature
		}
		copy(o.owner[:], b.Owner)
		copy(o.sig[:], b.Sig)
		// A Set applies only under its name's owner key, so a weak key
		// here is a weak owner: a name claimed with one before claims
		// checked it, whose Sets anyone can forge (no honest owner holds
		// such a key). Refused at ingress only, like the claim.
		if !ingressKeyOK(&o) {
			return o, codeBadSignature, reasonBadKey
		}
	case Resolve:
		o = op{kind: opResolve, name: b.Name}
	case StaleResolve:
		o = op{kind: opStaleResolve, name: b.Name}
	case Revoke:
		o = op{kind: opRevoke, token: b.ID, until: b.Until}
		if len(b.Admin) != ed25519.PublicKeySize {
			return o, codeNotAdmin, reasonBadKey
		}
		if len(b.Sig) != ed25519.SignatureSize {
			return o, codeBadSignature, reasonBadSignature
		}
		copy(o.owner[:], b.Admin)
		copy(o.sig[:], b.Sig)
	case Describe:
		d := b.Descriptor
		if len(d.PublicKey) != ed25519.PublicKeySize {
			return o, codeBadSignature, reasonBadKey
		}
		if len(d.Sig) != ed25519.SignatureSize {
			return o, codeBadSignature, reasonBadSignature
		}
		o = op{kind: opDescribe, desc: descriptor{node: d.NodeID, addrs: d.Addrs, seq: d.Seq}}
		copy(o.desc.pub[:], d.PublicKey)
		copy(o.desc.sig[:], d.Sig)
		// A small-order node key would let anyone sign descriptors (the
		// node's addresses) for its id. Refused at ingress only, like an
		// owner key: validateDescriptor, which apply runs again, does not
		// look, so a descriptor already in a log applies as it always did.
		if !ingressKeyOK(&o) {
			return o, codeBadSignature, reasonBadKey
		}
	default:
		return o, codeUnknownRequest, reasonUnknownRequest
	}
	if o.kind != opDescribe && o.kind != opRevoke {
		name, err := NormalizeName(o.name)
		if err != nil {
			return o, codeInvalidName, reasonInvalidName
		}
		o.name = name
	}
	if c, reason := validateOp(&o); c != codeOK {
		return o, c, reason
	}
	if o.kind == opSet && verify && !sigs.setOK(&o) {
		return o, codeBadSignature, reasonBadSignature
	}
	if o.kind == opDescribe {
		o.desc.addrs = append([]string(nil), o.desc.addrs...) // own the slice
	}
	return o, codeOK, ""
}

// ingressKeyOK reports whether the key an op is verified under is not
// weak (proto.CheckPublicKey): a Claim's or a Set's owner key, a
// Describe's node key. A Revoke's admin key must be one of
// Config.AdminKeys, checked when the node starts (core/stack's Validate,
// rond's admin_keys); other ops have none. An ingress check (checkRequest,
// onForward from a non-replica), never one at apply: an entry already in a
// log applies as it always did, on every replica and after a restart.
func ingressKeyOK(o *op) bool {
	switch o.kind {
	case opClaim, opSet:
		return proto.CheckPublicKey(o.owner[:]) == nil
	case opDescribe:
		return proto.CheckPublicKey(o.desc.pub[:]) == nil
	}
	return true
}

// validateOp checks everything about an op that does not depend on the
// replicated state, except a Set's signature (checkRequest, onForward).
// Proposers run it before proposing and every replica runs it again at
// apply time, so a bad entry that reaches the log is rejected by all
// replicas alike.
func validateOp(o *op) (code, string) {
	switch o.kind {
	case opDescribe:
		return validateDescriptor(&o.desc)
	case opRevoke:
		return codeOK, "" // the admin key and signature: checkRevoke, with the config
	}
	if n, err := NormalizeName(o.name); err != nil || n != o.name {
		return codeInvalidName, reasonInvalidName
	}
	return codeOK, ""
}

// setSignatureOK verifies a Set's signature. The replica that proposes a
// Set checks it, once (doc.go, "Signatures"); apply does not.
func setSignatureOK(o *op) bool {
	msg := SetSigningBytes(o.name, o.target, o.seq)
	return ed25519.Verify(ed25519.PublicKey(o.owner[:]), msg, o.sig[:])
}

func validateDescriptor(d *descriptor) (code, string) {
	if len(d.addrs) > DescriptorAddrsMax {
		return codeTooLarge, reasonTooLarge
	}
	for _, a := range d.addrs {
		if len(a) == 0 || len(a) > DescriptorAddrBytesMax {
			return codeTooLarge, reasonTooLarge
		}
	}
	// A copy: blake3 keeps its input on the heap, and hashing d.pub itself
	// would move every op validateOp sees there (one per applied entry).
	pub := d.pub
	if proto.NodeIDFromPublicKey(pub[:]) != d.node {
		return codeBadSignature, reasonBadKey
	}
	msg := DescriptorSigningBytes(d.public())
	if !ed25519.Verify(ed25519.PublicKey(d.pub[:]), msg, d.sig[:]) {
		return codeBadSignature, reasonBadSignature
	}
	return codeOK, ""
}
