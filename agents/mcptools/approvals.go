package mcptools

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/boltfile"
)

// ApprovalsDB is the approvals' file in the agents' folder
// ($SOV_HOME/agents/mcp.db).
const ApprovalsDB = "mcp.db"

// Approvals is the user's approved MCP tools: per agent and server, each
// tool's hash as the user saw it. The file is opened for each read or
// write and closed at once, so runs of several agents (the daemon, a
// shell, a headless run) never wait on each other's lock for long.
type Approvals struct {
	path    string
	timeout time.Duration
}

// NewApprovals is the approvals kept in dir, the agents' folder (the file
// is created on the first approval).
func NewApprovals(dir string) *Approvals {
	return &Approvals{path: filepath.Join(dir, ApprovalsDB), timeout: 2 * time.Second}
}

// Path is the approvals' file.
func (a *Approvals) Path() string { return a.path }

// Record is one approved tool as the user approved it.
type Record struct {
	Hash        string    `json:"hash"`
	DescHash    string    `json:"desc_hash"`
	SchemaHash  string    `json:"schema_hash"`
	Description string    `json:"description"` // to show what changed when it does
	ApprovedAt  time.Time `json:"approved_at"`
}

// Approve records changes as approved for agent: each tool at the hash in
// the Change (what the user was shown), so a tool that changed again since
// is still pending the next time.
func (a *Approvals) Approve(agent string, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	now := time.Now().UTC()
	return a.update(func(tx *bolt.Tx) error {
		ab, err := tx.CreateBucketIfNotExists([]byte(agent))
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.NewHash == "" || c.Server == "" || c.Tool == "" {
				return fmt.Errorf("approve %s: an incomplete change (%q of %q)", agent, c.Tool, c.Server)
			}
			sb, err := ab.CreateBucketIfNotExists([]byte(c.Server))
			if err != nil {
				return err
			}
			v, err := json.Marshal(Record{Hash: c.NewHash, DescHash: c.descHash, SchemaHash: c.schemaHash, Description: c.Description, ApprovedAt: now})
			if err != nil {
				return err
			}
			if err := sb.Put([]byte(c.Tool), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Forget removes every approval of agent (its file was removed), or of
// one of its servers when server is not "".
func (a *Approvals) Forget(agent, server string) error {
	if _, err := os.Stat(a.path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return a.update(func(tx *bolt.Tx) error {
		var err error
		if server == "" {
			err = tx.DeleteBucket([]byte(agent))
		} else if ab := tx.Bucket([]byte(agent)); ab != nil {
			err = ab.DeleteBucket([]byte(server))
		}
		if errors.Is(err, bolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
}

// Approved is what the user approved of agent's server, by the tool's MCP
// name; none when the file does not exist yet.
func (a *Approvals) Approved(agent, server string) (map[string]Record, error) {
	out := map[string]Record{}
	if _, err := os.Stat(a.path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	db, err := a.open(true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		ab := tx.Bucket([]byte(agent))
		if ab == nil {
			return nil
		}
		sb := ab.Bucket([]byte(server))
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%s: agent %s, server %s, tool %q: %w", a.path, agent, server, k, err)
			}
			out[string(k)] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Approvals) open(readOnly bool) (*bolt.DB, error) {
	if err := boltfile.Check(a.path); err != nil {
		return nil, err // a truncated file would fault inside bbolt's mmap
	}
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
			return nil, err
		}
	}
	db, err := bolt.Open(a.path, 0o600, &bolt.Options{Timeout: a.timeout, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("open the MCP approvals %s: %w", a.path, err)
	}
	return db, nil
}

func (a *Approvals) update(fn func(*bolt.Tx) error) error {
	db, err := a.open(false)
	if err != nil {
		return err
	}
	if err := db.Update(fn); err != nil {
		db.Close()
		return fmt.Errorf("%s: %w", a.path, err)
	}
	return db.Close()
}

// hashes are a tool's: of the canonical JSON of {name, description,
// inputSchema} (what the approval covers), and of its description and
// schema alone (to say which changed).
type hashes struct{ all, desc, schema string }

func hashTool(name, description string, schema json.RawMessage) (hashes, error) {
	var s any
	if len(schema) > 0 {
		d := json.NewDecoder(bytes.NewReader(schema))
		d.UseNumber() // numbers as written, not rounded to float64
		if err := d.Decode(&s); err != nil {
			return hashes{}, err
		}
	}
	// encoding/json writes map keys sorted and no spaces: one text per value.
	all, err := json.Marshal(map[string]any{"name": name, "description": description, "inputSchema": s})
	if err != nil {
		return hashes{}, err
	}
	cs, err := json.Marshal(s)
	if err != nil {
		return hashes{}, err
	}
	return hashes{all: sum(all), desc: sum([]byte(description)), schema: sum(cs)}, nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}
