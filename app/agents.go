package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/mcptools"
	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/chat/lazymodel"
	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
	"github.com/sovos/sov/wallet"
)

// Agents is the user's agent files ($SOV_HOME/agents), checked against
// sov's tools.
func (a *App) Agents() *agents.Store {
	return &agents.Store{Dir: a.Paths.Sub("agents"), Tools: tools.Lookup}
}

// AgentHistory is the list of every agent run, beside the agent files.
func (a *App) AgentHistory() agents.History { return agents.History{Dir: a.Paths.Sub("agents")} }

// AgentWorkspace is agent name's own folder: the workspace tools read and
// write inside it only.
func (a *App) AgentWorkspace(name string) string {
	return filepath.Join(a.Paths.Sub("workspaces"), name)
}

// AgentTranscripts opens agent name's transcripts: one conversation per
// run. Two runs of one agent at once wait for each other's store up to
// timeout, then fail with a *conversation.LockedError.
func (a *App) AgentTranscripts(name string, timeout time.Duration) (*conversation.Store, error) {
	return conversation.Open(filepath.Join(a.Paths.Sub("transcripts"), name), timeout)
}

// LazyModel is model name (or the default model), loaded on first use,
// its calls recorded in the ledger for principal.
func (a *App) LazyModel(name, what, principal string) *lazymodel.Model {
	return &lazymodel.Model{What: what, Path: func() (string, error) { return a.ModelPath(name) }, Wrap: a.Recorded(principal), DigestDir: a.Ledger().Dir()}
}

// AgentTools are sov's own tools that agent ag lists, in its order (its
// MCP servers' tools come from AgentMCPTools).
func (a *App) AgentTools(ag *agents.Agent) ([]tools.Tool, error) {
	var out []tools.Tool
	seen := map[string]bool{}
	for _, r := range ag.Tools {
		if _, _, isMCP := agents.SplitMCPTool(r.Name); seen[r.Name] || isMCP {
			continue // an MCP tool comes from its server (AgentMCPTools)
		}
		seen[r.Name] = true
		t, ok := tools.Lookup(r.Name)
		if !ok {
			return nil, fmt.Errorf("agent %s: %w: %s", ag.Name, agents.ErrUnknownTool, r.Name)
		}
		out = append(out, t)
	}
	return out, nil
}

// ErrVaultLocked: the agent uses the vault and no passphrase was given.
var ErrVaultLocked = errors.New("the agent uses the vault, which is locked")

// AgentEnvOptions say what the session starting a run gives it: who
// started it, the secrets it may unlock, and who approves.
type AgentEnvOptions struct {
	Caller string // the front end: cli, tui, daemon, mcp
	// Vault unlocks the vault for an agent that lists vault tools; nil: the
	// run cannot start (ErrVaultLocked).
	Vault vault.Passphrase
	// Wallet unlocks the wallet's keys for a payment the grant allows;
	// WalletApprover and Interactive are the session's own approval (nil,
	// false: nobody, and payments above the approval threshold fail).
	Wallet         wallet.Passphrase
	WalletApprover wallet.Approver
	Interactive    bool
	// AskUser answers agent.ask_user; nil: headless.
	AskUser func(ctx context.Context, question string) (string, error)
	// Model generates for vault.ask and feeds.digest (recorded in the
	// ledger for the agent); nil: those tools are unavailable.
	Model model.LLM
	// Lifetime bounds the wallet grant (the run's wall-clock budget).
	Lifetime time.Duration
}

func uses(ag *agents.Agent, prefix string) bool {
	for _, r := range ag.Tools {
		if strings.HasPrefix(r.Name, prefix) {
			return true
		}
	}
	return false
}

