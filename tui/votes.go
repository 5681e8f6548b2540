package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/wallet"
)

// /votes: the DAO delegate's pending votes. The list is what a delegate
// run left for the user (drafts, abstentions, and auto-cast votes waiting
// for their review window); a approves the draft (the vote `sov dao vote
// ID --yes` casts), c casts another choice, s sets the proposal aside, e
// explains. Proposal text is the author's, untrusted: everything from it
// is sanitised. A vote runs in the background; what the wallet's policy
// asks the person is a passphrase pane, as the CLI asks at its terminal.

// OpenDAOFunc opens the user's DAO delegate. approve answers what the
// wallet's policy asks the person (nil: nobody can approve); the keys
// themselves are unlocked from SOV_WALLET_PASSPHRASE only, the shell
// owning the terminal.
type OpenDAOFunc func(ctx context.Context, approve wallet.Approver) (*dao.Delegate, error)

// voteRow is one line of the list.
type voteRow struct {
	q       dao.Queued
	waiting bool // an auto-cast vote before its review window
}

const (
	votesList = iota
	votesChange
	votesExplain
)

// votesPane is the pending-votes view.
type votesPane struct {
	open  OpenDAOFunc
	ctx   context.Context
	grace time.Duration
	// readyAt: action keys before it are ignored, so a key typed for the
	// chat as the view opened (or the list changed under it) acts on
	// nothing no one has read.
	readyAt time.Time

	rows []voteRow
	sel  int
	top  int
	mode int

	choices   []string // votesChange: the proposal's options, in order
	choiceSel int
	explain   []string // votesExplain: the explanation's text
	scroll    int

	note    string // the last outcome, one line
	noteErr bool
	job     *voteJob // a vote or skip in progress
}

// voteJob is a vote or a skip running in the background.
type voteJob struct {
	pane   *votesPane
	cancel context.CancelFunc
	msgs   chan tea.Msg // votesApproveMsg, then votesDoneMsg
}

type (
	// votesApproveMsg: the wallet's policy asks the person.
	votesApproveMsg struct {
		job          *voteJob
		summary, why string
		reply        chan []byte
	}
	votesDoneMsg struct {
		job  *voteJob
		note string
		err  error
	}
)

func (j *voteJob) wait() tea.Cmd { return func() tea.Msg { return <-j.msgs } }

// approve is the wallet's Approver: it asks through the shell and waits.
func (j *voteJob) approve(ctx context.Context, summary, why string) ([]byte, error) {
	reply := make(chan []byte, 1)
	select {
	case j.msgs <- votesApproveMsg{job: j, summary: summary, why: why, reply: reply}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case p := <-reply:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *App) cmdVotes(string) tea.Cmd {
	if a.opts.DAO == nil {
		a.chat.errorf("The DAO delegate is not available in this shell.")
		return nil
	}
	for _, p := range a.panes {
		if _, ok := p.(*votesPane); ok {
			return nil
		}
	}
	p := &votesPane{open: a.opts.DAO, ctx: a.ctx, grace: a.approveGrace}
	if err := p.reload(); err != nil {
		a.chat.errorf("DAO votes: " + votesErrText(err))
		return nil
	}
	a.panes = append(a.panes, p)
	return nil
}

// reload reads the pending list again and restarts the grace.
func (p *votesPane) reload() error {
	d, err := p.open(p.ctx, nil)
	if err != nil {
		return err
	}
	queued, waiting, err := d.Pending()
	if err != nil {
		return err
	}
	p.rows = p.rows[:0]
	for _, q := range queued {
		p.rows = append(p.rows, voteRow{q: q})
	}
	for _, q := range waiting {
		p.rows = append(p.rows, voteRow{q: q, waiting: true})
	}
	p.sel = max(0, min(p.sel, len(p.rows)-1))
	p.readyAt = time.Now().Add(p.grace)
	return nil
}

// start runs fn in the background as the view's one job.
func (p *votesPane) start(what string, fn func(ctx context.Context, j *voteJob) (string, error)) tea.Cmd {
	ctx, cancel := context.WithCancel(p.ctx)
	j := &voteJob{pane: p, cancel: cancel, msgs: make(chan tea.Msg, 4)}
	p.job, p.note, p.noteErr = j, what, false
	go func() {
		var note string
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("failed: %v", r)
			}
			cancel()
			j.msgs <- votesDoneMsg{job: j, note: note, err: err}
		}()
		note, err = fn(ctx, j)
	}()
	return j.wait()
}

