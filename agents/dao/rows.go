package dao

// Row is a synced proposal with what the delegate decided, or what the
// rules alone would decide before a run.
type Row struct {
	Proposal
	Decision *Decision    `json:"decision,omitempty"`
	Votes    []VoteRecord `json:"votes,omitempty"`
}

// Rows lists the synced proposals by end time, each with its decision:
// the stored one, else the rules' triage (settled), else none.
func (d *Delegate) Rows() ([]Row, error) {
	st, err := d.Load()
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, p := range st.Sorted() {
		r := Row{Proposal: p, Votes: st.Votes[p.Key()]}
		if dec, ok := st.Decisions[p.Key()]; ok {
			r.Decision = &dec
		} else if dec, ok := Triage(d.Policy, p, d.now()); ok {
			dec = Settle(d.Policy, p, dec)
			r.Decision = &dec
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Find resolves id among the synced proposals (as State.Find) and
// returns the stored decision with it, nil when none.
func (d *Delegate) Find(id string) (Proposal, *Decision, error) {
	st, err := d.Load()
	if err != nil {
		return Proposal{}, nil, err
	}
	p, err := st.Find(id)
	if err != nil {
		return Proposal{}, nil, err
	}
	if dec, ok := st.Decisions[p.Key()]; ok {
		return p, &dec, nil
	}
	return p, nil, nil
}

// Status is the row in two words: what happened or is decided (voted,
// the decision's action, or undecided) and the decided choice's label.
func (r Row) Status() (action, choice string) {
	action = "undecided"
	if r.Decision != nil {
		action = string(r.Decision.Action)
		if r.Decision.Choice != nil {
			choice = r.Decision.Choice.Label(r.Proposal)
		}
	}
	if len(r.Votes) > 0 {
		action = "voted"
	}
	return action, choice
}