// AgentEnv builds what agent ag's tools may use, scoped to it: its
// workspace, the vault (when it lists vault tools), stored feeds, the
// ledger, and a wallet grant minted by the starting session with the
// agent file's [spend] limits (none: no grant). close releases it all and
// revokes the grant.
func (a *App) AgentEnv(ctx context.Context, ag *agents.Agent, o AgentEnvOptions) (env *tools.Env, closeEnv func(), err error) {
	principal := "agent:" + ag.Name
	env = &tools.Env{Agent: ag.Name, Workspace: a.AgentWorkspace(ag.Name), Ledger: a.Ledger(), Signer: a.AutoSigner(),
		Feeds: feeds.Lister(a.Paths.Sub("feeds"), a.Config), AskUser: o.AskUser}
	if o.Model != nil {
		env.Model = a.Recorded(principal)(o.Model)
	}
	var closers []func()
	release := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil { // the named results are nil by then: release what was opened
			release()
		}
	}()
	if uses(ag, "vault.") {
		if o.Vault == nil {
			return nil, nil, fmt.Errorf("agent %s: %w", ag.Name, ErrVaultLocked)
		}
		cfg, err := vault.LoadConfig(a.Config)
		if err != nil {
			return nil, nil, err
		}
		vo := cfg.Options()
		vo.IdleTimeout = 0
		if cfg.EmbedModel != "" {
			emb := a.LazyModel(cfg.EmbedModel, "embedding model", principal)
			closers = append(closers, func() { emb.Close() })
			vo.Embedder = emb
		}
		pass, err := o.Vault()
		if err != nil {
			return nil, nil, fmt.Errorf("agent %s: %w: %w", ag.Name, ErrVaultLocked, err)
		}
		v, err := vault.Open(ctx, a.Paths.Sub("vault"), pass, vo)
		clear(pass)
		if err != nil {
			return nil, nil, fmt.Errorf("agent %s: open the vault: %w", ag.Name, err)
		}
		closers = append(closers, func() { v.Close() })
		env.Vault = v
	}
	if uses(ag, "brand.") {
		env.Brands = func(ctx context.Context) (brand.Directory, error) { return a.Brands(ctx, nil) }
	}
	if uses(ag, "dao.") {
		env.DAO = func(ctx context.Context) (*dao.Delegate, error) {
			d, _, err := a.DAODelegate(ctx, DAOOptions{Caller: principal, Model: ag.Model, Wallet: o.Wallet,
				Approve: o.WalletApprover, Interactive: o.Interactive, Feeds: a.FromEnv(EnvFeedsPassphrase)})
			return d, err
		}
	}
	if (uses(ag, "wallet.") || uses(ag, "brand.")) && ag.Spend != nil && wallet.OpenStore(a.Paths.Sub("wallet")).Exists() {
		s, err := a.WalletSession(ctx, o.Caller, o.WalletApprover, o.Interactive, o.Wallet)
		if err != nil {
			return nil, nil, err
		}
		l := wallet.Limits{PerTx: ag.Spend.PerTx, PerDay: ag.Spend.PerRun, ApproveAbove: ag.Spend.ApproveAbove,
			Networks: ag.Spend.Networks, Payees: ag.Spend.Payees}
		if o.Lifetime > 0 {
			l.Expires = time.Now().Add(o.Lifetime + time.Minute)
		}
		g, err := s.Grant(principal, l)
		if err != nil {
			return nil, nil, fmt.Errorf("agent %s: the wallet grant: %w", ag.Name, err)
		}
		closers = append(closers, func() {
			if err := s.RevokeGrant(g.ID()); err != nil {
				a.warnf("the grant %s of agent %s was not revoked (it expires by itself): %v", g.ID(), ag.Name, err)
			}
		})
		env.Wallet = g
	}
	return env, release, nil
}

// ApproveTools asks a person about MCP tools that are new or changed since
// they approved them; true approves them all.
type ApproveTools func(ctx context.Context, changes []mcptools.Change) (bool, error)

// AgentMCPTools starts the MCP servers agent ag uses and returns their
// approved tools; close stops the servers. Tools that are new or changed
// since approved go to approve (nil: headless, and the error is a
// *mcptools.PendingError, which matches agents.ErrNeedsApproval).
func (a *App) AgentMCPTools(ctx context.Context, ag *agents.Agent, approve ApproveTools) (ts []tools.Tool, closeSet func(), err error) {
	if len(ag.MCP) == 0 {
		return nil, func() {}, nil
	}
	set, err := mcptools.Open(ctx, ag, mcptools.NewApprovals(a.Paths.Sub("agents")), nil)
	if err != nil {
		return nil, nil, err
	}
	closeSet = func() {
		if err := set.Close(); err != nil {
			a.warnf("agent %s's MCP servers: %v", ag.Name, err)
		}
	}
	if pending := set.Pending(); len(pending) > 0 {
		ok := false
		if approve != nil {
			ok, err = approve(ctx, pending)
		}
		if err == nil && ok {
			err = set.Approve(pending)
		} else if err == nil {
			err = set.Check()
		}
		if err != nil {
			closeSet()
			return nil, nil, err
		}
	}
	return set.Tools(), closeSet, nil
}

