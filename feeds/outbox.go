package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/nostr"
)

// bOutbox holds relay publishes that failed, keyed relay URL + NUL + event
// id, until a later publish delivers them.
var bOutbox = []byte("outbox")

// maxTries bounds the retries of one queued publish: a relay that keeps
// refusing an event is not asked forever.
const maxTries = 10

type queuedPublish struct {
	Event json.RawMessage `json:"event"`
	Tries int             `json:"tries"`
}

// queuePublish keeps ev for url to retry later.
func (s *Store) queuePublish(url string, ev *nostr.Event, tries int) error {
	data, err := json.Marshal(queuedPublish{Event: ev.Marshal(), Tries: tries})
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bOutbox)
		if err != nil {
			return err
		}
		return b.Put([]byte(url+"\x00"+ev.ID), data)
	})
}

// Queued lists the queued publishes as "URL EVENT-ID".
func (s *Store) Queued() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			out = append(out, strings.Replace(string(k), "\x00", " ", 1))
			return nil
		})
	})
	return out, err
}

// retryQueued sends every queued publish again: delivered ones leave the
// queue (into rep.Targets), failed ones stay (into rep.Queued) until
// maxTries, then are dropped with an error in rep.Errors.
func (s *Store) retryQueued(ctx context.Context, rep *PublishReport) error {
	type entry struct {
		url string
		q   queuedPublish
	}
	var todo []entry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var q queuedPublish
			if json.Unmarshal(v, &q) == nil {
				url, _, _ := strings.Cut(string(k), "\x00")
				todo = append(todo, entry{url, q})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, e := range todo {
		ev, err := nostr.Parse(e.q.Event)
		if err != nil {
			continue
		}
		key := []byte(e.url + "\x00" + ev.ID)
		perr := PublishRelay(ctx, e.url, ev)
		switch {
		case perr == nil || e.q.Tries+1 >= maxTries:
			if perr != nil {
				rep.Errors = append(rep.Errors, fmt.Errorf("gave up on %s after %d tries: %w", ev.ID[:12], maxTries, perr))
			} else {
				rep.Targets = append(rep.Targets, e.url+" (queued "+ev.ID[:12]+")")
			}
			err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bOutbox).Delete(key) })
		default:
			rep.Queued = append(rep.Queued, e.url+" ("+ev.ID[:12]+")")
			err = s.queuePublish(e.url, ev, e.q.Tries+1)
		}
		if err != nil {
			return fmt.Errorf("publish queue: %w", err)
		}
	}
	return nil
}
