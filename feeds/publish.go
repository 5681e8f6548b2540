package feeds

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sovos/sov/feeds/nostr"
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
	Errors  []error
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
		return rep, fmt.Errorf("your publishing key is not in your trust store: run sov feeds trust %s --name me", nostr.Npub(ev.PubKey))
	}
	if c.New == 0 && c.Duplicate == 0 {
		return rep, fmt.Errorf("the event was not stored (%s)", c.String())
	}
	for _, r := range t.Relays {
		if err := PublishRelay(ctx, r, ev); err != nil {
			rep.Errors = append(rep.Errors, err)
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
		all, err := s.Events()
		var mine []*nostr.Event
		for _, e := range all {
			if e.PubKey == ev.PubKey {
				mine = append(mine, e)
			}
		}
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
