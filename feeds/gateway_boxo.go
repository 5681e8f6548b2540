//go:build feeds_boxo

package feeds

import (
	"context"
	"net/http"

	"github.com/ipfs/go-cid"

	"github.com/sovos/sov/feeds/internal/boxogw"
)

// GatewayHandler is boxo's trustless gateway over the local block store
// (built with -tags feeds_boxo).
func (s *Store) GatewayHandler() (http.Handler, error) { return boxogw.Handler(s.blocks) }

func newRemoteFetcher(gws []string, hc *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error) {
	return boxogw.Fetcher(gws, hc)
}
