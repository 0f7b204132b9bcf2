package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ron-network/ron/io/gateway"
)

// notReadyError is status's exit 1 for a node that answers but is not
// ready; with --json the status object already says so, so no error
// object follows it.
type notReadyError struct{ reason string }

func (e *notReadyError) Error() string { return "node not ready: " + e.reason }

// status prints GET /status: who the node is, whether it is ready and
// why not, its peers and counts. A node too old to serve /status gets the
// probes of /healthz, /readyz and /version instead.
func (c *client) status() error {
	body, code, err := c.exchange("GET", "/status", nil, false)
	if err != nil {
		return err
	}
	if code == http.StatusNotFound {
		return c.probeStatus()
	}
	if code != http.StatusOK {
		return newAPIError("GET", "/status", code, body)
	}
	var s gateway.Status
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("GET /status: unexpected answer: %v", err)
	}
	if c.json {
		if err := json.NewEncoder(c.stdout).Encode(s); err != nil {
			return err
		}
	} else {
		printStatus(c, s)
	}
	if !s.Ready {
		return &notReadyError{reason: s.ReadyReason}
	}
	return nil
}

func printStatus(c *client, s gateway.Status) {
	ready := "yes"
	if !s.Ready {
		ready = "no: " + s.ReadyReason
	}
	rows := [][2]string{
		{"node", s.NodeID},
		{"profile", s.Profile},
		{"version", s.Version},
		{"ready", ready},
		{"peers", fmt.Sprintf("%d active, %d known", s.PeersActive, s.PeersKnown)},
		{"objects", countText(s.Objects, objectsAbsent(s))},
		{"names", countText(s.Names, "n/a (this node is not a registry replica)")},
		{"uptime", (time.Duration(s.UptimeSeconds) * time.Second).String()},
	}
	if s.Objects != nil && s.ObjectBytes != nil {
		rows[5][1] += " (" + formatBytes(int64(*s.ObjectBytes)) + ")"
	}
	if s.Registry != nil {
		rows = append(rows, [2]string{"registry", registryText(s.Registry)})
	}
	if s.ClusterVersion != nil {
		rows = append(rows, [2]string{"raft log", fmt.Sprintf("cluster version %d (log entry format)", *s.ClusterVersion)})
	}
	if s.RegistryUnconfirmed {
		rows = append(rows, [2]string{"replica", "unconfirmed: started with no raft state; does not acknowledge until every other replica answered, nor vote until it also caught up (or every replica is new)"})
	}
	if len(s.Flags) > 0 {
		var flags []string
		for name, on := range s.Flags {
			state := "off"
			if on {
				state = "on"
			}
			if src := s.FlagSources[name]; src != "" {
				state += "(" + src + ")"
			}
			flags = append(flags, name+"="+state)
		}
		slices.Sort(flags)
		rows = append(rows, [2]string{"flags", strings.Join(flags, " ")})
	}
	for _, r := range rows {
		fmt.Fprintf(c.stdout, "%-8s  %s\n", r[0], r[1])
	}
}

// registryText is the registry row of status: who leads as this node
// sees it, in which term, and this node's part.
func registryText(r *gateway.RegistryStatus) string {
	leader := "none known"
	switch {
	case r.IsLeader:
		leader = "this node"
	case r.Leader != nil:
		leader = fmt.Sprintf("replica %d (node %s)", r.LeaderReplica, *r.Leader)
	}
	text := "leader " + leader
	if r.Term != 0 {
		text += fmt.Sprintf(", term %d", r.Term)
	}
	if !r.Replica {
		if r.Leader != nil {
			text += " (as the replicas last said)"
		}
		return text + fmt.Sprintf("; this node is not a replica (%d replicas)", r.Replicas)
	}
	role := r.Role
	switch {
	case r.State != "running":
		role = r.State
	case role == "" && r.IsLeader:
		role = "leader"
	case role == "":
		role = "running"
	}
	return text + fmt.Sprintf("; this node is replica %d of %d (%s)", r.ReplicaID, r.Replicas, role)
}

// objectsAbsent says why GET /status has no object count: the node
// hides it from a caller that may not read objects there (a dedup
// existence oracle; io/gateway Status), or it keeps none.
func objectsAbsent(s gateway.Status) string {
	if s.StorageCountsHidden {
		return "hidden: needs a read token"
	}
	return "not reported"
}

func countText(n *uint64, absent string) string {
	if n == nil {
		return absent
	}
	return fmt.Sprint(*n)
}

// probeStatus is status against a node without GET /status.
func (c *client) probeStatus() error {
	type probe struct {
		Path   string `json:"path"`
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	var probes []probe
	for _, p := range []string{"/healthz", "/readyz", "/version"} {
		body, status, err := c.exchange("GET", p, nil, false)
		if err != nil {
			return err
		}
		probes = append(probes, probe{p, status, strings.TrimSpace(string(body))})
	}
	if c.json {
		if err := json.NewEncoder(c.stdout).Encode(probes); err != nil {
			return err
		}
	} else {
		for _, p := range probes {
			fmt.Fprintf(c.stdout, "%-9s %d %s\n", p.Path, p.Status, p.Body)
		}
	}
	if probes[1].Status != http.StatusOK {
		return &notReadyError{reason: probes[1].Body}
	}
	return nil
}
