// Package app is sov's composition root. From the data directory and the
// configuration it builds the services every front end shares: the ledger
// and its signer, models whose calls are recorded, the model store and the
// user's wallet session. The CLI and the shell are wired through it, and
// agents and the server are to be, so each service is put together one
// way. Front ends keep their flags, prompts and rendering.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/paths"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/wallet"
)

// Environment variables that hold passphrases. Background recording reads
// them and never asks.
const (
	EnvLedgerPassphrase = "SOV_LEDGER_PASSPHRASE"
	EnvWalletPassphrase = "SOV_WALLET_PASSPHRASE"
	EnvFeedsPassphrase  = "SOV_FEEDS_PASSPHRASE"
)

// App is one invocation's view of sov's state. The zero value is not
// usable: build one with Load.
type App struct {
	Paths  paths.Paths
	Config *config.File
	Getenv func(string) string
	// Warn hears what is worth saying but not fatal: an entry left
	// unsigned, a call that could not be recorded. Nil drops it.
	Warn func(msg string)
}

// Load resolves the data directory from the environment and reads the
// configuration file.
func Load(getenv func(string) string) (*App, error) {
	p, err := paths.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(p.ConfigFile())
	if err != nil {
		return nil, err
	}
	return &App{Paths: p, Config: cfg, Getenv: getenv}, nil
}

func (a *App) warnf(format string, args ...any) {
	if a.Warn != nil {
		a.Warn(fmt.Sprintf(format, args...))
	}
}

// Ledger is the signed ledger every model call, tool call, permission
// decision, payment and vote is written to.
func (a *App) Ledger() *ledger.Ledger { return ledger.Open(a.Paths.Sub("ledger")) }

// Passphrases say where the ledger's key is unlocked from: the ledger's own
// passphrase (confirm: one being chosen), and the wallet's.
type Passphrases struct {
	Ledger func(confirm bool) ([]byte, error)
	Wallet func() ([]byte, error)
}

// LedgerSigner unlocks the ledger's signing key: derived from the wallet's
// seed when a wallet exists, else the ledger's own sealed key, made on
// first use with create (see ledger.Unlock).
func (a *App) LedgerSigner(pass Passphrases, create bool) (*ledger.Signer, error) {
	keys := ledger.Keys{Passphrase: pass.Ledger}
	if st := wallet.OpenStore(a.Paths.Sub("wallet")); st.Exists() {
		keys.Wallet = func() (ed25519.PrivateKey, error) { return st.LedgerKeyWith(pass.Wallet) }
	}
	return a.Ledger().Unlock(keys, create)
}

// envSecret reads a secret from the environment only.
func (a *App) envSecret(env string) []byte {
	if v := a.Getenv(env); v != "" {
		return []byte(v)
	}
	return nil
}

// AutoSigner signs entries written in the background when a passphrase is
// in the environment; otherwise it is nil and entries stay unsigned until
// the next checkpoint covers them. A wrong passphrase is warned about, and
// the entry is still written.
func (a *App) AutoSigner() *ledger.Signer {
	env := func(name string) func() ([]byte, error) {
		return func() ([]byte, error) {
			if b := a.envSecret(name); b != nil {
				return b, nil
			}
			return nil, fmt.Errorf("%w: set %s", prompt.ErrNoSecret, name)
		}
	}
	ledgerPass := env(EnvLedgerPassphrase)
	s, err := a.LedgerSigner(Passphrases{Ledger: func(bool) ([]byte, error) { return ledgerPass() }, Wallet: env(EnvWalletPassphrase)}, false)
	if err != nil && !errors.Is(err, prompt.ErrNoSecret) && !errors.Is(err, ledger.ErrNoKey) {
		a.warnf("the ledger entry is unsigned: %v", err)
	}
	return s
}

// RecordCall writes one model call to the ledger for principal, keeping its
// input and output for replay, and returns the entry's number. Failing to
// record is warned about, never fatal: the answer has been shown already.
func (a *App) RecordCall(ctx context.Context, principal string, eng generate.Engine, res generate.Result) *uint64 {
	e, err := generate.Record(context.WithoutCancel(ctx), a.Ledger(), a.AutoSigner(), principal, eng, res, true)
	if err != nil {
		a.warnf("the call was not recorded in the ledger: %v", err)
		return nil
	}
	return &e.Seq
}

