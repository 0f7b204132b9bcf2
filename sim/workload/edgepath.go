package workload

import (
	"fmt"

	"github.com/ron-network/ron/core/admission"
	"github.com/ron-network/ron/sim"
)

// EdgePath is how a workload's clients reach a node: straight to the
// service when Edge is nil (the scenarios without workload.edge keep their
// traces), else through the node's edge as tenant Tenant presenting Token,
// exactly as an HTTP client of rond goes through its gateway.
type EdgePath struct {
	Edge   Edge
	Tenant string
	Token  string
	// Refusals, when set, collects every refusal the clients received
	// (the refusals check compares them with what the nodes counted).
	Refusals *[]admission.Refusal
}

// send delivers call (its Tenant and Token are the path's); a refusal is
// turned into the service's own reply by refused, so the workload records
// it as a definite failure (the node never saw the request).
func (p EdgePath) send(w *sim.World, call EdgeCall, client int, refused func(admission.Refusal) any, reply func(any)) {
	if p.Edge == nil {
		w.Request(call.Node, call.Service, call.Body, reply)
		return
	}
	call.Tenant, call.Token = p.Tenant, p.Token
	call.Source = fmt.Sprintf("%s/%d", p.Tenant, client)
	p.Edge.Submit(call, func(a EdgeAnswer) {
		if a.Refusal.Refused() {
			if p.Refusals != nil {
				*p.Refusals = append(*p.Refusals, a.Refusal)
			}
			reply(refused(a.Refusal))
			return
		}
		reply(a.Resp)
	})
}

// edgeRefusal is the error a refusal becomes in a workload's history.
func edgeRefusal(r admission.Refusal) error {
	return fmt.Errorf("edge refused: %s (%s)", r.Reason, r.Detail)
}