// AgentRun is one run of a user's agent, as a front end starts it.
type AgentRun struct {
	Agent *agents.Agent
	// Input is the person's request (and Tainted: it holds outside text,
	// such as a piped document); Cron, the event of a scheduled run.
	Input   string
	Tainted bool
	Cron    *agents.InputEvent
	// Approver asks a person about "ask" calls; nil: headless, and only
	// the tools PreApproved names may make them.
	Approver    agents.Approver
	PreApproved []string
	// ApproveTools asks about MCP tools new or changed since approved; nil:
	// the run does not start while any is (agents.ErrNeedsApproval).
	ApproveTools ApproveTools
	Events       agents.Sink
	Env          AgentEnvOptions
	// Engine is how the model is loaded (all but Path, which comes from the
	// agent file or the default model).
	Engine model.Options
	// Engines shares loaded models with other runs; nil: the model is
	// loaded for this run alone.
	Engines *Engines
}

// Engines shares loaded models among concurrent runs (the scheduler's):
// runs of agents on the same model file load it once, each decoding in a
// session of its own. A model is unloaded when its last run ends. The
// zero value is ready to use; a nil *Engines loads per run.
type Engines struct {
	mu sync.Mutex
	m  map[string]*sharedEngine
}

type sharedEngine struct {
	eng  *model.Engine
	refs int
}

// get loads o.Path, or shares the copy already loaded (with the options it
// was loaded with); release gives it back.
func (p *Engines) get(ctx context.Context, o model.Options) (*model.Engine, func(), error) {
	if p == nil {
		eng, err := model.Load(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		return eng, func() { eng.Close() }, nil
	}
	// Loading under the lock: two runs that need one model wait for one
	// load rather than making two.
	p.mu.Lock()
	defer p.mu.Unlock()
	se := p.m[o.Path]
	if se == nil {
		eng, err := model.Load(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		se = &sharedEngine{eng: eng}
		if p.m == nil {
			p.m = map[string]*sharedEngine{}
		}
		p.m[o.Path] = se
	}
	se.refs++
	var once sync.Once
	return se.eng, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if se.refs--; se.refs == 0 {
				delete(p.m, o.Path)
				se.eng.Close()
			}
		})
	}, nil
}

// RunAgent loads the agent's model, builds its tools' environment and runs
// it, saving the transcript and recording the run in the history. err is
// for what kept the run from starting; how it ended is in the Outcome.
func (a *App) RunAgent(ctx context.Context, r AgentRun) (agents.Outcome, error) {
	ag := r.Agent
	if err := checkPreApproved(ag, r.PreApproved); err != nil {
		return agents.Outcome{}, err
	}
	ts, err := a.AgentTools(ag)
	if err != nil {
		return agents.Outcome{}, err
	}
	o := r.Engine
	if o.Path, err = a.ModelPath(ag.Model); err != nil {
		return agents.Outcome{}, err
	}
	o.TrimMemory = true
	if o.Warn == nil {
		o.Warn = func(msg string) { a.warnf("%s", msg) }
	}
	mcpTools, closeMCP, err := a.AgentMCPTools(ctx, ag, r.ApproveTools)
	if err != nil {
		return agents.Outcome{}, err
	}
	defer closeMCP()
	ts = append(ts, mcpTools...)
	transcripts, err := a.AgentTranscripts(ag.Name, 10*time.Second)
	if err != nil {
		return agents.Outcome{}, fmt.Errorf("agent %s's transcripts: %w", ag.Name, err)
	}
	defer transcripts.Close()
	eng, release, err := r.Engines.get(ctx, o)
	if err != nil {
		return agents.Outcome{}, err
	}
	defer release()
	sess, toolSess := eng.NewSession(), eng.NewSession()
	defer sess.Close()
	defer toolSess.Close()
	eo := r.Env
	eo.Model = toolSess
	if eo.Lifetime == 0 {
		eo.Lifetime = cmpDuration(ag.Budget.Wall, agents.DefaultBudget.Wall)
	}
	env, closeEnv, err := a.AgentEnv(ctx, ag, eo)
	if err != nil {
		return agents.Outcome{}, err
	}
	defer closeEnv()
	in := agents.InputEvent{Type: "prompt"}
	if r.Cron != nil {
		in = *r.Cron
	}
	started := time.Now()
	out := agents.Run(ctx, agents.RunConfig{
		Agent: ag, Model: sess, ModelPath: o.Path, Tools: ts, Env: env,
		Approver: r.Approver, PreApproved: r.PreApproved, Events: r.Events,
		Input: r.Input, Cron: r.Cron, Tainted: r.Tainted, Transcript: transcripts,
	})
	if out.Run != "" {
		if err := a.AgentHistory().Add(agents.Summary(ag.Name, eo.Caller, started, in, out)); err != nil {
			a.warnf("%v", err)
		}
	}
	return out, nil
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ErrNotListed: a pre-approval names a tool the agent does not list.
var ErrNotListed = errors.New("the agent does not list that tool")

func checkPreApproved(ag *agents.Agent, names []string) error {
	for _, n := range names {
		if !slices.ContainsFunc(ag.Tools, func(r agents.ToolRule) bool { return r.Name == n }) {
			return fmt.Errorf("%s: %w (agent %s)", n, ErrNotListed, ag.Name)
		}
	}
	return nil
}

// AgentRunLog is one run as `sov agents log NAME RUN` shows it: its
// summary, its transcript and its ledger entries.
type AgentRunLog struct {
	Run        agents.RunSummary      `json:"run"`
	Transcript []conversation.Message `json:"transcript"`
	Ledger     []LedgerLine           `json:"ledger"`
}

// LedgerLine is a ledger entry's facts (never content).
type LedgerLine struct {
	Seq    uint64         `json:"seq"`
	Kind   string         `json:"kind"`
	Hash   string         `json:"hash"`
	Signed bool           `json:"signed"`
	Fields map[string]any `json:"fields"`
}

// AgentRunLog reads run r's transcript and the ledger entries its agent
// wrote for it.
func (a *App) AgentRunLog(r agents.RunSummary) (*AgentRunLog, error) {
	lg := &AgentRunLog{Run: r}
	if r.Transcript != "" {
		st, err := a.AgentTranscripts(r.Agent, 2*time.Second)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if _, lg.Transcript, err = st.Load(r.Transcript); err != nil {
			return nil, fmt.Errorf("run %s's transcript: %w", r.Run, err)
		}
	}
	es, err := a.Ledger().Entries()
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.Principal == "agent:"+r.Agent && e.Fields["run"] == r.Run {
			lg.Ledger = append(lg.Ledger, LedgerLine{e.Seq, e.Kind, e.Hash, e.Signed(), e.Fields})
		}
	}
	return lg, nil
}

