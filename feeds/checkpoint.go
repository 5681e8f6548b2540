package feeds

import (
	"context"
	"fmt"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/ledger"
)

// PublishCheckpoint publishes a signed ledger checkpoint as a signed
// article (NIP-23) through the configured targets, so anyone who follows
// the user can hold the ledger to it: the article carries the signed tree
// head exactly as stored and the ledger's public key. Each checkpoint has
// its own slug, so earlier ones stay published.
func (s *Store) PublishCheckpoint(ctx context.Context, e ledger.Entry, k ledger.KeyInfo, pass func() ([]byte, error)) (*nostr.Event, PublishReport, error) {
	art := Article{Topics: []string{"sov-ledger"}, Slug: fmt.Sprintf("sov-ledger-checkpoint-%d", e.Seq)}
	var err error
	if art.Title, art.Body, err = ledger.CheckpointText(e, k); err != nil {
		return nil, PublishReport{}, err
	}
	return s.PublishArticle(ctx, art, pass, PublishTargets{})
}
