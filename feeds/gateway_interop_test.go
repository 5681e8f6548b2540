package feeds

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"

	"github.com/sovos/sov/feeds/internal/boxogw"
)

// TestFeedsGatewayInterop checks the built-in trustless gateway subset
// against boxo's: boxo's client fetches from the lite handler and the lite
// client from boxo's handler, and CAR responses parse.
func TestFeedsGatewayInterop(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	pub := newKey(t)
	trust(t, s, pub, "Pub")
	ev := article(t, pub, "x", "X", testNow.Add(-1))
	s.Ingest(ctx, "t", raws(ev))
	c, _ := EventCID(ev.ID)
	boxoH, err := boxogw.Handler(s.blocks)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		handler http.Handler
		fetcher func([]string, *http.Client) (func(context.Context, cid.Cid) ([]byte, error), error)
	}{
		{"boxo client, lite handler", liteGateway{bs: s.blocks}, boxogw.Fetcher},
		{"lite client, boxo handler", boxoH, newLiteFetcher},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/ipfs/", tt.handler)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			fetch, err := tt.fetcher([]string{srv.URL}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			data, err := fetch(ctx, c)
			if err != nil || !bytes.Equal(data, ev.Serialize()) || checkBlock(c, data) != nil {
				t.Fatalf("fetch: %v", err)
			}
			resp, err := http.Get(srv.URL + "/ipfs/" + c.String() + "?format=car")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			br, err := carv2.NewBlockReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("CAR response: %v (%s)", err, resp.Header.Get("Content-Type"))
			}
			blk, err := br.Next()
			if err != nil || !blk.Cid().Equals(c) || len(br.Roots) != 1 || !br.Roots[0].Equals(c) {
				t.Fatalf("CAR block: %v", err)
			}
			resp, _ = http.Get(srv.URL + "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy?format=raw")
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("missing block: HTTP %d", resp.StatusCode)
			}
			resp.Body.Close()
		})
	}
}
