package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/ron-network/ron/core/audit"
	"github.com/ron-network/ron/io/gateway"
)

// auditLineBytesMax bounds one JSON line of an audit export: a record's
// text fields at their limits, hex-encoded hashes and JSON escaping.
const auditLineBytesMax = 64 << 10

// errChainBroken is returned (exit 1) when verification fails.
var errChainBroken = errors.New("audit chain broken")

// auditUsage names the audit subcommands.
const auditUsage = "usage: ronctl audit verify|list [--node URL | --file FILE [--base SEQ:HASH]]"

// auditCmd runs audit verify (check the chain, print a summary) and audit
// list (check the chain, then print every record: one readable line
// each, or with --json the records as GET /audit streams them, which
// audit verify --file reads back). A listing is printed only once its
// chain verified: records that are not vouched for are never shown as
// the log.
func (c *client) auditCmd(args []string) error {
	if len(args) != 1 || args[0] != "verify" && args[0] != "list" {
		return usageError{auditUsage}
	}
	var lines io.Reader
	var head audit.Head
	var base audit.Head
	var cut string
	source := c.tok.file
	if c.tok.auditBase != "" && source == "" {
		return usageError{"--base goes with --file: a node (--node) sends its own base (X-Ron-Audit-Base)"}
	}
	if source != "" {
		if c.tok.auditBase != "" {
			b, err := gateway.ParseAuditHead(c.tok.auditBase)
			if err != nil {
				return usageError{"--base: " + err.Error()}
			}
			base = b
		}
		f, err := os.Open(source)
		if err != nil {
			return err
		}
		defer f.Close()
		lines = f
	} else {
		source = c.node + "/audit"
		body, h, b, why, err := c.fetchAudit()
		if err != nil {
			return err
		}
		lines, head, base, cut = bytes.NewReader(body), h, b, why
	}
	records, err := c.verifyAudit(source, lines, head, base, cut)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return c.listAudit(records, base)
	}
	return c.auditSummary(records, base)
}

// listAudit prints verified records, oldest first, and the summary.
func (c *client) listAudit(records []audit.Record, base audit.Head) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		for _, r := range records {
			if err := enc.Encode(gateway.AuditRecordOf(r)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range records {
		fmt.Fprintln(c.stdout, auditLine(r))
	}
	return c.auditSummary(records, base)
}

// auditLine is one record as a line: seq, time (UTC), kind, subject,
// actor, tenant when set, and the detail.
func auditLine(r audit.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", r.Seq, time.Unix(0, int64(r.Time)).UTC().Format("2006-01-02T15:04:05.000Z"), r.Kind)
	if r.Subject != "" {
		fmt.Fprintf(&b, " %s", r.Subject)
	}
	fmt.Fprintf(&b, " (actor %s", r.Actor)
	if r.Tenant != "" {
		fmt.Fprintf(&b, ", tenant %s", r.Tenant)
	}
	b.WriteString(")")
	if r.Detail != "" {
		b.WriteString(": " + r.Detail)
	}
	return strings.Map(printable, b.String())
}

// printable keeps characters a record's text may hold (the fields are
// free text) from changing what the terminal shows: control characters
// (which move the cursor or start escape sequences), format characters
// (Unicode Cf: bidirectional overrides and isolates such as U+202E and
// U+2066..U+2069, which reorder the rest of the line, and zero-width
// ones such as U+200B, which hide a difference between two subjects) and
// the line and paragraph separators U+2028 and U+2029 (Zl, Zp) become '?'.
func printable(r rune) rune {
	if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
		return '?'
	}
	return r
}

// auditSummary prints how many records verified and the head (and the
// base, when retention dropped records).
func (c *client) auditSummary(records []audit.Record, base audit.Head) error {
	last := audit.HeadOf(records)
	if len(records) == 0 {
		last = base
	}
	if c.json {
		return json.NewEncoder(c.stdout).Encode(map[string]any{"ok": true, "records": len(records), "head": gateway.FormatAuditHead(last),
			"base": gateway.FormatAuditHead(base)})
	}
	fmt.Fprintf(c.stdout, "audit: %d records verified; head %s\n", len(records), gateway.FormatAuditHead(last))
	if base.Seq > 0 {
		fmt.Fprintf(c.stdout, "audit: seqs 1..%d were dropped by retention; verified from their head %s\n", base.Seq, gateway.FormatAuditHead(base))
	}
	return nil
}

// fetchAudit reads GET /audit, its head header, its base header (the
// zero base when the node sends none: it predates retention) and why the
// node cut the stream short, if it did (gateway.AuditCutTrailer).
func (c *client) fetchAudit() (body []byte, head, base audit.Head, cut string, err error) {
	body, head, baseText, cut, err := c.fetchAuditHeaders()
	if err != nil || baseText == "" {
		return body, head, base, cut, err
	}
	base, err = gateway.ParseAuditHead(baseText)
	return body, head, base, cut, err
}

