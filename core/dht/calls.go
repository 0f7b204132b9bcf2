package dht

import "github.com/ron-network/ron/core/node"

// ServiceName is the service's name (env.Request.Service).
const ServiceName = "dht"

// Typed requests (node.Call): each names this service and its reply type.
func (FindNode) Service() string      { return ServiceName }
func (FindProviders) Service() string { return ServiceName }
func (Provide) Service() string       { return ServiceName }
func (SetRepublish) Service() string  { return ServiceName }
func (SetMembers) Service() string    { return ServiceName }

func (FindNode) Answer(LookupResult)         {}
func (FindProviders) Answer(ProvidersResult) {}
func (Provide) Answer(ProvideResult)         {}
func (SetRepublish) Answer(SetRepublish)     {} // the machine replies with the request
func (SetMembers) Answer(SetMembers)         {} // so does it here

// Results carry their error (node.Failure).
func (r LookupResult) Failure() error    { return r.Err }
func (r ProvidersResult) Failure() error { return r.Err }
func (r ProvideResult) Failure() error   { return r.Err }

var (
	_ node.Call[LookupResult]    = FindNode{}
	_ node.Call[ProvidersResult] = FindProviders{}
	_ node.Call[ProvideResult]   = Provide{}
	_ node.Call[SetRepublish]    = SetRepublish{}
	_ node.Call[SetMembers]      = SetMembers{}
	_ node.Failure               = LookupResult{}
)