// FromEnv reads the secret in environment variable name, never asking:
// for the daemon, the shell and the MCP server, which have no terminal to
// ask at.
func (a *App) FromEnv(name string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if b := a.envSecret(name); b != nil {
			return b, nil
		}
		return nil, fmt.Errorf("%w: set %s", prompt.ErrNoSecret, name)
	}
}

// EnvSecrets is an agent environment for caller whose vault and wallet
// passphrases come from SOV_VAULT_PASSPHRASE and EnvWalletPassphrase only
// (FromEnv): the daemon, the shell and the MCP server.
func (a *App) EnvSecrets(caller string) AgentEnvOptions {
	return AgentEnvOptions{Caller: caller, Vault: a.FromEnv("SOV_VAULT_PASSPHRASE"), Wallet: a.FromEnv(EnvWalletPassphrase)}
}

// AgentDaemon runs the scheduler over the user's agents until ctx ends
// (then it returns nil): due agents run headless, secrets from the
// environment only, overlapping runs on one model sharing it. A second
// scheduler is refused with a *agents.DaemonRunningError. started is
// called once the scheduler holds its lock.
func (a *App) AgentDaemon(ctx context.Context, notify func(agents.Notice), started func()) error {
	s, err := agents.OpenScheduler(a.Agents(), agents.ScheduleOptions{Notify: notify})
	if err != nil {
		return err
	}
	defer s.Close()
	if started != nil {
		started()
	}
	engines := new(Engines)
	env := a.EnvSecrets("daemon")
	err = s.Run(ctx, func(ctx context.Context, ag *agents.Agent, in agents.InputEvent) agents.Outcome {
		out, err := a.RunAgent(ctx, AgentRun{Agent: ag, Cron: &in, Engines: engines, Env: env})
		if err != nil {
			return agents.Outcome{Status: agents.StatusError, Err: err}
		}
		return out
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// InstallAgentDaemon writes the login service that starts `sov agents
// daemon` for this machine (agents.InstallDaemonUnits), for the running
// executable and this SOV_HOME.
func (a *App) InstallAgentDaemon(replace bool) ([]agents.UnitFile, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	cfg := cmp.Or(a.Getenv("XDG_CONFIG_HOME"), filepath.Join(home, ".config"))
	return agents.InstallDaemonUnits(exe, a.Getenv("SOV_HOME"), cfg, home, replace)
}
