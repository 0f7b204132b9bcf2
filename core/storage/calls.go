package storage

import "github.com/ron-network/ron/core/node"

// ServiceName is the service's name (env.Request.Service).
const ServiceName = "storage"

// Typed requests (node.Call): each names this service and its reply type.
func (Put) Service() string         { return ServiceName }
func (Get) Service() string         { return ServiceName }
func (Has) Service() string         { return ServiceName }
func (Delete) Service() string      { return ServiceName }
func (PutBegin) Service() string    { return ServiceName }
func (PutChunk) Service() string    { return ServiceName }
func (PutCommit) Service() string   { return ServiceName }
func (PutAbort) Service() string    { return ServiceName }
func (GetManifest) Service() string { return ServiceName }
func (GetChunk) Service() string    { return ServiceName }
func (GetChunks) Service() string   { return ServiceName }
func (SetRepair) Service() string   { return ServiceName }
func (SetMembers) Service() string  { return ServiceName }

func (Put) Answer(PutResult)              {}
func (Get) Answer(GetResult)              {}
func (Has) Answer(HasResult)              {}
func (Delete) Answer(DeleteResult)        {}
func (PutBegin) Answer(PutBeginResult)    {}
func (PutChunk) Answer(PutChunkResult)    {}
func (PutCommit) Answer(PutResult)        {}
func (PutAbort) Answer(PutAbortResult)    {}
func (GetManifest) Answer(ManifestResult) {}
func (GetChunk) Answer(GetResult)         {}
func (GetChunks) Answer(GetResult)        {}
func (SetRepair) Answer(SetRepair)        {} // the machine replies with the request
func (SetMembers) Answer(SetMembers)      {} // so does it here

// Results carry their error (node.Failure).
func (r PutResult) Failure() error      { return r.Err }
func (r GetResult) Failure() error      { return r.Err }
func (r HasResult) Failure() error      { return r.Err }
func (r DeleteResult) Failure() error   { return r.Err }
func (r PutBeginResult) Failure() error { return r.Err }
func (r PutChunkResult) Failure() error { return r.Err }
func (r PutAbortResult) Failure() error { return r.Err }
func (r ManifestResult) Failure() error { return r.Err }

var (
	_ node.Call[PutResult]      = Put{}
	_ node.Call[GetResult]      = Get{}
	_ node.Call[HasResult]      = Has{}
	_ node.Call[DeleteResult]   = Delete{}
	_ node.Call[PutBeginResult] = PutBegin{}
	_ node.Call[PutChunkResult] = PutChunk{}
	_ node.Call[PutResult]      = PutCommit{}
	_ node.Call[PutAbortResult] = PutAbort{}
	_ node.Call[ManifestResult] = GetManifest{}
	_ node.Call[GetResult]      = GetChunk{}
	_ node.Call[GetResult]      = GetChunks{}
	_ node.Call[SetRepair]      = SetRepair{}
	_ node.Call[SetMembers]     = SetMembers{}
	_ node.Failure              = PutResult{}
)
