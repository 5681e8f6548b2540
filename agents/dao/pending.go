package dao

import (
	"context"
	"time"
)

// Pending lists what waits for the user, by end time: queued (drafts to
// approve and abstentions to see, as a run queues them, and auto-cast
// decisions the run could not cast) and waiting (auto-cast decisions whose
// review window has not begun). A proposal is left out once voted on,
// skipped by the rules or set aside by the user (Dismiss), or closed.
func (d *Delegate) Pending() (queued, waiting []Queued, err error) {
	st, err := d.Load()
	if err != nil {
		return nil, nil, err
	}
	now := d.now()
	for _, p := range st.Sorted() {
		dec, ok := st.Decisions[p.Key()]
		_, dismissed := st.Dismissed[p.Key()]
		if !ok || dec.Action == Skip || dismissed || len(st.Votes[p.Key()]) > 0 || !p.Open(now) {
			continue
		}
		if dec.Action == Cast && now.Before(dec.NotBefore) {
			waiting = append(waiting, Queued{p, dec})
		} else {
			queued = append(queued, Queued{p, dec})
		}
	}
	return queued, waiting, nil
}

// Dismiss records that the user set the proposal id aside: it leaves
// Pending, and later runs neither queue nor auto-cast it (they count it
// skipped). The user can still vote on it with Vote. The ledger holds the
// dismissal.
func (d *Delegate) Dismiss(ctx context.Context, id string) (Proposal, error) {
	st, unlock, err := d.lockedState()
	if err != nil {
		return Proposal{}, err
	}
	defer unlock()
	p, err := st.Find(id)
	if err != nil {
		return p, err
	}
	if _, ok := st.Dismissed[p.Key()]; ok {
		return p, nil
	}
	if st.Dismissed == nil {
		st.Dismissed = map[string]time.Time{}
	}
	st.Dismissed[p.Key()] = d.now().UTC()
	if err := d.record(ctx, p, map[string]any{"action": "dismiss", "by": "user"}); err != nil {
		return p, err
	}
	return p, d.Save(st)
}
