package app

import (
	"fmt"

	"github.com/sovos/sov/model/store"
)

// ModelListing lists the installed models, the configured default marked.
func (a *App) ModelListing() (store.Listing, error) {
	def, err := store.DefaultFromConfig(a.Config)
	if err != nil {
		return nil, err
	}
	return a.Models().Listing(def)
}

// RemoveModel removes the model called name from the store and, when it
// was the default (wasDefault), from the configuration as well.
func (a *App) RemoveModel(name string) (m store.Model, wasDefault bool, err error) {
	if m, err = a.Models().Remove(name); err != nil {
		return m, false, err
	}
	if wasDefault, err = store.UnsetDefault(a.Paths.ConfigFile(), m.Name); err != nil {
		return m, false, fmt.Errorf("%s was removed, but it is still the default model in %s: %w", m.Name, a.Paths.ConfigFile(), err)
	}
	return m, wasDefault, nil
}
