package node

// Call is a typed request body. It names the service that answers it, and
// Res is the type of the service's reply to it, so a caller outside the
// loop (io/runtime.Call) needs neither a service-name string nor a type
// assertion. Each service declares its requests' methods in one file
// (calls.go).
//
// A service answers every request it receives with either a Res or an
// error value; a body it does not know gets ErrUnknownRequest.
type Call[Res any] interface {
	// Service is the name of the service that answers the request.
	Service() string
	// Answer ties the request to its reply type Res. It is a marker and
	// is never called.
	Answer(Res)
}

// Failure is implemented by reply types that carry their own error (a
// result's Err field): the error the caller sees, nil on success.
type Failure interface {
	Failure() error
}
