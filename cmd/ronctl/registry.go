package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ron-network/ron/core/proto"
)

// leaderPath is the gateway's move-leader endpoint (io/gateway
// admin_leader.go).
const leaderPath = "/admin/registry/leader"

// leaderAnswer is POST /admin/registry/leader's answer.
type leaderAnswer struct {
	Old, New struct {
		Replica uint64 `json:"replica"`
		Node    string `json:"node"`
	}
	Moved bool `json:"moved"`
}

// registryCmd serves ronctl registry leader [--to N|NODE_ID]: it asks the
// node, which must be the registry leader, to hand leadership to replica
// N (its 1-based position in the sorted --replicas list) or the node
// NODE_ID, or without --to to the best caught-up voter, and prints the
// old and new leader. It needs an admin --token.
func (c *client) registryCmd(args []string) error {
	if len(args) != 1 || args[0] != "leader" {
		return usageError{"usage: ronctl registry leader [--to N|NODE_ID]"}
	}
	body := map[string]any{}
	if c.leaderTo != "" {
		if n, err := strconv.ParseUint(c.leaderTo, 10, 64); err == nil && n > 0 {
			body["to"] = n
		} else if _, err := proto.ParseNodeID(c.leaderTo); err == nil {
			body["to"] = c.leaderTo
		} else {
			return usageError{fmt.Sprintf("--to %q: want a replica number (1, 2, ...: its position in the sorted --replicas list) or a node id (ronctl key id)", c.leaderTo)}
		}
	}
	data, _ := json.Marshal(body)
	resp, err := c.do("POST", leaderPath, data, true)
	if err != nil {
		return err
	}
	if c.json {
		_, err = c.stdout.Write(resp)
		return err
	}
	var ans leaderAnswer
	if err := json.Unmarshal(resp, &ans); err != nil {
		return fmt.Errorf("POST %s: not a move-leader answer: %v", leaderPath, err)
	}
	if !ans.Moved {
		_, err = fmt.Fprintf(c.stdout, "registry leader: replica %d (node %s) already leads; nothing moved\n", ans.Old.Replica, ans.Old.Node)
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "registry leader moved: replica %d (node %s) -> replica %d (node %s)\n",
		ans.Old.Replica, ans.Old.Node, ans.New.Replica, ans.New.Node)
	return err
}
