/*
 * namecas.pml: a name claim (compare-and-set) and an unconditional set,
 * sent by two client sessions (one claims then sets, one claims) through a follower that forwards to the
 * leader, retried on timeout, deduplicated by (origin, session, op) in the
 * replicated state machine, across a leader change that may drop or keep
 * the uncommitted tail of the log and lose forwards and replies.
 *
 * Safety (asserted):
 *   S1 no double apply: each (session, op) changes the state at most once;
 *   S2 no lost set: a client that gets a reply got the outcome of the one
 *      application of its op (an acknowledged op was applied, with that
 *      result; a retry never reports CONFLICT for its own earlier success).
 *
 * Broken variants (spin must reject them):
 *   -DNODEDUP      the state machine applies every committed entry;
 *   -DDEDUP_BY_OP  the dedup key forgets the session (op number only).
 *
 * One origin is modelled (the key's origin part is constant); sessions
 * stand for distinct (origin, session) pairs.
 */

#define SESSIONS 2
#define OPS      2        /* op 1: claim (CAS version 0), op 2: set */
#define RETRIES  1
#define LOGMAX   6
#define LEADER_CHANGES 1

#define NONE     0
#define OK       1
#define CONFLICT 2

#define KEY(s, o) ((s) * 4 + (o))
#define SESSION_OF(e) ((e) / 4)
#define OP_OF(e) ((e) % 4)

/* the replicated log; a prefix [0, commit) is committed and never lost */
byte log_entry[LOGMAX];
byte log_len = 0;
byte commit = 0;
byte applied_idx = 0;
byte term = 1;

/* the replicated state machine: the name and its version, and the dedup
   table: the last op applied per session and its result */
byte name_value = 0;
byte name_version = 0;
byte last_op[SESSIONS + 1];
byte last_result[SESSIONS + 1];

/* ghost state for the properties */
byte applied[KEY(SESSIONS, OPS) + 1];
byte outcome[KEY(SESSIONS, OPS) + 1];

chan to_follower = [2] of { byte };
chan to_leader = [2] of { byte };
chan replies[SESSIONS + 1] = [2] of { byte, byte };

inline apply_op(e, result) {
	if
	:: OP_OF(e) == 1 ->
		if
		:: name_version == 0 -> name_value = SESSION_OF(e); name_version++; result = OK
		:: else -> result = CONFLICT
		fi
	:: else ->
		name_value = SESSION_OF(e); name_version++; result = OK
	fi;
	if
	:: result == OK -> applied[e]++
	:: else -> skip
	fi;
	assert(applied[e] <= 1);                    /* S1 */
	if
	:: outcome[e] == NONE -> outcome[e] = result
	:: else -> skip
	fi
}

/* the applier: every node applies the committed prefix in order; the
   leader's copy answers the client (the answer may be lost). */
active proctype applier() {
	byte e, s, o, result, dk;
end:
	do
	:: atomic {
		applied_idx < commit ->
		e = log_entry[applied_idx];
		applied_idx++;
		s = SESSION_OF(e);
		o = OP_OF(e);
#ifdef DEDUP_BY_OP
		dk = 1;                                 /* BUG: one slot for every session */
#else
		dk = s;
#endif
#ifdef NODEDUP
		apply_op(e, result);                    /* BUG: no dedup */
		last_op[dk] = o; last_result[dk] = result;
#else
		if
		:: o > last_op[dk] ->
			apply_op(e, result);
			last_op[dk] = o; last_result[dk] = result
		:: o == last_op[dk] -> result = last_result[dk]  /* a retry: the cached result */
		:: o < last_op[dk] -> result = NONE               /* older than the session: no reply */
		fi;
#endif
		if
		:: result != NONE && nfull(replies[s]) -> replies[s]!o, result
		:: true -> skip                          /* reply lost */
		fi
	}
	od
}

/* a follower forwards what clients send it to the leader; a forward may be
   lost (the leader changed under it). */
active proctype follower() {
	byte e;
end:
	do
	:: to_follower?e ->
		if
		:: to_leader!e
		:: true -> skip
		fi
	od
}

/* the leader appends forwarded requests; replication commits a prefix. */
active proctype leader() {
	byte e;
end:
	do
	:: atomic { to_leader?e -> if :: log_len < LOGMAX -> log_entry[log_len] = e; log_len++ :: else -> skip fi }
	:: atomic { commit < log_len -> commit++ }
	od
}

/* a leader change: the new leader has or has not the uncommitted tail. */
active proctype election() {
	byte changes = 0;
	do
	:: atomic {
		changes < LEADER_CHANGES ->
		changes++;
		term++;
		if
		:: log_len = commit                      /* tail lost */
		:: skip                                  /* tail kept, committed later */
		fi
	}
	:: changes == LEADER_CHANGES -> break
	od
}

proctype client(byte s; byte ops) {
	byte o = 1, tries, ro, rr;
	do
	:: o <= ops ->
		tries = 0;
		to_follower!KEY(s, o);
		do
		:: replies[s]?ro, rr ->
			if
			:: ro == o ->
				assert(outcome[KEY(s, o)] != NONE && rr == outcome[KEY(s, o)]);  /* S2 */
				break
			:: else -> skip                      /* a stale reply */
			fi
		:: tries < RETRIES -> tries++; to_follower!KEY(s, o)   /* timeout: retry */
		:: tries == RETRIES -> goto done          /* gave up: the session ends */
		od;
		o++
	:: else -> break
	od;
done:
	skip
}

init {
	atomic {
		run client(1, OPS);                     /* claim, then set */
		run client(2, 1)                        /* a competing claim */
	}
}
