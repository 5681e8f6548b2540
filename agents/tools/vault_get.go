package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovos/sov/model"
)

// VaultGet is vault.get: one passage of the vault, whole, by chunk number.
type VaultGet struct{}

func (VaultGet) Spec() model.Tool {
	return spec("vault.get", fmt.Sprintf(`{"type":"object","properties":{
"chunk":{"type":"integer","minimum":0},
"collection":{"type":"string","maxLength":%d}},
"required":["chunk"],"additionalProperties":false}`, maxCollection))
}

func (VaultGet) Level() Level { return Read }

func (VaultGet) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Chunk      *int64 `json:"chunk"`
		Collection string `json:"collection"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	if a.Chunk == nil || *a.Chunk < 0 {
		return Result{}, fmt.Errorf("%w: chunk must be a chunk number from vault.search", ErrBadArguments)
	}
	coll, err := collectionName(a.Collection)
	if err != nil {
		return Result{}, err
	}
	if env == nil || env.Vault == nil {
		return Result{}, fmt.Errorf("vault.get: no vault is open: %w", ErrUnavailable)
	}
	r, err := env.Vault.Get(ctx, coll, uint64(*a.Chunk))
	if err != nil {
		return Result{}, fmt.Errorf("vault.get %s chunk %d: %w", coll, *a.Chunk, err)
	}
	return Result{Text: jsonText(passageOf(*r, 0)), Source: "vault:" + coll}, nil
}
