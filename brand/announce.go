package brand

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sovos/sov/feeds/nostr"
)

// KindAnnouncement is the Nostr kind of a brand announcement: a
// parameterised replaceable event (NIP-01, 30000–39999), so a brand's
// newer announcement replaces its older one.
const KindAnnouncement = 31402

// dTag is the announcement's d tag: one announcement per Nostr key.
const dTag = "sov-brand"

// Announcement is what a brand publishes: where to call it, what it
// costs, where payments go and the key its answers are signed with.
type Announcement struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Endpoint    string            `json:"endpoint"`
	Tools       []string          `json:"tools"`
	Prices      map[string]string `json:"prices"`
	Pay         []Pay             `json:"pay"`
	Key         string            `json:"key"` // ed25519, base64

	// Set when read back from an event.
	Npub      string    `json:"npub,omitempty"`
	Published time.Time `json:"published,omitzero"`
}

// NewAnnouncement describes p served at endpoint, signed with key.
func NewAnnouncement(p *Profile, endpoint string, key ed25519.PublicKey) (Announcement, error) {
	if err := p.Validate(); err != nil {
		return Announcement{}, err
	}
	if err := checkEndpoint(endpoint); err != nil {
		return Announcement{}, err
	}
	return Announcement{Name: p.Name, Description: p.Description, Endpoint: endpoint, Tools: p.Tools(),
		Prices: p.Prices, Pay: p.Pay, Key: base64.StdEncoding.EncodeToString(key)}, nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an http(s) URL", s)
	}
	return nil
}

// Event signs a as a Nostr event with the brand's Nostr key.
func (a Announcement) Event(sk *nostr.SecretKey, now time.Time) (*nostr.Event, error) {
	a.Npub, a.Published = "", time.Time{}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	ev := &nostr.Event{CreatedAt: now.Unix(), Kind: KindAnnouncement, Content: string(body),
		Tags: [][]string{{"d", dTag}, {"name", a.Name}, {"endpoint", a.Endpoint}}}
	if err := sk.Sign(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// ErrNotAnnouncement is an event that is not a valid brand announcement.
var ErrNotAnnouncement = errors.New("not a brand announcement")

// ParseEvent verifies ev (id and signature) and reads the announcement.
func ParseEvent(ev *nostr.Event) (Announcement, error) {
	var a Announcement
	if ev.Kind != KindAnnouncement || ev.Tag("d") != dTag {
		return a, fmt.Errorf("%w: kind %d", ErrNotAnnouncement, ev.Kind)
	}
	if err := ev.Verify(); err != nil {
		return a, fmt.Errorf("%w: %v", ErrNotAnnouncement, err)
	}
	if err := json.Unmarshal([]byte(ev.Content), &a); err != nil {
		return a, fmt.Errorf("%w: %v", ErrNotAnnouncement, err)
	}
	if _, err := ParseKey(a.Key); err != nil {
		return a, fmt.Errorf("%w: %v", ErrNotAnnouncement, err)
	}
	if err := checkEndpoint(a.Endpoint); err != nil {
		return a, fmt.Errorf("%w: %v", ErrNotAnnouncement, err)
	}
	a.Npub, a.Published = nostr.Npub(ev.PubKey), time.Unix(ev.CreatedAt, 0).UTC()
	return a, nil
}

// Directory is what the user knows of brands: the newest valid
// announcement per key, split by whether the key is trusted.
type Directory struct {
	Trusted   []Announcement
	Untrusted int // announcements from keys not trusted: never called
	Invalid   int
}

// Discover reads events (JSON Lines, other kinds skipped) and keeps the
// newest announcement of each key; trusted says which npubs the user
// trusts.
func Discover(r io.Reader, trusted func(npub string) bool) (Directory, error) {
	var d Directory
	// verified before the newest is chosen: a forged newer event must not
	// hide a brand's real announcement
	newest := map[string]*nostr.Event{}
	ann := map[string]Announcement{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), nostr.MaxEventSize+1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		ev, err := nostr.Parse([]byte(line))
		if err != nil || ev.Kind != KindAnnouncement {
			continue
		}
		a, err := ParseEvent(ev)
		if err != nil {
			d.Invalid++
			continue
		}
		if old, ok := newest[ev.PubKey]; !ok || nostr.Newer(ev, old) {
			newest[ev.PubKey], ann[ev.PubKey] = ev, a
		}
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	for _, a := range ann {
		if trusted(a.Npub) {
			d.Trusted = append(d.Trusted, a)
		} else {
			d.Untrusted++
		}
	}
	sort.Slice(d.Trusted, func(i, j int) bool { return d.Trusted[i].Name < d.Trusted[j].Name })
	return d, nil
}

// ErrUnknownBrand is a brand no trusted announcement names.
var ErrUnknownBrand = errors.New("no trusted announcement names this brand")

// Find is the trusted announcement whose name (case-insensitive) or npub
// is brand.
func (d Directory) Find(brand string) (Announcement, error) {
	var hits []Announcement
	for _, a := range d.Trusted {
		if strings.EqualFold(a.Name, brand) || a.Npub == brand {
			hits = append(hits, a)
		}
	}
	switch len(hits) {
	case 0:
		return Announcement{}, fmt.Errorf("%w: %q", ErrUnknownBrand, brand)
	case 1:
		return hits[0], nil
	}
	return Announcement{}, fmt.Errorf("%d trusted brands are named %q: name one by its npub", len(hits), brand)
}
