package app

import (
	"context"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/ledger"
)

// PublishCheckpoint publishes the ledger checkpoint e as a signed article
// through the user's feeds (their publishing key, unlocked with pass, and
// their relays and files), so others can hold the ledger to it.
func (a *App) PublishCheckpoint(ctx context.Context, e ledger.Entry, pass func() ([]byte, error)) (ev *nostr.Event, rep feeds.PublishReport, err error) {
	k, err := a.Ledger().LoadKey()
	if err != nil {
		return nil, rep, err
	}
	err = feeds.With(a.Paths.Sub("feeds"), a.Config, false, func(st *feeds.Store) error {
		ev, rep, err = st.PublishCheckpoint(ctx, e, k, pass)
		return err
	})
	return ev, rep, err
}
