package tui

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/daotest"
	"github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/wallet"
	"github.com/sovos/sov/wallet/wallettest"
)

// hostileTitle tries to take over the terminal from a proposal's title:
// a clipboard write, a screen clear, a window title, a bidi override.
const hostileTitle = "Team allocation \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b]0;pwned\x07\u202eevil"

// daoHome is a SOV_HOME with the test wallet imported, a policy following
// the loopback hub's space, the alias authorised and one delegate pass
// run (rules only): the team allocation hits the red line (a draft,
// Against), the treasury spend is abstained on (no model), the later
// grant waits for its review window. It returns the app of that home
// and one whose environment lacks the wallet passphrase.
func daoHome(t *testing.T) (withPass, noPass *app.App, hub *daotest.Hub) {
	t.Helper()
	home := t.TempDir()
	env := func(pass bool) func(string) string {
		return func(k string) string {
			switch {
			case k == "SOV_HOME":
				return home
			case k == app.EnvWalletPassphrase && pass:
				return wallettest.Pass
			}
			return ""
		}
	}
	withPass, err := app.Load(env(true))
	if err != nil {
		t.Fatal(err)
	}
	noPass, err = app.Load(env(false))
	if err != nil {
		t.Fatal(err)
	}
	w := wallet.New(withPass.Paths.Sub("wallet"), wallet.WithStoreOptions(wallet.WithKDF(func() (seal.KDF, error) { return seal.FastKDF(), nil })))
	if _, err := w.Store().Create(wallettest.Abandon, "", []byte(wallettest.Pass), false); err != nil {
		t.Fatal(err)
	}
	hub = daotest.NewHub(t,
		daotest.ActiveProposal("0xp1", hostileTitle, "We will mint new tokens for the team.", 10*time.Hour),
		daotest.ActiveProposal("0xp2", "Spend 2M from the treasury", "No audit.", 11*time.Hour),
		daotest.ActiveProposal("0xp3", "Public goods grant: tests", "Later.", 72*time.Hour))
	if err := os.MkdirAll(withPass.DAODir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(withPass.DAOPolicyPath(), []byte(daotest.Policy(daotest.PolicySpec{Hub: hub.URL})), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, v, err := withPass.DAODelegate(ctx, app.DAOOptions{Caller: "test", NoModel: true, Wallet: withPass.FromEnv(app.EnvWalletPassphrase)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AuthorizeAlias(ctx, v); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Run(ctx)
	if err != nil || len(rep.Cast) != 0 || len(rep.Queued) != 2 || len(rep.Waiting) != 1 {
		t.Fatalf("run: %+v %v", rep, err)
	}
	return withPass, noPass, hub
}

// pumpVotes delivers a vote's messages until it ends, or until the
// wallet asks the person (then that pane is open and the returned command
// continues the vote).
func pumpVotes(t *testing.T, a *App, cmd tea.Cmd) tea.Cmd {
	t.Helper()
	for cmd != nil {
		msgs, next := deliver(t, a, cmd)
		for _, m := range msgs {
			switch m.(type) {
			case votesDoneMsg:
				return nil
			case votesApproveMsg:
				return next
			}
		}
		cmd = next
	}
	return nil
}

// key sends a key to the shell and follows what it starts to its end.
func voteKey(t *testing.T, a *App, k string) {
	t.Helper()
	_, cmd := a.Update(keyMsg(k))
	if cmd := pumpVotes(t, a, cmd); cmd != nil {
		t.Fatalf("%s: the wallet asked unexpectedly:\n%s", k, frame(a))
	}
}

func openVotes(t *testing.T, a *App) *votesPane {
	t.Helper()
	typeText(a, "/votes")
	press(a, "enter")
	if len(a.panes) != 1 {
		t.Fatalf("no votes view:\n%s", frame(a))
	}
	return a.panes[0].(*votesPane)
}

// envelopeChoice is the choice a posted Snapshot vote carries.
func envelopeChoice(t *testing.T, env json.RawMessage) string {
	t.Helper()
	var e struct {
		Data struct {
			Message struct {
				Proposal string          `json:"proposal"`
				Choice   json.RawMessage `json:"choice"`
			} `json:"message"`
		} `json:"data"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	return e.Data.Message.Proposal + "=" + string(e.Data.Message.Choice)
}

// TestTUIVotesApproveSkipChange: /votes lists what the run left (the
// hostile title cleaned); a key typed as it opens does nothing; a casts
// the draft exactly as `sov dao vote ID --yes` (one envelope, the list
// shrinks), s sets the abstention aside, e explains, c then a choice casts
// that choice; esc closes.
func TestTUIVotesApproveSkipChange(t *testing.T) {
	core, _, hub := daoHome(t)
	envs := len(hub.Envelopes()) // the alias
	a := newTestApp(t, Options{DAO: core.ShellDAO}, 160, 30)
	p := openVotes(t, a)
	f := frame(a)
	for _, want := range []string{
		"Pending votes · 2 to decide, 1 waiting for their review window",
		"› snapshot sov.eth · Team allocation",
		"draft: Against · ends ",
		" · confidence 1.00 by rule · clauses no-token-mint",
		"snapshot sov.eth · Spend 2M from the treasury",
		"abstain: no rule settles it and no model is available",
		"snapshot sov.eth · Public goods grant: tests",
		"auto-cast For from",
		"a approve · c change · s skip · e explain · esc close",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("no %q in:\n%s", want, f)
		}
	}
	raw := a.View().Content
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\u202e", "\a", "pwned"} {
		if strings.Contains(raw, bad) {
			t.Errorf("hostile title text %q reached the terminal", bad)
		}
	}
	// An "a" typed for the chat as the view opened approves nothing.
	voteKey(t, a, "a")
	if n := len(hub.Envelopes()); n != envs || len(p.rows) != 3 {
		t.Fatalf("a voted before the grace: %d envelopes", n)
	}
	p.readyAt, p.grace = time.Time{}, 0

	voteKey(t, a, "a")
	got := hub.Envelopes()
	if len(got) != envs+1 || envelopeChoice(t, got[envs]) != "0xp1=2" {
		t.Fatalf("approve: %d envelopes, last %s", len(got), got[len(got)-1])
	}
	if f := frame(a); len(p.rows) != 2 || !strings.Contains(f, "Voted Against on \"Team allocation") || strings.Contains(f, "› snapshot sov.eth · Team") {
		t.Fatalf("after approve (%d rows):\n%s", len(p.rows), f)
	}

	// The abstention: nothing drafted to approve; s sets it aside.
	voteKey(t, a, "a")
	if f := frame(a); !strings.Contains(f, "drafted no choice") || len(hub.Envelopes()) != envs+1 {
		t.Fatalf("a on an abstention:\n%s", f)
	}
	voteKey(t, a, "s")
	if f := frame(a); len(p.rows) != 1 || !strings.Contains(f, `Skipped "Spend 2M from the treasury"`) || strings.Contains(f, "· Spend 2M") {
		t.Fatalf("after skip (%d rows):\n%s", len(p.rows), f)
	}
	d, err := core.ShellDAO(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q, _, err := d.Pending(); err != nil || len(q) != 0 {
		t.Fatalf("the skip is not recorded: %v %v", q, err)
	}

	// e explains the grant, as `sov dao explain` does.
	voteKey(t, a, "e")
	if f := frame(a); !strings.Contains(f, "clause public-goods-grants: for on") || !strings.Contains(f, "decision: cast by rule (auto_cast grants)") {
		t.Fatalf("explain:\n%s", f)
	}
	voteKey(t, a, "esc")
	if len(a.panes) != 1 || p.mode != votesList {
		t.Fatal("esc in the explanation closed the view")
	}

	// c: the choices, the draft's selected; down, enter casts Against.
	voteKey(t, a, "c")
	if f := frame(a); !strings.Contains(f, "1. For") || !strings.Contains(f, "3. Abstain") || p.choiceSel != 0 {
		t.Fatalf("change:\n%s", f)
	}
	voteKey(t, a, "down")
	voteKey(t, a, "enter")
	got = hub.Envelopes()
	if len(got) != envs+2 || envelopeChoice(t, got[envs+1]) != "0xp3=2" {
		t.Fatalf("change: %d envelopes, last %s", len(got), got[len(got)-1])
	}
	if f := frame(a); len(p.rows) != 0 || !strings.Contains(f, "Nothing waits for you") {
		t.Fatalf("after change:\n%s", f)
	}
	voteKey(t, a, "esc")
	if len(a.panes) != 0 {
		t.Fatalf("esc did not close the view:\n%s", frame(a))
	}
}

// TestTUIVotesNeedsWalletPassphrase: without SOV_WALLET_PASSPHRASE in
// the environment the shell does not ask for it: one line says so and
// nothing is voted.
func TestTUIVotesNeedsWalletPassphrase(t *testing.T) {
	_, noPass, hub := daoHome(t)
	envs := len(hub.Envelopes())
	a := newTestApp(t, Options{DAO: noPass.ShellDAO}, 160, 30)
	p := openVotes(t, a)
	p.readyAt, p.grace = time.Time{}, 0
	voteKey(t, a, "a")
	if n := len(hub.Envelopes()); n != envs || len(p.rows) != 3 {
		t.Fatalf("voted without the passphrase: %d envelopes", n)
	}
	if !p.noteErr || !strings.Contains(p.note, "set SOV_WALLET_PASSPHRASE before starting sov") || strings.Contains(p.note, "\n") {
		t.Fatalf("note %q", p.note)
	}
}

// TestTUIVotesUnavailable: a shell without the delegate, and one with no
// policy yet, say so in the chat.
func TestTUIVotesUnavailable(t *testing.T) {
	a := newTestApp(t, Options{}, 100, 12)
	typeText(a, "/votes")
	press(a, "enter")
	if len(a.panes) != 0 || !strings.Contains(frame(a), "not available") {
		t.Fatalf("no delegate:\n%s", frame(a))
	}
	home := t.TempDir()
	core, err := app.Load(func(k string) string {
		if k == "SOV_HOME" {
			return home
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	a = newTestApp(t, Options{DAO: core.ShellDAO}, 140, 12)
	typeText(a, "/votes")
	press(a, "enter")
	if f := frame(a); len(a.panes) != 0 || !strings.Contains(f, "no DAO policy yet") || !strings.Contains(f, "sov dao policy new") {
		t.Fatalf("no policy:\n%s", f)
	}
}

// approvingVoter is a Governor's voter that needs the person's approval,
// as the wallet's policy asks about a contract call it does not allow.
type approvingVoter struct {
	approve wallet.Approver
	got     chan []byte
}

func (v approvingVoter) Vote(ctx context.Context, p dao.Proposal, c dao.Choice, _ string) (dao.Receipt, error) {
	pass, err := v.approve(ctx, "castVoteWithReason("+c.String()+") on "+p.ID, "no rule allows this contract call")
	v.got <- pass
	if err != nil {
		return dao.Receipt{}, err
	}
	if string(pass) != "pw" {
		return dao.Receipt{}, errors.New("refused by wallet policy: declined")
	}
	return dao.Receipt{ID: "0xtx", Signer: "0xme"}, nil
}

// TestTUIVotesWalletApproval: an on-chain vote the wallet's policy asks
// about opens a passphrase pane (nothing typed is shown); enter gives the
// typed passphrase to the wallet, esc declines and nothing is voted.
func TestTUIVotesWalletApproval(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.toml")
	gov := "eip155:31337:0x00000000000000000000000000000000000000aa"
	if err := os.WriteFile(path, []byte(daotest.Policy(daotest.PolicySpec{Hub: "http://127.0.0.1:1/graphql", Governors: []string{gov}})), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := dao.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pr := dao.Proposal{Source: dao.SourceGovernor, Space: gov, ID: "77", Title: "Team allocation", Body: "mint new tokens",
		Choices: dao.GovernorChoices, Type: dao.Governor, Start: now.Add(-time.Hour), End: now.Add(10 * time.Hour), State: "active"}
	against := dao.Choice{Type: dao.Governor, Index: 0}
	got := make(chan []byte, 2)
	open := func(_ context.Context, approve wallet.Approver) (*dao.Delegate, error) {
		return &dao.Delegate{Dir: dir, Policy: pol, Voters: map[string]dao.Voter{dao.SourceGovernor: approvingVoter{approve, got}}}, nil
	}
	d, _ := open(context.Background(), nil)
	st, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	st.Proposals[pr.Key()] = pr
	st.Decisions[pr.Key()] = dao.Decision{Proposal: pr.Key(), Action: dao.Draft, Choice: &against, Confidence: 1, By: "rule", Clauses: []string{"no-token-mint"}}
	if err := d.Save(st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, typed, end string
		voted            bool
	}{
		{"declined", "", "esc", false},
		{"approved", "pw", "enter", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, Options{DAO: open}, 120, 24)
			p := openVotes(t, a)
			p.readyAt, p.grace = time.Time{}, 0
			_, cmd := a.Update(keyMsg("a"))
			cmd = pumpVotes(t, a, cmd)
			if cmd == nil || len(a.panes) != 2 {
				t.Fatalf("no approval pane:\n%s", frame(a))
			}
			typeText(a, tc.typed)
			f := frame(a)
			if !strings.Contains(f, "castVoteWithReason(Against) on 77") || !strings.Contains(f, "Approval needed: no rule allows this contract call.") ||
				!strings.Contains(f, "passphrase to approve: "+strings.Repeat("•", len(tc.typed))+"▌") {
				t.Fatalf("approval pane:\n%s", f)
			}
			if tc.typed != "" && strings.Contains(f, tc.typed+"▌") {
				t.Fatal("the passphrase is shown")
			}
			_, next := a.Update(keyMsg(tc.end))
			for next != nil { // the pane closes
				_, next = deliver(t, a, next)
			}
			if pass := <-got; string(pass) != tc.typed {
				t.Fatalf("the wallet got %q", pass)
			}
			if pumpVotes(t, a, cmd) != nil {
				t.Fatal("asked twice")
			}
			f = frame(a)
			if tc.voted != strings.Contains(f, "Voted Against on \"Team allocation\" (0xtx, signed by 0xme)") || tc.voted != (len(p.rows) == 0) {
				t.Fatalf("after %s (%d rows):\n%s", tc.end, len(p.rows), f)
			}
			if !tc.voted && !strings.Contains(f, "declined") {
				t.Fatalf("no refusal shown:\n%s", f)
			}
		})
	}
}
