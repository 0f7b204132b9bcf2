#!/usr/bin/env bash
# scripts/real-upgrade-audit.sh OLD_ROND NEW_ROND WORKDIR: the audit log
# across a rollback (make real-upgrade runs it). A macronode on the new
# build started with its defaults (audit_object_writes off) serves PUTs,
# stops, is migrated down to format 1 by the new build and started on the
# old one: the old build must keep every record the new build wrote (no
# record discarded as a crash tail, the log not stopped) and append after
# them. With the setting turned on (--audit-object-writes, the opt-in)
# the same run is reported, not asserted: a build before the audit kind
# rule (6db240a) discards the object_write records (cmd/rond doc.go,
# "Audit and rollbacks").
set -euo pipefail
old=$1 new=$2 work=$3
pid=
cleanup() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# start BIN NAME ARGS...: starts BIN on $dir, waits for its banner's http
# address and for /readyz; sets pid and url.
start() {
	local bin=$1 name=$2
	shift 2
	# Created here: the background child opens its redirections after the
	# fork, so on a loaded machine the sed below may otherwise run first.
	: >"$dir.$name.out"
	: >"$dir.$name.err"
	"$bin" --data-dir "$dir" --http-addr 127.0.0.1:0 --quic-addr 127.0.0.1:0 --oap-addr off \
		--root-token-file "$dir.token" "$@" >"$dir.$name.out" 2>"$dir.$name.err" &
	pid=$!
	url=
	for _ in $(seq 1 300); do
		url=$(sed -n 's/^  http *\(http:[^ ]*\)$/\1/p' "$dir.$name.out" | head -1)
		if [ -n "$url" ] && curl -sf "$url/readyz" >/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "real-upgrade-audit: $bin did not become ready:" >&2
	cat "$dir.$name.err" >&2
	exit 1
}

stop() {
	kill -TERM "$pid"
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; pid=; return 0; }
		sleep 0.1
	done
	echo "real-upgrade-audit: rond did not stop" >&2
	exit 1
}

# export FILE: GET /audit with the current root token.
export_log() { curl -sf -H "Authorization: Bearer $(cat "$dir.token")" "$url/audit" >"$1"; }

# run LABEL ARGS...: the rollback with ARGS for the new build; prints
# "kept N of M" and leaves the exports beside the dir.
run() {
	local label=$1
	shift
	dir="$work/$label"
	rm -rf "$dir" "$dir".*
	start "$new" new "$@"
	for i in 1 2 3; do
		local code=
		for _ in $(seq 1 100); do
			code=$(echo "real-upgrade audit object $i" | curl -s -o /dev/null -w '%{http_code}' -X PUT \
				-H "Authorization: Bearer $(cat "$dir.token")" --data-binary @- "$url/o")
			[ "$code" = 201 ] && break
			sleep 0.1
		done
		[ "$code" = 201 ] || { echo "real-upgrade-audit: PUT $i: $code" >&2; exit 1; }
	done
	export_log "$dir.new.jsonl"
	stop
	"$new" migrate --data-dir "$dir" --to 1 >"$dir.migrate.out" 2>&1
	start "$old" old
	# The old build's recovery retries an undecodable record for about a
	# second before it discards or stops; its start-up records (a root
	# token issue, a policy) are appended after it. Wait for the first.
	local want=$(($(wc -l <"$dir.new.jsonl") + 1))
	for _ in $(seq 1 150); do
		export_log "$dir.old.jsonl" || true
		if [ "$(wc -l <"$dir.old.jsonl")" -ge "$want" ] || grep -q "audit: discarding\|audit: chain breaks" "$dir.old.err"; then
			break
		fi
		sleep 0.1
	done
	stop
	kept=0
	while IFS= read -r line; do
		grep -qxF "$line" "$dir.old.jsonl" && kept=$((kept + 1))
	done <"$dir.new.jsonl"
	total=$(wc -l <"$dir.new.jsonl")
}

run off
if [ "$kept" -ne "$total" ] || [ "$(wc -l <"$dir.old.jsonl")" -le "$total" ] ||
	grep -q "audit: discarding\|audit: chain breaks" "$dir.old.err" ||
	grep -q '"kind":"object_write"' "$dir.new.jsonl"; then
	echo "real-upgrade-audit: FAIL: with audit_object_writes off (the default; $(grep -c '"kind":"object_write"' "$dir.new.jsonl" || true) object_write records), the old build kept $kept of the $total audit records the new build wrote and holds $(wc -l <"$dir.old.jsonl") (want all, and its own appended after them)" >&2
	grep "audit" "$dir.old.err" | grep -v "msg=\"http" | tail -5 >&2 || true
	exit 1
fi
echo "real-upgrade-audit: audit_object_writes off (the default): the old build kept all $total records and appended after them ($(wc -l <"$dir.old.jsonl") in all)"
run on --audit-object-writes
echo "real-upgrade-audit: audit_object_writes on (opt-in): the old build kept $kept of $total records ($(grep -c '"kind":"object_write"' "$dir.new.jsonl") object_write; see cmd/rond doc.go, \"Audit and rollbacks\")"
