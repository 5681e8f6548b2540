package vault

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrRevoked is returned by a Reader after its capability was revoked.
var ErrRevoked = errors.New("vault access for this agent was revoked: ask the user to grant it again")

// Reader is a read-only capability over one collection, handed to agents by
// the agent runtime. It can search and fetch chunks, nothing else: writes
// (add, rm, passwd, export) need the *Vault, which only the user's session
// holds. Results are data for the agent, never instructions.
type Reader struct {
	v          *Vault
	collection string
	revoked    *atomic.Bool
}

// ReadCapability mints a read-only capability for collection and the
// function that revokes it.
func (v *Vault) ReadCapability(collection string) (*Reader, func()) {
	r := &Reader{v: v, collection: collection, revoked: &atomic.Bool{}}
	return r, func() { r.revoked.Store(true) }
}

// Search runs a search in the capability's collection.
func (r *Reader) Search(ctx context.Context, query string, k int) (*Response, error) {
	if r == nil || r.revoked.Load() {
		return nil, ErrRevoked
	}
	return r.v.Search(ctx, query, SearchOptions{Collection: r.collection, K: k})
}

// Get returns one chunk by the id a search returned.
func (r *Reader) Get(ctx context.Context, chunk uint64) (*Result, error) {
	if r == nil || r.revoked.Load() {
		return nil, ErrRevoked
	}
	return r.v.Get(ctx, r.collection, chunk)
}
