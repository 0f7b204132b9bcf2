package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAuditObjectWritesSetting: off when unset (opt in once no rollback
// to a build before audit kind tolerance is planned), then file < env <
// flag; a value that is not a boolean is refused with exit 2 naming the
// setting.
func TestAuditObjectWritesSetting(t *testing.T) {
	// rond config schema: no default (false, like cluster_name_quota),
	// and the description says so.
	prop := configSchema()["properties"].(map[string]any)["audit_object_writes"].(map[string]any)
	if d, ok := prop["default"]; ok && d != false {
		t.Errorf("schema default audit_object_writes %v, want false or none", d)
	}
	if desc, _ := prop["description"].(string); !strings.Contains(desc, "Default false") {
		t.Errorf("schema description of audit_object_writes %q does not say it is off by default", desc)
	}
	checkBoolSetting(t, "audit_object_writes", "RON_AUDIT_OBJECT_WRITES", "--audit-object-writes",
		func(c Config) bool { return c.AuditObjectWrites })
}

// TestAuditObjectWritesProcess: a rond started without the setting (or
// with --audit-object-writes=false) answers a PUT /o as usual, its audit
// log holds no object_write record (only kinds that builds before audit
// kind tolerance read) and its start log says the setting is off by
// default and how to turn it on; one started with --audit-object-writes
// records the PUT and logs that a rollback to such a build loses records.
func TestAuditObjectWritesProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, c := range []struct {
		args []string
		want bool
		log  string
	}{
		{nil, false, "audit_object_writes off (the default): PUT /o is not audited; turn it on (audit_object_writes: true, --audit-object-writes, RON_AUDIT_OBJECT_WRITES=true)"},
		{[]string{"--audit-object-writes=false"}, false, "audit_object_writes off (the default)"},
		{[]string{"--audit-object-writes"}, true, "audit_object_writes on: every PUT /o is audited as object_write; a rollback of this node to a build before audit kind tolerance (6db240a or earlier) loses audit records"},
	} {
		n := startRond(t, append([]string{"--quic-addr", "127.0.0.1:0"}, c.args...)...)
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := call(t, "PUT", n.url+"/o", n.token, []byte("an object for the audit setting"))
			if r.status == 201 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: PUT /o: %d", c.args, r.status)
			}
			time.Sleep(50 * time.Millisecond)
		}
		kinds := auditKinds(t, call(t, "GET", n.url+"/audit", n.token, nil).body)
		if got := slices.Contains(kinds, "object_write"); got != c.want {
			t.Fatalf("%v: audit kinds %v: object_write recorded %v, want %v", c.args, kinds, got, c.want)
		}
		// Stopped and waited for, so its stderr is complete and no
		// longer written.
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		if logs := n.stderr.String(); !strings.Contains(logs, c.log) {
			t.Errorf("%v: start log lacks %q:\n%s", c.args, c.log, logs)
		}
	}
}
