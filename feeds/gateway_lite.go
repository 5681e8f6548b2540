package feeds

// A small implementation of the trustless gateway subset sov uses (raw
// blocks and single-block CARs of raw-codec CIDs). It is the default: boxo's
// gateway (package feeds/internal/boxogw, -tags feeds_boxo) brings libp2p
// core, DHT, OpenTelemetry and Prometheus, about 16 MB and ~16 ms of start-up
// to every sov command. TestFeedsGatewayInterop checks this one against
// boxo's handler and client in both directions.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
)

const (
	mediaRaw = "application/vnd.ipld.raw"
	mediaCAR = "application/vnd.ipld.car"
)

// liteGateway serves GET/HEAD /ipfs/{cid} as application/vnd.ipld.raw or
// application/vnd.ipld.car (?format=raw|car or the Accept header).
type liteGateway struct{ bs blockstore.Blockstore }

func (g liteGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/ipfs/")
	if rest == r.URL.Path || strings.Contains(rest, "/") {
		http.Error(w, "expected /ipfs/{cid} (no paths: raw blocks only)", http.StatusBadRequest)
		return
	}
	c, err := cid.Decode(rest)
	if err != nil {
		http.Error(w, "invalid CID", http.StatusBadRequest)
		return
	}
	format := r.URL.Query().Get("format")
	accept := r.Header.Get("Accept")
	switch {
	case format == "raw" || format == "" && strings.Contains(accept, mediaRaw):
		format = "raw"
	case format == "car" || format == "" && strings.Contains(accept, mediaCAR):
		format = "car"
	default:
		http.Error(w, "trustless gateway: request "+mediaRaw+" or "+mediaCAR, http.StatusNotAcceptable)
		return
	}
	blk, err := g.bs.Get(r.Context(), c)
	if err != nil {
		if ipld.IsNotFound(err) {
			http.Error(w, "block not found", http.StatusNotFound)
			return
		}
		http.Error(w, "block store error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=29030400, immutable")
	h.Set("X-Ipfs-Roots", c.String())
	if format == "raw" {
		h.Set("Content-Type", mediaRaw)
		h.Set("Etag", `"`+c.String()+`.raw"`)
		h.Set("Content-Length", fmt.Sprint(len(blk.RawData())))
		if r.Method == http.MethodGet {
			w.Write(blk.RawData())
		}
		return
	}
	h.Set("Content-Type", mediaCAR+"; version=1; order=dfs; dups=n")
	h.Set("Etag", `"`+c.String()+`.car"`)
	if r.Method == http.MethodHead {
		return
	}
	cw, err := carstorage.NewWritable(w, []cid.Cid{c}, carv2.WriteAsCarV1(true))
	if err != nil {
		return
	}
	cw.Put(r.Context(), c.KeyString(), blk.RawData())
	cw.Finalize()
}

// newLiteFetcher requests raw blocks; the caller re-hashes them.
func newLiteFetcher(gws []string, hc *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error) {
	if len(gws) == 0 {
		return nil, errors.New("no gateway")
	}
	var next atomic.Uint64
	return func(ctx context.Context, k cid.Cid) ([]byte, error) {
		gw := gws[next.Add(1)%uint64(len(gws))]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw+"/ipfs/"+k.String()+"?format=raw", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", mediaRaw)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("gateway %s: HTTP %s for %s", gw, resp.Status, k)
		}
		return io.ReadAll(resp.Body)
	}, nil
}
