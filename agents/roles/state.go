package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cfgfile "github.com/sovos/sov/internal/config"
)

// stateVersion is the format of .sov/state.json.
const stateVersion = 1

// ErrNotABuild: --resume named a folder that holds no build state.
var ErrNotABuild = errors.New("not a build folder (no .sov/state.json)")

// State is .sov/state.json: the request and the steps done, each with the
// sha256 of every artifact it produced. A step that was running when the
// process died is not in it, so it runs again.
type State struct {
	Version int       `json:"version"`
	Request string    `json:"request"`
	Lang    Lang      `json:"lang"`
	Created time.Time `json:"created"`
	Steps   []Step    `json:"steps"`
}

// Step is one completed step.
type Step struct {
	Name    string            `json:"name"`
	Done    time.Time         `json:"done"`
	Outputs map[string]string `json:"outputs"` // path (relative to the build folder) → sha256
	// Tokens and Wall are what the step's role spent.
	Tokens int           `json:"tokens,omitempty"`
	Calls  int           `json:"model_calls,omitempty"`
	Wall   time.Duration `json:"wall,omitempty"`
}

func statePath(dir string) string { return filepath.Join(dir, ".sov", "state.json") }

// LoadState reads dir's build state.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotABuild)
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil || s.Version != stateVersion {
		return nil, fmt.Errorf("%s: %w (the state file is damaged or of another version)", statePath(dir), ErrNotABuild)
	}
	return &s, nil
}

func (s *State) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(statePath(dir), b)
}

// valid drops the steps that must run again because an artifact changed
// on disk: a file a person edited re-runs every step after the last step
// that wrote it; a file that is gone re-runs that step itself.
func (s *State) valid(dir string) (dropped []string) {
	cut := len(s.Steps)
	writer := map[string]int{} // path → last step that wrote it
	want := map[string]string{}
	for i, st := range s.Steps {
		for p, h := range st.Outputs {
			writer[p], want[p] = i, h
		}
	}
	for p, h := range want {
		got, err := fileHash(filepath.Join(dir, p))
		switch {
		case err != nil:
			cut = min(cut, writer[p])
		case got != h:
			cut = min(cut, writer[p]+1)
		}
	}
	for _, st := range s.Steps[cut:] {
		dropped = append(dropped, st.Name)
	}
	s.Steps = s.Steps[:cut]
	return dropped
}

func (s *State) done(name string) *Step {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return &s.Steps[i]
		}
	}
	return nil
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// writeAtomic writes data whole or not at all (see
// config.WriteFileAtomic): a build killed at any moment resumes.
func writeAtomic(path string, data []byte) error { return cfgfile.WriteFileAtomic(path, data, 0o600) }
