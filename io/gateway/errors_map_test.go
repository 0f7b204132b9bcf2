package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ron-network/ron/core/storage"
)

// A storage error reaches the client with the status that says whose
// fault it is: a manifest whose size claims its verified chunks refute
// is the data's (502), like corruption, not the client's (400) nor an
// unexplained 500.
func TestMapErrorBlamesTheRightParty(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: b3:1234: chunk of 40000 bytes, claimed 40001", storage.ErrBadManifest), http.StatusBadGateway},
		{storage.ErrCorruption, http.StatusBadGateway},
		{fmt.Errorf("%w: chunk size", storage.ErrBadRequest), http.StatusBadRequest},
		{storage.ErrNotFound, http.StatusNotFound},
	} {
		if got := mapError(c.err, false); got.status != c.want {
			t.Errorf("%v: status %d, want %d", c.err, got.status, c.want)
		}
	}
}
