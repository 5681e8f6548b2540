package main

import (
	"errors"
	"fmt"

	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store"
)

// resolveModelPath picks the model file: --model (flag) > SOV_MODEL > the
// configured default > the only installed model (see store.Resolve).
func resolveModelPath(a *app, flag string) (string, error) {
	p, err := store.ResolveFor(a.paths, a.cfg, flag, a.getenv)
	return p, storeHint(err)
}

// storeHint adds what to run or pass to the model store's errors, which
// name no command or flag.
func storeHint(err error) error {
	var missing *store.MissingError
	var taken *store.NameTakenError
	hint := ""
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoModel):
		hint = ": pull one with sov pull hf.co/OWNER/REPO:Q4_K_M (e.g. sov pull hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M), or register a local file with sov pull ./model.gguf --link"
	case errors.Is(err, store.ErrNoneChosen):
		hint = ": pass --model NAME, set " + store.EnvModel + ", or run sov models default NAME"
	case errors.Is(err, store.ErrNotFound):
		hint = ": see sov models for the names, or pull one with sov pull hf.co/OWNER/REPO:Q4_K_M"
	case errors.As(err, &missing):
		hint = ": pull it again, or remove it with sov models rm " + missing.Model.Name
	case errors.As(err, &taken):
		hint = ": choose another with --name, or remove it first with sov models rm " + taken.Name
	case errors.Is(err, store.ErrNoSuchFile):
		hint = ", or pull one with sov pull hf.co/OWNER/REPO:QUANT"
	case errors.Is(err, store.ErrLinkRemote):
		hint = ": drop --link to download it"
	case errors.Is(err, store.ErrNoFileName):
		hint = " with --name"
	case errors.Is(err, store.ErrBadSHA256):
		hint = " for --sha256"
	case errors.Is(err, store.ErrChecksum):
		hint = ": check the file or the --sha256 value, and pull again"
	case errors.Is(err, store.ErrInterrupted):
		hint = ": run the same sov pull again to resume"
	case errors.Is(err, gguf.ErrNotGGUF):
		hint = ", e.g. one from sov pull hf.co/OWNER/REPO:Q4_K_M"
	}
	return fmt.Errorf("%w%s", err, hint)
}
