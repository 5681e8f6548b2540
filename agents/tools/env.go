package tools

import (
	"context"
	"errors"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
	"github.com/sovos/sov/wallet"
)

// Env is what one run gives its tools, scoped to the agent by the user's
// session that started the run. A nil capability means the run does not
// have it, and the tools that need it say so.
type Env struct {
	// Agent names the agent; in the ledger it is "agent:" + Agent.
	Agent string
	// Workspace is the agent's own folder: the workspace tools read and
	// write inside it only.
	Workspace string
	// Vault is the vault, open for this run.
	Vault Vault
	// Feeds lists stored feed items.
	Feeds func(feeds.ListOptions) ([]feeds.Item, error)
	// Wallet is the grant the user's session minted for this run: its
	// limits and approver are the session's, never the agent's.
	Wallet *wallet.Grant
	// Brands are the brands whose announcements are signed by keys the
	// user trusts (brand.ask calls no other); nil: unavailable.
	Brands func(ctx context.Context) (brand.Directory, error)
	// DAO opens the user's DAO delegate for this run (its policy, its
	// hub, votes through the wallet with the run's approver); nil:
	// unavailable. The caller closes it.
	DAO func(ctx context.Context) (*dao.Delegate, error)
	// Ledger records the run's notes (and, by the run loop, every call).
	Ledger *ledger.Ledger
	Signer *ledger.Signer
	// AskUser asks the person a question; nil when the run is headless.
	AskUser func(ctx context.Context, question string) (string, error)
	// Model is the run's model for the tools that generate themselves
	// (vault.ask, feeds.digest): grammar-forced JSON, as *model.Engine
	// and lazymodel.Model give it. The run wraps it so that each call is
	// recorded in the ledger like its own. nil: those tools are
	// unavailable.
	Model JSONModel
}

// JSONModel generates a JSON document matching schema (the shape of
// model.Engine.JSON and of feeds/digest.Generator).
type JSONModel interface {
	JSON(ctx context.Context, msgs []model.Message, schema *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error)
}

// Vault is what the vault tools need of an open vault.
type Vault interface {
	Search(ctx context.Context, query string, o vault.SearchOptions) (*vault.Response, error)
	Get(ctx context.Context, collection string, chunk uint64) (*vault.Result, error)
}

// ErrUnavailable: the run was not given what the tool needs (no vault
// open, no wallet grant, no person to ask). The run loop tells the model.
var ErrUnavailable = errors.New("not available to this run")

// ErrNeedsUser: agent.ask_user in a headless run. The run ends needing a
// person (exit 4 in the CLI).
var ErrNeedsUser = errors.New("the agent asked a question and no one is present to answer it")

// ErrBadArguments: a call's arguments do not fit the tool (a missing or
// malformed field). The run loop gives the reason back to the model.
var ErrBadArguments = errors.New("bad arguments")