// vote casts choice (nil: the drafted one) on row r, as `sov dao vote
// ID [CHOICE] --yes` does.
func (p *votesPane) vote(r voteRow, choice *dao.Choice) tea.Cmd {
	pr := r.q.Proposal
	label := "the drafted choice"
	if choice != nil {
		label = choice.Label(pr)
	} else if r.q.Decision.Choice != nil {
		label = r.q.Decision.Choice.Label(pr)
	}
	label, title := sanitize(oneLine(label)), sanitize(oneLine(pr.Title))
	return p.start(fmt.Sprintf("Voting %s on %q…", label, title), func(ctx context.Context, j *voteJob) (string, error) {
		d, err := p.open(ctx, j.approve)
		if err != nil {
			return "", err
		}
		_, vr, err := d.Vote(ctx, pr.Key(), choice)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Voted %s on %q (%s, signed by %s).", label, title, sanitize(vr.ID), sanitize(vr.Signer)), nil
	})
}

func (p *votesPane) skip(r voteRow) tea.Cmd {
	pr := r.q.Proposal
	title := sanitize(oneLine(pr.Title))
	return p.start(fmt.Sprintf("Setting %q aside…", title), func(ctx context.Context, _ *voteJob) (string, error) {
		d, err := p.open(ctx, nil)
		if err != nil {
			return "", err
		}
		if _, err := d.Dismiss(ctx, pr.Key()); err != nil {
			return "", err
		}
		return fmt.Sprintf("Skipped %q: it leaves the list and later runs pass it by (you can still vote with `sov dao vote`).", title), nil
	})
}

// onVotesMsg handles what a vote in the background reports.
func (a *App) onVotesMsg(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case votesApproveMsg:
		if !a.hasPane(m.job.pane) || m.job.pane.job != m.job {
			m.reply <- nil // the view is gone: nobody approves
			return m.job.wait()
		}
		a.panes = append(a.panes, &walletApprovePane{summary: m.summary, why: m.why, reply: m.reply})
		return m.job.wait()
	case votesDoneMsg:
		p := m.job.pane
		if p.job == m.job {
			p.job = nil
		}
		text, isErr := m.note, false
		if m.err != nil {
			text, isErr = votesErrText(m.err), true
		}
		if !a.hasPane(p) {
			// Closed meanwhile: what happened still matters.
			if isErr {
				a.chat.errorf("DAO votes: " + text)
			} else {
				a.chat.notice(text)
			}
			return nil
		}
		if err := p.reload(); err != nil && !isErr {
			text, isErr = votesErrText(err), true
		}
		p.note, p.noteErr, p.mode = text, isErr, votesList
		return nil
	}
	return nil
}

func (a *App) hasPane(p Pane) bool {
	for _, q := range a.panes {
		if q == p {
			return true
		}
	}
	return false
}

// votesErrText is err on one line with the way out, when there is one.
func votesErrText(err error) string {
	s := oneLine(err.Error())
	var re *wallet.RefusedError
	switch {
	case errors.Is(err, prompt.ErrNoSecret):
		return "the vote needs the wallet: set SOV_WALLET_PASSPHRASE before starting sov (the shell does not ask for it); nothing was voted"
	case errors.Is(err, dao.ErrNoPolicy):
		return s + ": write one with `sov dao policy new`, then run `sov dao run`"
	case errors.Is(err, dao.ErrNoAlias), errors.Is(err, dao.ErrAliasRevoked):
		return s + ": authorise it with `sov dao alias authorize`"
	case errors.Is(err, wallet.ErrNoWallet):
		return s + ": create one with `sov wallet init`"
	case errors.Is(err, dao.ErrBusy):
		return s + ": wait for it to finish"
	case errors.As(err, &re):
		return s + " (nothing was voted)"
	}
	return s
}

