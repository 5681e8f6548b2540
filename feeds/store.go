// Package feeds is sov's verified news: Nostr-signed events checked against
// a local trust store, kept in bbolt with every event and article body
// content-addressed (CIDv1, sha2-256) in a boxo blockstore, exchanged over
// HTTP event files, Nostr relays, CAR files and trustless IPFS gateways,
// plus RSS/Atom/JSON Feed items kept apart as "unverified".
//
// Feed content is data, never instructions: nothing here interprets it.
//
// Configuration lives in the [feeds] table of config.toml:
//
//	[feeds]
//	relays = ["wss://relay.example"]      # sov feeds publish sends here
//	events_file = "/srv/www/events.jsonl" # and appends here
//	gateways = ["http://127.0.0.1:8089"]  # for ipfs:// sources
//	blocked = ["celebrity"]               # never in sov news
//	model = "stories260K"                 # sov news model (default: sov's)
//	max_future = "15m"                    # created_at tolerance
//	[feeds.interests]                     # sov news ranking weights
//	science = 3.0
//	sport = 0.5
//
// IPFS exchange is HTTP only (trustless gateways, CAR files); libp2p and
// bitswap are not used.
package feeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockstore"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/boltds"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/config"
)

var (
	bTrust   = []byte("trust")
	bEvents  = []byte("events")
	bRepl    = []byte("replaceable")
	bItems   = []byte("items") // unverified (RSS/Atom/JSON Feed) items
	bSources = []byte("sources")
	bMeta    = []byte("meta")
)

const blocksBucket = "blocks"

// DefaultMaxFuture is how far ahead of the local clock created_at may be.
const DefaultMaxFuture = 15 * time.Minute

// Options configure Open.
type Options struct {
	ReadOnly  bool
	Now       func() time.Time // clock; time.Now when nil
	MaxFuture time.Duration    // Config's max_future when 0
	NoSync    bool             // tests and benchmarks only
	// Config is the [feeds] table: the defaults for gateways (AddSource)
	// and publish targets (PublishArticle) the caller leaves unset.
	Config Config
}

// Store is the feeds database: trust store, events, items, sources and the
// block store, all in one bbolt file.
type Store struct {
	dir       string // also holds the publishing key
	cfg       Config
	db        *bolt.DB
	blocks    blockstore.Blockstore
	now       func() time.Time
	maxFuture time.Duration
}