func (c *client) fetchAuditHeaders() ([]byte, audit.Head, string, string, error) {
	req, err := http.NewRequest("GET", c.node+"/audit", nil)
	if err != nil {
		return nil, audit.Head{}, "", "", usageError{err.Error()}
	}
	if c.token == "" {
		return nil, audit.Head{}, "", "", usageError{"reading the audit log needs an admin token: pass --token or set RON_TOKEN"}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, audit.Head{}, "", "", fmt.Errorf("cannot reach %s: %v", c.node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, audit.Head{}, "", "", fmt.Errorf("reading the audit log: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var env gateway.Envelope
		if json.Unmarshal(body, &env) == nil && env.Code != "" {
			return nil, audit.Head{}, "", "", fmt.Errorf("GET /audit: %d %s: %s", resp.StatusCode, env.Code, env.Message)
		}
		return nil, audit.Head{}, "", "", fmt.Errorf("GET /audit: HTTP %d", resp.StatusCode)
	}
	head, err := gateway.ParseAuditHead(resp.Header.Get(gateway.AuditHeadHeader))
	return body, head, resp.Header.Get(gateway.AuditBaseHeader), resp.Trailer.Get(gateway.AuditCutTrailer), err
}

// verifyAudit parses JSON lines and verifies the chain (and the head,
// when known). The first bad record is the earliest that is not vouched
// for: a line that does not parse, a line whose stated hash is not its
// record's, or the record audit.VerifyHeadFrom names. base is the head of
// the records the node's retention dropped (X-Ron-Audit-Base, or --base
// for a file; zero: the log must start at seq 1). A file is never taken
// at its first record's word: one missing its first records fails unless
// --base names what retention dropped.
//
// cut is why the node ended the stream short of head (the trailer; "" for
// a file): a stream retention cut while it was read is reported as such,
// not as missing records.
func (c *client) verifyAudit(source string, lines io.Reader, head audit.Head, base audit.Head, cut string) ([]audit.Record, error) {
	var records []audit.Record
	var lineOf []int // lineOf[i] is the line of records[i]
	sc := bufio.NewScanner(lines)
	sc.Buffer(make([]byte, 0, 4096), auditLineBytesMax)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rec, err := parseAuditLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d (record %d): %v", errChainBroken, source, n, len(records)+1, err)
		}
		records = append(records, rec)
		lineOf = append(lineOf, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errChainBroken, source, err)
	}
	if err := checkAuditSeqs(source, records, lineOf, base.Seq); err != nil {
		return nil, err
	}
	if bad, err := audit.VerifyHeadFrom(base, records, head); err != nil {
		if bad >= len(records) { // cut short of the saved head
			end := base.Seq + uint64(len(records))
			if b, ok := strings.CutPrefix(cut, "retention "); ok {
				return nil, fmt.Errorf("%w: %s was cut by retention after seq %d: the node dropped records the stream had not reached (its base moved to %s); "+
					"the %d records read verify; run again to read the rest", errChainBroken, source, end, b, len(records))
			}
			return nil, fmt.Errorf("%w: first bad record is seq %d (missing: %s ends at seq %d): %v", errChainBroken,
				end+1, source, end, err)
		}
		if errors.Is(err, audit.ErrRetained) || len(records) == 0 {
			return nil, fmt.Errorf("%w: %s: %v", errChainBroken, source, err)
		}
		return nil, fmt.Errorf("%w: first bad record is seq %d (line %d of %s): %v", errChainBroken, records[bad].Seq, lineOf[bad], source, err)
	}
	// A base must be one the node's retention wrote: a segment's end,
	// named by a retention record chained after it. Anything else is a
	// prefix cut by someone with the disk (the base is only CRC-sealed).
	if err := audit.VerifyBaseWitnessed(base, records); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errChainBroken, source, err)
	}
	return records, nil
}

// checkAuditSeqs names the first record out of sequence: after a deletion
// that is the missing one (seq N, between the lines that hold N-1 and
// N+1), not its neighbour; after a duplicate or a reordering, the line
// that repeats or goes back.
func checkAuditSeqs(source string, records []audit.Record, lineOf []int, base uint64) error {
	prev := base
	for i, r := range records {
		switch {
		case r.Seq > prev+1:
			where := fmt.Sprintf("line %d of %s holds seq %d", lineOf[i], source, r.Seq)
			if i > 0 {
				where += fmt.Sprintf(" right after seq %d on line %d", prev, lineOf[i-1])
			} else {
				where += " first"
			}
			missing := fmt.Sprintf("seq %d", prev+1)
			if r.Seq > prev+2 {
				missing = fmt.Sprintf("seqs %d to %d", prev+1, r.Seq-1)
			}
			return fmt.Errorf("%w: first bad record is seq %d: %s missing (%s)", errChainBroken, prev+1, missing, where)
		case r.Seq <= prev:
			return fmt.Errorf("%w: first bad record is seq %d (line %d of %s): it follows seq %d (duplicated or out of order)",
				errChainBroken, r.Seq, lineOf[i], source, prev)
		}
		prev = r.Seq
	}
	return nil
}

func parseAuditLine(line []byte) (audit.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var a gateway.AuditRecord
	if err := dec.Decode(&a); err != nil {
		return audit.Record{}, err
	}
	rec, err := a.Record()
	if err != nil {
		return audit.Record{}, err
	}
	if h := gateway.AuditRecordOf(rec).Hash; a.Hash != "" && a.Hash != h {
		return audit.Record{}, fmt.Errorf("seq %d: stated hash %s is not the record's hash %s", a.Seq, a.Hash, h)
	}
	return rec, nil
}