func (p *votesPane) Title() string { return "Votes" }

func (p *votesPane) ready() bool { return !time.Now().Before(p.readyAt) }

func (p *votesPane) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch p.mode {
	case votesChange:
		return p.updateChange(k)
	case votesExplain:
		switch k.String() {
		case "esc", "q", "e", "enter":
			p.mode = votesList
		case "up", "k":
			p.scroll = max(0, p.scroll-1)
		case "down", "j":
			p.scroll = min(max(0, len(p.explain)-1), p.scroll+1)
		case "pgup":
			p.scroll = max(0, p.scroll-10)
		case "pgdown":
			p.scroll = min(max(0, len(p.explain)-1), p.scroll+10)
		}
		return nil
	}
	switch k.String() {
	case "esc", "q":
		if p.job != nil {
			p.job.cancel() // a vote already sent stays sent; its outcome goes to the chat
		}
		return msgCmd(closePaneMsg{})
	case "up", "k":
		p.sel = max(0, p.sel-1)
		return nil
	case "down", "j":
		p.sel = max(0, min(len(p.rows)-1, p.sel+1))
		return nil
	case "a", "c", "s", "e", "enter":
	default:
		return nil
	}
	if !p.ready() || len(p.rows) == 0 {
		return nil
	}
	r := p.rows[p.sel]
	if k.String() == "e" || k.String() == "enter" {
		p.showExplain(r)
		return nil
	}
	if p.job != nil {
		p.note, p.noteErr = "Wait for the vote in progress to finish.", false
		return nil
	}
	switch k.String() {
	case "a":
		if r.q.Decision.Choice == nil {
			p.note, p.noteErr = "The delegate drafted no choice here ("+string(r.q.Decision.Action)+"): press c to pick one.", false
			return nil
		}
		return p.vote(r, nil)
	case "c":
		pr := r.q.Proposal
		switch pr.Type {
		case dao.SingleChoice, dao.Basic:
			p.choices = pr.Choices
		case dao.Governor:
			p.choices = dao.GovernorChoices
		default:
			p.note, p.noteErr = fmt.Sprintf("A %s vote is changed at the command line: sov dao vote %s CHOICE", pr.Type, sanitize(pr.ID)), false
			return nil
		}
		p.choiceSel = 0
		if c := r.q.Decision.Choice; c != nil {
			p.choiceSel = c.Index
			if pr.Type != dao.Governor {
				p.choiceSel--
			}
		}
		p.choiceSel = max(0, min(len(p.choices)-1, p.choiceSel))
		p.mode = votesChange
		return nil
	case "s":
		return p.skip(r)
	}
	return nil
}

func (p *votesPane) updateChange(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		p.mode = votesList
	case "up", "k":
		p.choiceSel = max(0, p.choiceSel-1)
	case "down", "j":
		p.choiceSel = max(0, min(len(p.choices)-1, p.choiceSel+1))
	case "enter":
		if len(p.rows) == 0 || len(p.choices) == 0 || p.job != nil {
			return nil
		}
		r := p.rows[p.sel]
		c := dao.Choice{Type: r.q.Proposal.Type, Index: p.choiceSel}
		if c.Type != dao.Governor {
			c.Index++ // Snapshot counts options from 1
		}
		if err := c.Validate(r.q.Proposal); err != nil {
			p.note, p.noteErr = votesErrText(err), true
			return nil
		}
		p.mode = votesList
		return p.vote(r, &c)
	}
	return nil
}

