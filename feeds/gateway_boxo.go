//go:build !feeds_litegateway

package feeds

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/go-cid"
)

// GatewayHandler is a trustless gateway (raw blocks and CAR responses
// only, no deserialised files) over the local block store: boxo's handler
// on an offline block service, so nothing is fetched from the network.
func (s *Store) GatewayHandler() (http.Handler, error) {
	backend, err := gateway.NewBlocksBackend(blockservice.New(s.blocks, nil))
	if err != nil {
		return nil, fmt.Errorf("gateway backend: %w", err)
	}
	return gateway.NewHandler(gateway.Config{DeserializedResponses: false, NoDNSLink: true, DisableHTMLErrors: true}, backend), nil
}

// newRemoteFetcher uses boxo's remote blockstore, which requests
// application/vnd.ipld.raw and re-hashes each block against its CID.
func newRemoteFetcher(gws []string, hc *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error) {
	rbs, err := gateway.NewRemoteBlockstore(gws, hc)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, k cid.Cid) ([]byte, error) {
		b, err := rbs.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		return b.RawData(), nil
	}, nil
}
