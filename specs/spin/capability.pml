/*
 * capability.pml: capability tokens attenuated by their holders, a
 * revocation propagating to the verifiers with a bounded delay, expiry
 * checked against skewed local clocks with an allowance.
 *
 * Token 0 is the root, issued with every right and an expiry; a holder of
 * token k may mint token k+1 with any rights and any expiry it likes (a
 * holder is not trusted to attenuate honestly: the verifier must intersect
 * along the chain, parent(k) = k-1). The issuer may revoke one token at any
 * time; each of the VERIFIERS applies the revocation within
 * PROPAGATION_MAX ticks (time cannot pass that bound until every verifier
 * has applied it). Verifier v reads its clock as now + skew[v],
 * |skew| <= SKEW_MAX, and accepts a token until its local time exceeds the
 * token's expiry by ALLOWANCE. One revocation suffices: revocations are
 * independent of each other, and the model keeps the state count small.
 *
 * Safety (asserted on every accept, at true time now, for every token t'
 * of the presented chain):
 *   C1 attenuation: the right used is granted by t';
 *   C2 expiry: now <= expiry(t') + ALLOWANCE + SKEW_MAX;
 *   C3 revocation applied: t' is not revoked at this verifier;
 *   C4 revocation bound: t' was not revoked at or before
 *      now - PROPAGATION_MAX (applied everywhere, the allowance passed).
 *
 * Broken variant (spin must reject it):
 *   -DLEAF_ONLY  the verifier checks the presented token alone, not its chain.
 */

#define TOKENS          3
#define VERIFIERS       2
#define TIME_MAX        4
#define SKEW_MAX        1
#define ALLOWANCE       1
#define PROPAGATION_MAX 2
#define RIGHTS_ALL      3     /* two rights: bit 0 read, bit 1 write */
#define NONE            255

byte now = 0;
byte minted = 1;                /* tokens 0..minted-1 exist */
byte rights[TOKENS];
byte expiry[TOKENS];
byte revoked = NONE;            /* the revoked token, or NONE */
byte revoked_at = 0;            /* the true time of the revocation */
bool applied[VERIFIERS];        /* verifier v has applied the revocation */
short skew[VERIFIERS];

/* verify: token t, right r, at verifier v; accept is the verdict. */
inline verify(v, t, r, accept) {
	accept = true;
#ifdef LEAF_ONLY
	k = t;                          /* BUG: the chain above t is not checked */
#else
	k = 0;
#endif
	do
	:: k <= t ->
		if
		:: (rights[k] & r) != r -> accept = false
		:: now + skew[v] > expiry[k] + ALLOWANCE -> accept = false
		:: revoked == k && applied[v] -> accept = false
		:: else -> skip
		fi;
		k++
	:: else -> break
	od
}

inline check_accept(v, t, r) {
	k = 0;
	do
	:: k <= t ->
		assert((rights[k] & r) == r);                                   /* C1 */
		assert(now <= expiry[k] + ALLOWANCE + SKEW_MAX);                /* C2 */
		assert(!(revoked == k && applied[v]));                          /* C3 */
		assert(!(revoked == k && now >= revoked_at + PROPAGATION_MAX)); /* C4 */
		k++
	:: else -> break
	od
}

/* locals carry nothing between steps: reset them so that equal global
   states are equal model states. */
inline reset_locals() {
	k = 0; t = 0; r = 0; v = 0; accept = false
}

active proctype world() {
	byte k, t, r, v;
	bool accept;
	if :: skew[0] = -SKEW_MAX :: skew[0] = SKEW_MAX fi;
	if :: skew[1] = -SKEW_MAX :: skew[1] = 0 :: skew[1] = SKEW_MAX fi;
	rights[0] = RIGHTS_ALL;
	if :: expiry[0] = 2 :: expiry[0] = 3 fi;
end:
	do
	/* a holder attenuates (or tries to widen) the newest token */
	:: atomic {
		minted < TOKENS ->
		if :: rights[minted] = 1 :: rights[minted] = 2 :: rights[minted] = RIGHTS_ALL fi;
		if :: expiry[minted] = now + 1 :: expiry[minted] = TIME_MAX fi;
		minted++
	}
	/* the issuer revokes a token */
	:: atomic {
		revoked == NONE ->
		if :: t = 0 :: t = 1 :: t = 2 fi;
		if :: t < minted -> revoked = t; revoked_at = now :: else -> skip fi;
		reset_locals()
	}
	/* a verifier applies the revocation */
	:: atomic { revoked != NONE && !applied[0] -> applied[0] = true }
	:: atomic { revoked != NONE && !applied[1] -> applied[1] = true }
	/* time passes, unless the revocation is due somewhere */
	:: atomic {
		now < TIME_MAX &&
		(revoked == NONE || now + 1 < revoked_at + PROPAGATION_MAX || (applied[0] && applied[1])) ->
		now++
	}
	/* a request with token t and right r reaches verifier v */
	:: atomic {
		if :: t = 0 :: t = 1 :: t = 2 fi;
		if :: r = 1 :: r = 2 fi;
		if :: v = 0 :: v = 1 fi;
		if
		:: t < minted ->
			verify(v, t, r, accept);
			if :: accept -> check_accept(v, t, r) :: else -> skip fi
		:: else -> skip
		fi;
		reset_locals()
	}
	od
}
