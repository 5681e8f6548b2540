package app

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/sovos/sov/agents/roles"
	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/model"
)

// BuildRun is one `sov build` as a front end starts it: the pipeline's
// options, and the model (a name, else the default) and how to load it.
type BuildRun struct {
	roles.Config
	ModelName string
	Engine    model.Options
}

// EnvBuildKillAfter names a step after which the build kills itself with
// SIGKILL once the step is durable: the tests' way to crash a build at
// each stage and resume it.
const EnvBuildKillAfter = "SOV_BUILD_KILL_AFTER"

// Build runs or resumes a build: the model is loaded on the first role
// that needs it (a build that stops at a check loads nothing), each role
// in a session of its own; the planning roles' transcripts are kept in the
// build folder and every model call is recorded in the ledger.
func (a *App) Build(ctx context.Context, r BuildRun) (*roles.Report, error) {
	cfg := r.Config
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Resume {
		if _, err := roles.LoadState(dir); err != nil {
			return nil, err
		}
	}
	path, err := a.ModelPath(r.ModelName)
	if err != nil {
		return nil, err
	}
	o := r.Engine
	o.Path = path
	if o.Warn == nil {
		o.Warn = func(msg string) { a.warnf("%s", msg) }
	}
	var (
		mu  sync.Mutex
		eng *model.Engine
	)
	defer func() {
		if eng != nil {
			eng.Close()
		}
	}()
	cfg.ModelPath = path
	cfg.Model = func(role string) (roles.Model, func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if eng == nil {
			e, err := model.Load(ctx, o)
			if err != nil {
				return nil, nil, err
			}
			eng = e
		}
		sess := eng.NewSession()
		if role == "developer" {
			// The developer chats (the coder core), outside the agents'
			// loop: its calls are recorded here instead.
			return a.Recorded("agent:build-developer")(sess), func() { sess.Close() }, nil
		}
		return sess, func() { sess.Close() }, nil
	}
	cfg.Ledger, cfg.Signer = a.Ledger(), a.AutoSigner()
	if cfg.Transcripts, err = conversation.Open(filepath.Join(dir, ".sov", "transcripts"), 10*time.Second); err != nil {
		return nil, err
	}
	defer cfg.Transcripts.Close()
	if kill := a.Getenv(EnvBuildKillAfter); kill != "" {
		after := cfg.AfterStep
		cfg.AfterStep = func(step string) {
			if after != nil {
				after(step)
			}
			if step == kill {
				_ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
	return roles.Build(ctx, cfg)
}
