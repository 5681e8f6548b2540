package feeds

import (
	"encoding/json"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/termtext"
)

// bDeleted holds NIP-09 deletion marks, so a copy of a deleted event that
// arrives later (or again) is not stored: "e:<id>:<pubkey>" → nothing
// (keyed by the deleter, so another key's deletion cannot overwrite it),
// "a:<kind>:<pubkey>:<d>" → the deletion's created_at (decimal).
var bDeleted = []byte("deleted")

// maxProfileName caps a self-asserted profile name, in characters.
const maxProfileName = 40

// IsNewsKind reports whether events of kind are news items: long-form
// articles (NIP-23) and text notes. Profiles and deletions are stored but
// never listed; every other kind is not stored at all.
func IsNewsKind(kind int) bool {
	return kind == nostr.KindArticle || kind == nostr.KindShortNote
}

// keptKind reports whether ingest stores events of kind.
func keptKind(kind int) bool {
	return IsNewsKind(kind) || kind == nostr.KindMetadata || kind == nostr.KindDeletion
}

// eventAddr is an addressable event's NIP-09 "a" address, kind:pubkey:d.
func eventAddr(ev *nostr.Event) string {
	if !nostr.IsAddressable(ev.Kind) {
		return ""
	}
	return strconv.Itoa(ev.Kind) + ":" + ev.PubKey + ":" + ev.Tag("d")
}

// deletedBy reports whether a stored deletion mark covers ev: an "e" mark
// by ev's own author, or an "a" mark for its address at or after its
// created_at (NIP-09: later versions stay).
func deletedBy(b *bolt.Bucket, ev *nostr.Event) bool {
	if b == nil {
		return false
	}
	if b.Get([]byte("e:"+ev.ID+":"+ev.PubKey)) != nil {
		return true
	}
	if a := eventAddr(ev); a != "" {
		if v := b.Get([]byte("a:" + a)); v != nil {
			at, err := strconv.ParseInt(string(v), 10, 64)
			return err == nil && ev.CreatedAt <= at
		}
	}
	return false
}

// applyDeletion records del's marks and removes the stored events of
// del's author that it names; it returns the removed records. Targets by
// another author are left alone: only an author deletes their events.
func applyDeletion(tx *bolt.Tx, del *nostr.Event) ([]record, error) {
	evB, replB, delB := tx.Bucket(bEvents), tx.Bucket(bRepl), tx.Bucket(bDeleted)
	var removed []record
	remove := func(id []byte) error {
		v := evB.Get(id)
		if v == nil {
			return nil
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		ev, err := nostr.Parse(r.Event)
		if err != nil || ev.PubKey != del.PubKey || ev.Kind == nostr.KindDeletion {
			return nil // not the author's, or a deletion (NIP-09: no effect)
		}
		if key := ev.ReplaceKey(); key != "" && string(replB.Get([]byte(key))) == ev.ID {
			if err := replB.Delete([]byte(key)); err != nil {
				return err
			}
		}
		removed = append(removed, r)
		return evB.Delete(id)
	}
	for _, id := range del.TagValues("e") {
		id = strings.ToLower(strings.TrimSpace(id))
		if len(id) != 64 {
			continue
		}
		if err := delB.Put([]byte("e:"+id+":"+del.PubKey), []byte{}); err != nil {
			return nil, err
		}
		if err := remove([]byte(id)); err != nil {
			return nil, err
		}
	}
	for _, a := range del.TagValues("a") {
		parts := strings.SplitN(strings.TrimSpace(a), ":", 3)
		if len(parts) != 3 || parts[1] != del.PubKey {
			continue
		}
		kind, err := strconv.Atoi(parts[0])
		if err != nil || !nostr.IsAddressable(kind) {
			continue
		}
		key := []byte("a:" + a)
		if cur, err := strconv.ParseInt(string(delB.Get(key)), 10, 64); err != nil || cur < del.CreatedAt {
			if err := delB.Put(key, []byte(strconv.FormatInt(del.CreatedAt, 10))); err != nil {
				return nil, err
			}
		}
		// The replaceable index is keyed pubkey:kind:d.
		cur := replB.Get([]byte(parts[1] + ":" + parts[0] + ":" + parts[2]))
		if cur == nil {
			continue
		}
		if old, err := loadEvent(evB, cur); err == nil && old.CreatedAt <= del.CreatedAt {
			if err := remove(append([]byte(nil), cur...)); err != nil {
				return nil, err
			}
		}
	}
	return removed, nil
}

// profileName is a kind-0 event's display_name (else name), cleaned for a
// terminal, on one line and cut to maxProfileName characters; "" when
// the content is not a profile.
func profileName(ev *nostr.Event) string {
	var p struct {
		DisplayName string `json:"display_name"`
		Name        string `json:"name"`
	}
	if json.Unmarshal([]byte(ev.Content), &p) != nil {
		return ""
	}
	n := p.DisplayName
	if strings.TrimSpace(n) == "" {
		n = p.Name
	}
	n = strings.Join(strings.Fields(termtext.Clean(n)), " ")
	if r := []rune(n); len(r) > maxProfileName {
		n = string(r[:maxProfileName-1]) + "…"
	}
	return n
}

// PublisherLabel is the publisher as shown to people: the trusted name
// (or key) the user chose, then the author's self-asserted profile name
// in quotes, which never replaces it.
func (it Item) PublisherLabel() string {
	if it.Profile == "" || it.Profile == it.Publisher {
		return it.Publisher
	}
	return it.Publisher + " (profile: " + strconv.Quote(it.Profile) + ")"
}
