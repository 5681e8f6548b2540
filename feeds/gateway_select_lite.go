//go:build !feeds_boxo

package feeds

import (
	"context"
	"net/http"

	"github.com/ipfs/go-cid"
)

// GatewayHandler is the small built-in trustless gateway (see gateway_lite.go).
func (s *Store) GatewayHandler() (http.Handler, error) { return liteGateway{bs: s.blocks}, nil }

func newRemoteFetcher(gws []string, hc *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error) {
	return newLiteFetcher(gws, hc)
}