// Recorded wraps m so each of its calls is in the ledger by digest only:
// prompts may hold vault passages, which never leave the vault in the
// clear.
func (a *App) Recorded(principal string) func(model.LLM) model.LLM {
	return func(m model.LLM) model.LLM {
		return &generate.Recording{LLM: m, Ledger: a.Ledger(), Signer: a.AutoSigner(), Principal: principal,
			OnError: func(err error) { a.warnf("a model call was not recorded in the ledger: %v", err) }}
	}
}

// RecordConversations records, for principal, every answer published to
// evs; modelPath names the model file answering ("" while none is). The
// returned stop, called once evs is closed, waits for the rest and warns
// about answers that could not be recorded.
func (a *App) RecordConversations(ctx context.Context, evs *conversation.Events, principal string, modelPath func() string) (stop func()) {
	wait := generate.RecordConversations(ctx, evs, a.Ledger(), a.AutoSigner(), principal, modelPath)
	return func() {
		if n := wait(); n > 0 {
			a.warnf("%d answers could not be recorded in the ledger (verify it)", n)
		}
	}
}

// Models is the model store.
func (a *App) Models() *store.Store { return store.New(a.Paths.Models()) }

// ModelPath resolves a model name or GGUF path: name, else SOV_MODEL, else
// the configured default, else the only installed model (store.ResolveFor).
func (a *App) ModelPath(name string) (string, error) {
	return store.ResolveFor(a.Paths, a.Config, name, a.Getenv)
}

// DraftModelPath resolves a draft model's name or GGUF path: "" for none,
// and no default applies.
func (a *App) DraftModelPath(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	return a.ModelPath(name)
}

// Wallet is the user's wallet, recording in the ledger.
func (a *App) Wallet() *wallet.Wallet {
	return wallet.New(a.Paths.Sub("wallet"), wallet.WithLedger(a.Ledger()))
}

// WalletSession opens the user's session on the wallet over the configured
// networks: caller names the front end, approve and interactive say who
// can approve (nil, false: nobody), pass unlocks the keys when a request is
// allowed. An old audit log is first moved into the ledger (a damaged one
// is warned about).
func (a *App) WalletSession(ctx context.Context, caller string, approve wallet.Approver, interactive bool, pass wallet.Passphrase) (*wallet.Session, error) {
	nets, err := wallet.LoadNetworks(a.Config)
	if err != nil {
		return nil, err
	}
	w := a.Wallet()
	if _, err := w.MigrateAudit(ctx); err != nil {
		a.warnf("%v (see the wallet's audit)", err)
	}
	return w.NewSession(wallet.SessionConfig{Caller: caller, Approver: approve, Interactive: interactive, Networks: nets,
		Unlock: w.Store().Unlocker(pass)}), nil
}

// Generate loads the model file o.Path, runs prep on it streaming to fn
// and records the call for principal: how a headless generation runs, for
// the CLI and, next, the server and agents. A load that fails is not a
// call and is not recorded; a run that fails is, with what it wrote.
func (a *App) Generate(ctx context.Context, prep *generate.Prepared, o model.Options, principal string, fn model.TokenFunc) (generate.Result, *uint64, error) {
	o.TrimMemory = true
	if o.Warn == nil {
		o.Warn = func(msg string) { a.warnf("%s", msg) }
	}
	eng, err := model.Load(ctx, o)
	if err != nil {
		return generate.Result{}, nil, err
	}
	defer eng.Close()
	if w := eng.Info().TemplateWarning; w != "" {
		o.Warn(w)
	}
	res, err := prep.Run(ctx, eng, fn)
	entry := a.RecordCall(ctx, principal, generate.Engine{ModelPath: o.Path, ContextSize: o.ContextSize, Threads: o.Threads, FlashAttn: o.FlashAttn}, res)
	return res, entry, err
}