// showExplain is what `sov dao explain` shows for r.
func (p *votesPane) showExplain(r voteRow) {
	d, err := p.open(p.ctx, nil)
	var e dao.Explanation
	if err == nil {
		e, err = d.Explain(r.q.Proposal.Key())
	}
	if err != nil {
		p.note, p.noteErr = votesErrText(err), true
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n", e.Proposal.Key(), oneLine(e.Proposal.Title))
	if dec := e.Decision; dec == nil {
		b.WriteString("not decided yet: run `sov dao run`\n")
	} else {
		fmt.Fprintf(&b, "decision: %s by %s (%s), confidence %.2f\n", dec.Action, dec.By, dec.Why, dec.Confidence)
		if dec.Choice != nil {
			fmt.Fprintf(&b, "choice: %s (%s)\n", oneLine(dec.Choice.Label(e.Proposal)), dec.Choice)
		}
		for _, c := range e.Clauses {
			fmt.Fprintf(&b, "clause %s\n", c)
		}
		fmt.Fprintf(&b, "rationale: %s\n", dec.Rationale)
		if !dec.NotBefore.IsZero() {
			fmt.Fprintf(&b, "cast no earlier than %s\n", dec.NotBefore.Local().Format(time.RFC3339))
		}
	}
	for _, v := range e.Votes {
		fmt.Fprintf(&b, "voted %s by %s at %s (%s)\n", v.Choice, v.By, v.At.Local().Format(time.RFC3339), v.ID)
	}
	if e.Seen != "" {
		fmt.Fprintf(&b, "--- what the model saw ---\n%s", e.Seen)
	}
	p.explain = strings.Split(strings.TrimRight(sanitize(b.String()), "\n"), "\n")
	p.scroll, p.mode = 0, votesExplain
}

func (p *votesPane) View(t Theme, width, height int) []string {
	if p.mode == votesChange && len(p.rows) == 0 {
		p.mode = votesList
	}
	waiting := 0
	for _, r := range p.rows {
		if r.waiting {
			waiting++
		}
	}
	out := []string{t.Accent.Render(truncate(fmt.Sprintf("Pending votes · %d to decide, %d waiting for their review window", len(p.rows)-waiting, waiting), width))}
	hint := "a approve · c change · s skip · e explain · esc close"
	switch p.mode {
	case votesChange:
		hint = "enter vote this choice · esc back"
	case votesExplain:
		hint = "↑/↓ scroll · esc back"
	}
	out = append(out, t.Dim.Render(truncate(hint, width)))
	if p.note != "" {
		style := t.Notice
		if p.noteErr {
			style = t.Error
		}
		for _, l := range wrapPlain(p.note, max(1, width-2)) {
			out = append(out, style.Render(truncate(l, width)))
		}
	}
	out = append(out, "")
	body := max(0, height-len(out))
	switch p.mode {
	case votesExplain:
		var lines []string
		for _, l := range p.explain {
			lines = append(lines, wrapPlain(l, max(1, width-2))...)
		}
		p.scroll = min(p.scroll, max(0, len(lines)-1))
		for i := p.scroll; i < len(lines) && len(out) < height; i++ {
			out = append(out, "  "+lines[i])
		}
		return out
	case votesChange:
		r := p.rows[p.sel]
		out = append(out, truncate("  "+sanitize(oneLine(r.q.Proposal.Title)), width), "")
		for i, c := range p.choices {
			line := truncate(fmt.Sprintf("  %d. %s", i+1, sanitize(oneLine(c))), width)
			if r.q.Proposal.Type == dao.Governor {
				line = truncate("  "+c, width)
			}
			if i == p.choiceSel {
				line = t.Selected.Render(line)
			}
			out = append(out, line)
		}
		return out
	}
	if len(p.rows) == 0 {
		out = append(out, t.Notice.Render(truncate("  Nothing waits for you. `sov dao run` syncs and decides; drafts for you land here.", width)))
		return out
	}
	// Two lines a proposal: where and what, then the draft.
	per := 2
	rows := max(1, body/per)
	if p.sel < p.top {
		p.top = p.sel
	}
	if p.sel >= p.top+rows {
		p.top = p.sel - rows + 1
	}
	for i := p.top; i < len(p.rows) && i < p.top+rows; i++ {
		r := p.rows[i]
		pr, dec := r.q.Proposal, r.q.Decision
		mark := "  "
		if i == p.sel {
			mark = "› "
		}
		head := truncate(fmt.Sprintf("%s%s %s · %s", mark, pr.Source, sanitize(pr.Space), sanitize(oneLine(pr.Title))), width)
		if i == p.sel {
			head = t.Selected.Render(head)
		}
		out = append(out, head, t.Dim.Render(truncate("    "+draftText(r, dec), width)))
	}
	return out
}

// draftText is a row's decision on one line: the draft (or why none),
// how sure and on what grounds, and the deadline.
func draftText(r voteRow, dec dao.Decision) string {
	pr := r.q.Proposal
	var parts []string
	switch {
	case r.waiting:
		parts = append(parts, fmt.Sprintf("auto-cast %s from %s", sanitize(oneLine(dec.Choice.Label(pr))), dec.NotBefore.Local().Format("Jan 02 15:04")))
	case dec.Choice != nil:
		parts = append(parts, fmt.Sprintf("%s: %s", dec.Action, sanitize(oneLine(dec.Choice.Label(pr)))))
	default:
		parts = append(parts, fmt.Sprintf("%s: %s", dec.Action, sanitize(oneLine(dec.Why))))
	}
	parts = append(parts, "ends "+pr.End.Local().Format("Jan 02 15:04"), fmt.Sprintf("confidence %.2f by %s", dec.Confidence, dec.By))
	if len(dec.Clauses) > 0 {
		parts = append(parts, "clauses "+sanitize(strings.Join(dec.Clauses, ", ")))
	}
	return strings.Join(parts, " · ")
}

// walletApprovePane asks for the wallet passphrase to approve what the
// wallet's policy asks about: the same question the CLI asks at its
// terminal. The passphrase is never shown and is wiped once given.
type walletApprovePane struct {
	summary, why string
	pass         []rune
	reply        chan []byte
	sent         bool
}

func (p *walletApprovePane) Title() string { return "Wallet" }

func (p *walletApprovePane) answer(b []byte) tea.Cmd {
	if !p.sent {
		p.sent = true
		p.reply <- b
	}
	for i := range p.pass {
		p.pass[i] = 0
	}
	p.pass = nil
	return msgCmd(closePaneMsg{})
}

func (p *walletApprovePane) Update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case tea.PasteMsg:
		p.pass = append(p.pass, []rune(strings.TrimRight(m.Content, "\r\n"))...)
	case tea.KeyPressMsg:
		switch m.String() {
		case "enter":
			if len(p.pass) == 0 {
				return p.answer(nil) // nothing typed: declined, as at the CLI
			}
			return p.answer([]byte(string(p.pass)))
		case "esc":
			return p.answer(nil)
		case "backspace":
			if len(p.pass) > 0 {
				p.pass[len(p.pass)-1] = 0
				p.pass = p.pass[:len(p.pass)-1]
			}
		default:
			if m.Text != "" {
				p.pass = append(p.pass, []rune(m.Text)...)
			}
		}
	}
	return nil
}

func (p *walletApprovePane) View(t Theme, width, height int) []string {
	body := max(1, width-4)
	out := []string{t.Accent.Render(truncate("The wallet asks for your approval", width)), ""}
	for _, l := range wrapPlain(p.summary, body) {
		out = append(out, "  "+l)
	}
	out = append(out, "")
	for _, l := range wrapPlain("Approval needed: "+p.why+".", body) {
		out = append(out, "  "+l)
	}
	out = append(out, "", truncate("  Type the wallet passphrase to approve: "+strings.Repeat("•", len(p.pass))+"▌", width),
		"", t.Dim.Render(truncate("  enter approve (empty declines) · esc decline", width)))
	return out
}