// Open opens (creating if needed) dir/feeds.db.
func Open(dir string, opt Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "feeds.db")
	if _, err := os.Stat(path); opt.ReadOnly && errors.Is(err, os.ErrNotExist) {
		opt.ReadOnly = false // first use: create the database
	}
	if err := boltfile.Check(path); err != nil {
		return nil, err // a truncated file would fault inside bbolt's mmap
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: opt.ReadOnly, NoSync: opt.NoSync,
		InitialMmapSize: 64 << 20}) // fewer remaps while a large import grows the file
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("feeds database %s is %w: stop it and retry", path, ErrInUse)
		}
		return nil, fmt.Errorf("open feeds database %s: %w", path, err)
	}
	if !opt.ReadOnly {
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bTrust, bEvents, bRepl, bItems, bSources, bMeta, bDeleted, bOutbox} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			db.Close()
			return nil, fmt.Errorf("init feeds database: %w", err)
		}
	}
	d, err := boltds.New(db, blocksBucket)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{dir: dir, cfg: opt.Config, db: db, blocks: blockstore.NewBlockstore(d), now: opt.Now, maxFuture: opt.MaxFuture}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxFuture == 0 {
		s.maxFuture = opt.Config.MaxFutureDuration()
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// With opens the store in dir with the [feeds] table of f (nil: the
// defaults), runs fn on it and closes it: a command holds the database
// only while it needs it.
func With(dir string, f *config.File, readOnly bool, fn func(*Store) error) error {
	cfg, err := LoadConfig(f)
	if err != nil {
		return err
	}
	s, err := Open(dir, Options{ReadOnly: readOnly, Config: cfg})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// Lister is List on the store in dir (see With), open only while it
// lists: whatever the caller does with the items next (a model writing a
// digest) does not hold the database.
func Lister(dir string, f *config.File) func(ListOptions) ([]Item, error) {
	return func(o ListOptions) (items []Item, err error) {
		err = With(dir, f, true, func(s *Store) error {
			items, err = s.List(o)
			return err
		})
		return items, err
	}
}

// Blockstore is the content-addressed block store (events and bodies).
func (s *Store) Blockstore() blockstore.Blockstore { return s.blocks }

// TrustedKey is a publisher the user trusts.
type TrustedKey struct {
	Key    string    `json:"key"`  // hex x-only secp256k1 key, or a minisign public key
	Type   string    `json:"type"` // "nostr" or "minisign"
	Name   string    `json:"name"`
	Topics []string  `json:"topics,omitempty"`
	Added  time.Time `json:"added"`
	NIP05  string    `json:"nip05,omitempty"` // shown as a hint, never proof
}

// Trust adds or updates a trusted key. key is npub1…, 64 hex characters, or
// a minisign public key (RW…).
func (s *Store) Trust(key, name string, topics []string) (TrustedKey, error) {
	tk := TrustedKey{Name: strings.TrimSpace(name), Topics: normTopics(topics), Added: s.now().UTC()}
	if tk.Name == "" {
		return tk, ErrNoName
	}
	if strings.HasPrefix(key, "RW") && len(key) == 56 {
		if _, err := parseMinisignKey(key); err != nil {
			return tk, err
		}
		tk.Key, tk.Type = key, "minisign"
	} else {
		hexKey, err := nostr.ParsePublicKey(key)
		if err != nil {
			return tk, err
		}
		tk.Key, tk.Type = hexKey, "nostr"
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		data, _ := json.Marshal(tk)
		return tx.Bucket(bTrust).Put([]byte(tk.Key), data)
	})
	return tk, err
}

// Untrust removes a key. Its stored events stay but no longer count as
// verified.
func (s *Store) Untrust(key string) error {
	k := key
	if hk, err := nostr.ParsePublicKey(key); err == nil {
		k = hk
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTrust)
		if b.Get([]byte(k)) == nil {
			return &NotTrustedError{Key: key}
		}
		return b.Delete([]byte(k))
	})
}

// Keys lists trusted keys sorted by name.
func (s *Store) Keys() ([]TrustedKey, error) {
	var out []TrustedKey
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTrust)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var tk TrustedKey
			if err := json.Unmarshal(v, &tk); err != nil {
				return fmt.Errorf("corrupt trust entry: %w", err)
			}
			out = append(out, tk)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (s *Store) trusted() (map[string]TrustedKey, error) {
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	m := make(map[string]TrustedKey, len(keys))
	for _, k := range keys {
		m[k.Key] = k
	}
	return m, nil
}

