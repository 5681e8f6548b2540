package app

import (
	"context"
	"errors"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server"
)

// GenerateAnywhere runs prep on the running sov serve when remote is not
// nil (the server records the call), else, or when the server does not
// offer the model, the request is beyond its limits, or it went away
// before writing anything, loads o.Path here as Generate does. entry is
// the ledger entry of a call made here (nil on the server).
func (a *App) GenerateAnywhere(ctx context.Context, remote *server.Client, prep *generate.Prepared, o model.Options, principal string, fn model.TokenFunc) (res generate.Result, entry *uint64, err error) {
	if remote != nil {
		res, err = remote.Run(ctx, server.RunRequest{Path: o.Path, NumCtx: o.ContextSize, Request: prep.Request()}, fn)
		if !errors.Is(err, server.ErrNotServed) && !errors.Is(err, server.ErrBeyondLimits) && !(errors.Is(err, server.ErrNotRunning) && res.Text == "") {
			return res, nil, err
		}
	}
	return a.Generate(ctx, prep, o, principal, fn)
}
