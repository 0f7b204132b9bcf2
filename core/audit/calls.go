package audit

import "github.com/ron-network/ron/core/node"

// ServiceName is the service's name (env.Request.Service).
const ServiceName = "audit"

// Typed requests (node.Call): each names this service and its reply type.
func (HeadQuery) Service() string   { return ServiceName }
func (Append) Service() string      { return ServiceName }
func (ReadRecords) Service() string { return ServiceName }

func (HeadQuery) Answer(HeadStatus)    {}
func (Append) Answer(AppendResult)     {}
func (ReadRecords) Answer(RecordsPage) {}

// Results carry their error (node.Failure).
func (r AppendResult) Failure() error { return r.Err }
func (r RecordsPage) Failure() error  { return r.Err }

var (
	_ node.Call[HeadStatus]   = HeadQuery{}
	_ node.Call[AppendResult] = Append{}
	_ node.Call[RecordsPage]  = ReadRecords{}
	_ node.Failure            = AppendResult{}
)
