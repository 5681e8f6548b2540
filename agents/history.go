package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/boltfile"
)

// HistoryDB is the file, in the agents' folder, that lists every run.
const HistoryDB = "runs.db"

// RunSummary is one finished run as the history keeps it: how it ended
// and where its transcript is, never what it read or said (that is in the
// transcript, and digests of it in the ledger).
type RunSummary struct {
	Run        string        `json:"run"`
	Agent      string        `json:"agent"`
	Started    time.Time     `json:"started"`
	Input      InputEvent    `json:"input"`
	By         string        `json:"by"` // the front end that started it: cli, tui, daemon
	Status     Status        `json:"status"`
	Halt       Halt          `json:"halt,omitempty"`
	Error      string        `json:"error,omitempty"`
	Steps      int           `json:"steps"`
	Tokens     int           `json:"tokens"`
	ToolCalls  int           `json:"tool_calls"`
	Wall       time.Duration `json:"wall_ns"`
	Transcript string        `json:"transcript,omitempty"` // the conversation's ID in the agent's transcripts
}

// Summary is o as the history keeps it.
func Summary(agent, by string, started time.Time, in InputEvent, o Outcome) RunSummary {
	s := RunSummary{Run: o.Run, Agent: agent, Started: started.UTC(), Input: in, By: by, Status: o.Status, Halt: o.Halt,
		Steps: o.Steps, Tokens: o.Tokens, ToolCalls: o.ToolCalls, Wall: o.Wall, Transcript: o.Transcript}
	if o.Err != nil {
		s.Error = o.Err.Error()
	}
	return s
}

// ErrNoRun: no run of that ID in the agent's history.
var ErrNoRun = errors.New("no such run")

// History is the list of runs under the agents' folder. It opens its
// database for each call only, so the daemon, the shell and the CLI can
// all record runs.
type History struct{ Dir string }

var bucketRuns = []byte("runs")

func (h History) with(write bool, fn func(*bolt.Tx) error) error {
	path := filepath.Join(h.Dir, HistoryDB)
	if !write {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	} else if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", h.Dir, err)
	}
	if err := boltfile.Check(path); err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: !write})
	if err != nil {
		return fmt.Errorf("open the run history %s: %w", path, err)
	}
	defer db.Close()
	if write {
		return db.Update(fn)
	}
	return db.View(fn)
}

// Add records a finished run.
func (h History) Add(s RunSummary) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return h.with(true, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRuns)
		if err == nil {
			b, err = b.CreateBucketIfNotExists([]byte(s.Agent))
		}
		if err == nil {
			err = b.Put([]byte(s.Run), data)
		}
		if err != nil {
			return fmt.Errorf("record run %s in the history: %w", s.Run, err)
		}
		return nil
	})
}

// List is agent's runs, newest first.
func (h History) List(agent string) ([]RunSummary, error) {
	var out []RunSummary
	err := h.with(false, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b != nil {
			b = b.Bucket([]byte(agent))
		}
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var s RunSummary
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("the run history's entry %s of %s is damaged: %w", k, agent, err)
			}
			out = append(out, s)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, err
}

// Get is one run of agent; a unique prefix of its ID will do.
func (h History) Get(agent, run string) (RunSummary, error) {
	runs, err := h.List(agent)
	if err != nil {
		return RunSummary{}, err
	}
	var found []RunSummary
	for _, r := range runs {
		if r.Run == run {
			return r, nil
		}
		if len(run) > 0 && len(r.Run) > len(run) && r.Run[:len(run)] == run {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return RunSummary{}, fmt.Errorf("%w %q for agent %s", ErrNoRun, run, agent)
	}
	return RunSummary{}, fmt.Errorf("%w: %q matches %d runs of %s; give more of the ID", ErrNoRun, run, len(found), agent)
}
