// Package boxogw wraps boxo's trustless gateway handler and client. sov's
// default build uses its own small gateway (feeds/gateway_lite.go), because
// importing boxo/gateway adds about 16 MB to the binary, ~16 ms to every
// start-up and ~13 MB of resident memory to every command; this package is
// linked only with -tags feeds_boxo, and by the tests that check the two
// implementations against each other.
package boxogw

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/go-cid"
)

// Handler is a trustless gateway (raw blocks and CAR responses only, no
// deserialised files) over bs: boxo's handler on an offline block service,
// so nothing is fetched from the network.
func Handler(bs blockstore.Blockstore) (http.Handler, error) {
	backend, err := gateway.NewBlocksBackend(blockservice.New(bs, nil))
	if err != nil {
		return nil, fmt.Errorf("gateway backend: %w", err)
	}
	return gateway.NewHandler(gateway.Config{DeserializedResponses: false, NoDNSLink: true, DisableHTMLErrors: true}, backend), nil
}

// Fetcher uses boxo's remote blockstore, which requests
// application/vnd.ipld.raw and re-hashes each block against its CID.
func Fetcher(gws []string, hc *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error) {
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
