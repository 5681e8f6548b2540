package feeds

import (
	"errors"
	"fmt"
)

// Errors a caller may react to (the CLI adds the command that fixes each).
var (
	// ErrInUse: another process holds the feeds database (a running serve).
	ErrInUse = errors.New("in use by another process")
	// ErrNoName: a trusted key needs a publisher name.
	ErrNoName = errors.New("a trusted key needs a name")
	// ErrNoTitle: an article needs a title.
	ErrNoTitle = errors.New("an article needs a title")
	// ErrNoKey: no publishing key has been created yet.
	ErrNoKey = errors.New("no publishing key")
	// ErrEmptyPassphrase: a publishing key cannot be sealed with nothing.
	ErrEmptyPassphrase = errors.New("empty passphrase")
	// ErrShortID: an item id prefix below 4 characters.
	ErrShortID = errors.New("too short: give at least 4 characters of the id")
	// ErrNoItem: no stored item has the id.
	ErrNoItem = errors.New("no stored item")
	// ErrNoSource: no source has the URL.
	ErrNoSource = errors.New("no source")
	// ErrNoSources: sync has nothing to fetch from.
	ErrNoSources = errors.New("no sources")
	// ErrNoGateway: an ipfs:// source needs a trustless gateway.
	ErrNoGateway = errors.New("an ipfs:// source needs a trustless gateway")
	// ErrBadCID: an ipfs:// source whose CID does not parse.
	ErrBadCID = errors.New("not a valid CID")
	// ErrNoTrustedKeys: a relay is asked only for trusted authors.
	ErrNoTrustedKeys = errors.New("no trusted Nostr keys to ask the relay for")
	// ErrNoManifest: a CAR or block that is not a feed export (no manifest).
	ErrNoManifest = errors.New("not a feed export")
	// ErrBadAuthor: an author to select events by that is not a Nostr key.
	ErrBadAuthor = errors.New("not an author's key")
)

// NotTrustedError names a key that is not in the trust store.
type NotTrustedError struct{ Key string }

func (e *NotTrustedError) Error() string { return fmt.Sprintf("key %s is not trusted", e.Key) }

// UntrustedPublisherError: the user's own publishing key is not trusted,
// so what they publish would not count as verified.
type UntrustedPublisherError struct{ Npub string }

func (e *UntrustedPublisherError) Error() string {
	return fmt.Sprintf("your publishing key %s is not in your trust store", e.Npub)
}

// ListenError: serve could not listen on Addr.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string { return fmt.Sprintf("listen on %s: %v", e.Addr, e.Err) }
func (e *ListenError) Unwrap() error { return e.Err }
