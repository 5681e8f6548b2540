package main

import (
	"github.com/sovos/sov/model/store"
)

// resolveModelPath implements --model > SOV_MODEL > configured default > the
// only installed model (see store.Resolve).
func resolveModelPath(a *app, flag string) (string, error) {
	return store.ResolveFor(a.paths, a.cfg, flag, a.getenv)
}

func installedModelNames(a *app) ([]string, error) {
	ms, err := store.New(a.paths.Models()).List()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		n := m.Name
		if m.Missing {
			n += " (file missing: " + m.Path + ")"
		}
		names = append(names, n)
	}
	return names, nil
}