func normTopics(in []string) []string {
	var out []string
	for _, t := range in {
		for _, p := range strings.Split(t, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// record is how an event is stored.
type record struct {
	Event    json.RawMessage `json:"event"`
	Source   string          `json:"source"`
	Received int64           `json:"received"`
	CID      string          `json:"cid"`
	BodyCID  string          `json:"body_cid,omitempty"`
}

// Item is one stored news item, from a signed event or an unsigned feed.
type Item struct {
	ID        string    `json:"id"`
	Publisher string    `json:"publisher"`
	PubKey    string    `json:"pubkey,omitempty"`
	Kind      int       `json:"kind"`
	Title     string    `json:"title"`
	Summary   string    `json:"summary,omitempty"`
	Topics    []string  `json:"topics,omitempty"`
	Created   time.Time `json:"created"`
	CID       string    `json:"cid"`
	BodyCID   string    `json:"body_cid,omitempty"`
	Verified  bool      `json:"verified"`
	Source    string    `json:"source"`
	URL       string    `json:"url,omitempty"`
	Content   string    `json:"content,omitempty"`
	// Profile is the author's self-asserted kind-0 name (trusted keys
	// only), cleaned; shown beside Publisher, never instead of it.
	Profile string `json:"profile,omitempty"`
}

func itemFromEvent(ev *nostr.Event, r *record, trust map[string]TrustedKey) Item {
	it := Item{
		ID: ev.ID, PubKey: ev.PubKey, Kind: ev.Kind, CID: r.CID, BodyCID: r.BodyCID,
		Created: time.Unix(ev.CreatedAt, 0).UTC(), Source: r.Source, Content: ev.Content,
		Title: ev.Tag("title"), Summary: ev.Tag("summary"), Topics: normTopics(ev.TagValues("t")),
	}
	if pa := ev.Tag("published_at"); pa != "" && ev.Kind == nostr.KindArticle {
		var sec int64
		if _, err := fmt.Sscan(pa, &sec); err == nil && sec > 0 {
			it.Created = time.Unix(sec, 0).UTC()
		}
	}
	if it.Title == "" {
		it.Title = firstLine(ev.Content, 80)
	}
	if tk, ok := trust[ev.PubKey]; ok {
		it.Publisher, it.Verified = tk.Name, true
	} else {
		it.Publisher = nostr.Npub(ev.PubKey)[:16] + "…"
	}
	return it
}

func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimLeft(s, "# ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// ListOptions filter List.
type ListOptions struct {
	Unverified bool      // include unverified items (labelled)
	Since      time.Time // zero = everything
	// Within, when Since is zero and Within positive, keeps the items of
	// that long before now (the store's clock).
	Within  time.Duration
	Content bool // include bodies
}

// List returns stored items, newest first. Verified only unless
// opt.Unverified; events from keys no longer trusted are never "verified".
// The slice is never nil, so no items is an empty JSON list.
func (s *Store) List(opt ListOptions) ([]Item, error) {
	trust, err := s.trusted()
	if err != nil {
		return nil, err
	}
	if opt.Since.IsZero() && opt.Within > 0 {
		opt.Since = s.now().Add(-opt.Within)
	}
	out := []Item{}
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bEvents); b != nil {
			// Only news kinds are listed: a database from before kinds
			// were checked may hold DMs, reactions and the like. Profiles
			// name their authors; deletion marks hide what they cover.
			profiles := map[string]*nostr.Event{}
			delB := tx.Bucket(bDeleted)
			if err := b.ForEach(func(_, v []byte) error {
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("corrupt event record: %w", err)
				}
				ev, err := nostr.Parse(r.Event)
				if err != nil {
					return fmt.Errorf("corrupt stored event: %w", err)
				}
				if ev.Kind == nostr.KindMetadata {
					if p := profiles[ev.PubKey]; p == nil || nostr.Newer(ev, p) {
						profiles[ev.PubKey] = ev
					}
					return nil
				}
				if !IsNewsKind(ev.Kind) || deletedBy(delB, ev) {
					return nil
				}
				it := itemFromEvent(ev, &r, trust)
				if it.Verified || opt.Unverified {
					out = append(out, it)
				}
				return nil
			}); err != nil {
				return err
			}
			for i := range out {
				if p := profiles[out[i].PubKey]; p != nil && out[i].Verified {
					out[i].Profile = profileName(p)
				}
			}
		}
		if b := tx.Bucket(bItems); b != nil {
			return b.ForEach(func(_, v []byte) error {
				var it Item
				if err := json.Unmarshal(v, &it); err != nil {
					return fmt.Errorf("corrupt item: %w", err)
				}
				// A minisign-verified feed item stays verified only while
				// its key is trusted.
				if it.Verified {
					_, it.Verified = trust[it.PubKey]
				}
				if it.Verified || opt.Unverified {
					out = append(out, it)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	filtered := out[:0]
	for _, it := range out {
		if !opt.Since.IsZero() && it.Created.Before(opt.Since) {
			continue
		}
		if !opt.Content {
			it.Content = ""
		}
		filtered = append(filtered, it)
	}
	sort.SliceStable(filtered, func(i, j int) bool {
		if !filtered[i].Created.Equal(filtered[j].Created) {
			return filtered[i].Created.After(filtered[j].Created)
		}
		return filtered[i].ID < filtered[j].ID
	})
	return filtered, nil
}

// Get finds one item by id or unique id prefix (at least 4 characters).
func (s *Store) Get(idPrefix string) (Item, *nostr.Event, error) {
	idPrefix = strings.ToLower(strings.TrimSpace(idPrefix))
	if len(idPrefix) < 4 {
		return Item{}, nil, fmt.Errorf("id %q is %w", idPrefix, ErrShortID)
	}
	all, err := s.List(ListOptions{Unverified: true, Content: true})
	if err != nil {
		return Item{}, nil, err
	}
	var match []Item
	for _, it := range all {
		if strings.HasPrefix(it.ID, idPrefix) {
			match = append(match, it)
		}
	}
	switch len(match) {
	case 0:
		return Item{}, nil, fmt.Errorf("%w with id %s", ErrNoItem, idPrefix)
	case 1:
	default:
		return Item{}, nil, fmt.Errorf("id prefix %s matches %d items: give more characters", idPrefix, len(match))
	}
	ev, _ := s.Event(match[0].ID)
	return match[0], ev, nil
}

// Event returns a stored signed event by full id.
func (s *Store) Event(id string) (*nostr.Event, error) {
	var ev *nostr.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b == nil {
			return fmt.Errorf("no stored event %s", id)
		}
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("no stored event %s", id)
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		var err error
		ev, err = nostr.Parse(r.Event)
		return err
	})
	return ev, err
}

// Events returns all stored signed events of kept kinds (news, profiles,
// deletions), oldest first.
func (s *Store) Events() ([]*nostr.Event, error) {
	var out []*nostr.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			ev, err := nostr.Parse(r.Event)
			if err != nil {
				return err
			}
			if keptKind(ev.Kind) { // an older database may hold DMs and the like
				out = append(out, ev)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// EventsBy returns the stored signed events of one author (npub1… or hex),
// oldest first; every stored event when author is empty. The slice is
// never nil, so an export of nothing is still a valid, empty export.
func (s *Store) EventsBy(author string) ([]*nostr.Event, error) {
	hexKey := ""
	if author != "" {
		k, err := nostr.ParsePublicKey(author)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadAuthor, err)
		}
		hexKey = k
	}
	all, err := s.Events()
	if err != nil {
		return nil, err
	}
	out := []*nostr.Event{}
	for _, e := range all {
		if hexKey == "" || e.PubKey == hexKey {
			out = append(out, e)
		}
	}
	return out, nil
}

// Source is a place sync fetches from.
type Source struct {
	URL     string    `json:"url"`
	Type    string    `json:"type"` // relay, http, ipfs, car
	Gateway []string  `json:"gateway,omitempty"`
	Added   time.Time `json:"added"`
}

// AddSource records a source after classifying its URL; an ipfs:// source
// given no gateway gets the configured ones.
func (s *Store) AddSource(src Source) (Source, error) {
	if len(src.Gateway) == 0 {
		src.Gateway = s.cfg.Gateways
	}
	src, err := classify(src)
	if err != nil {
		return src, err
	}
	src.Added = s.now().UTC()
	err = s.db.Update(func(tx *bolt.Tx) error {
		data, _ := json.Marshal(src)
		return tx.Bucket(bSources).Put([]byte(src.URL), data)
	})
	return src, err
}

// RemoveSource forgets a source.
func (s *Store) RemoveSource(url string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSources)
		if b.Get([]byte(url)) == nil {
			return fmt.Errorf("%w %s", ErrNoSource, url)
		}
		return b.Delete([]byte(url))
	})
}

// Sources lists configured sources.
func (s *Store) Sources() ([]Source, error) {
	var out []Source
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSources)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var src Source
			if err := json.Unmarshal(v, &src); err != nil {
				return err
			}
			out = append(out, src)
			return nil
		})
	})
	return out, err
}
