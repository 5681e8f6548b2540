package feeds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/seal"
)

// PublishTargets say where a published event goes besides the local store.
type PublishTargets struct {
	Relays     []string
	EventsFile string // appended as JSON Lines
	CARFile    string // rewritten with all stored events of the publisher
}

// PublishReport lists what happened per target.
type PublishReport struct {
	Event   *nostr.Event
	Counts  Counts
	Targets []string
	// Queued names relay publishes that failed and wait for the next
	// publish to retry them.
	Queued []string
	Errors []error
}

// PublishArticle signs a with the publishing key (see CreateKey), stores
// it and sends it to t (see Publish); nil Relays and an empty EventsFile
// mean the configured ones. The passphrase is asked only once a key is
// known to exist, and wiped after use. The event is returned whenever it
// was signed, also when a target failed.
func (s *Store) PublishArticle(ctx context.Context, a Article, pass func() ([]byte, error), t PublishTargets) (*nostr.Event, PublishReport, error) {
	if strings.TrimSpace(a.Title) == "" {
		return nil, PublishReport{}, ErrNoTitle
	}
	if t.Relays == nil {
		t.Relays = s.cfg.Relays
	}
	if t.EventsFile == "" {
		t.EventsFile = s.cfg.EventsFile
	}
	if _, err := PublicKey(s.dir); err != nil {
		return nil, PublishReport{}, err
	}
	pw, err := pass()
	if err != nil {
		return nil, PublishReport{}, err
	}
	sk, err := UnlockKey(s.dir, pw)
	seal.Wipe(pw)
	if err != nil {
		return nil, PublishReport{}, err
	}
	ev, err := NewArticle(sk, a, s.now())
	if err != nil {
		return nil, PublishReport{}, err
	}
	rep, err := s.Publish(ctx, ev, t)
	if err != nil && len(rep.Errors) > 0 {
		err = fmt.Errorf("stored locally, but: %w", err)
	}
	return ev, rep, err
}

// PublishFile is PublishArticle with the body read from the Markdown file
// at path (after the title is checked, so a missing title is reported
// first).
func (s *Store) PublishFile(ctx context.Context, path string, a Article, pass func() ([]byte, error), t PublishTargets) (*nostr.Event, PublishReport, error) {
	if strings.TrimSpace(a.Title) == "" {
		return nil, PublishReport{}, ErrNoTitle
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, PublishReport{}, fmt.Errorf("read article: %w", err)
	}
	a.Body = string(body)
	return s.PublishArticle(ctx, a, pass, t)
}

// Publish stores a signed event (the publisher's own key must be trusted
// for it to count as verified) and writes it to every target. A target
// failing does not undo the others; all errors are returned.
func (s *Store) Publish(ctx context.Context, ev *nostr.Event, t PublishTargets) (PublishReport, error) {
	rep := PublishReport{Event: ev}
	in, err := s.NewIngester("local")
	if err != nil {
		return rep, err
	}
	c, err := in.IngestEvents(ctx, []*nostr.Event{ev})
	rep.Counts = c
	if err != nil {
		return rep, err
	}
	if c.Rejected[RejectUntrusted] > 0 {
		return rep, &UntrustedPublisherError{Npub: nostr.Npub(ev.PubKey)}
	}
	if c.New+c.Updated == 0 && c.Duplicate == 0 {
		return rep, fmt.Errorf("the event was not stored (%s)", c.String())
	}
	if err := s.retryQueued(ctx, &rep); err != nil {
		return rep, err
	}
	for _, r := range t.Relays {
		if err := PublishRelay(ctx, r, ev); err != nil {
			if qerr := s.queuePublish(r, ev, 1); qerr != nil {
				return rep, fmt.Errorf("publish queue: %w", qerr)
			}
			rep.Queued = append(rep.Queued, r+" ("+ev.ID[:12]+")")
			rep.Errors = append(rep.Errors, fmt.Errorf("%w (queued: the next publish retries it)", err))
		} else {
			rep.Targets = append(rep.Targets, r)
		}
	}
	if t.EventsFile != "" {
		if err := appendLine(t.EventsFile, ev.Marshal()); err != nil {
			rep.Errors = append(rep.Errors, err)
		} else {
			rep.Targets = append(rep.Targets, t.EventsFile)
		}
	}
	if t.CARFile != "" {
		mine, err := s.EventsBy(ev.PubKey)
		if err == nil {
			err = writeCARFile(ctx, s, t.CARFile, mine)
		}
		if err != nil {
			rep.Errors = append(rep.Errors, err)
		} else {
			rep.Targets = append(rep.Targets, t.CARFile)
		}
	}
	return rep, errors.Join(rep.Errors...)
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("events file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("events file: %w", err)
	}
	return f.Close()
}

// WriteCARFile exports evs (all when nil) to path atomically.
func (s *Store) WriteCARFile(ctx context.Context, path string, evs []*nostr.Event) (string, int, error) {
	if evs == nil {
		var err error
		if evs, err = s.Events(); err != nil {
			return "", 0, err
		}
	}
	if err := writeCARFile(ctx, s, path, evs); err != nil {
		return "", 0, err
	}
	root, _, err := s.Manifest(ctx, evs)
	return root.String(), len(evs), err
}

// ExportCARFile writes the stored signed events of author (npub1… or hex;
// every stored event when empty) to path, as WriteCARFile does.
func (s *Store) ExportCARFile(ctx context.Context, path, author string) (string, int, error) {
	evs, err := s.EventsBy(author)
	if err != nil {
		return "", 0, err
	}
	return s.WriteCARFile(ctx, path, evs)
}

func writeCARFile(ctx context.Context, s *Store, path string, evs []*nostr.Event) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("CAR file: %w", err)
	}
	if evs == nil {
		evs = []*nostr.Event{}
	}
	if _, _, err := s.ExportCAR(ctx, f, evs); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("CAR file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("CAR file: %w", err)
	}
	return nil
}
