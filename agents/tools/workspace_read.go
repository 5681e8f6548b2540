package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// WorkspaceRead is workspace.read: a file of the agent's workspace, or a
// folder's listing.
type WorkspaceRead struct{}

const (
	maxPath      = 200
	maxReadBytes = 64 << 10 // what a small context can take; the rest is cut and said so
)

func (WorkspaceRead) Spec() model.Tool {
	return spec("workspace.read", fmt.Sprintf(`{"type":"object","properties":{
"path":{"type":"string","minLength":1,"maxLength":%d}},
"required":["path"],"additionalProperties":false}`, maxPath))
}

func (WorkspaceRead) Level() Level { return Read }

func (WorkspaceRead) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Path string `json:"path"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	root, rel, err := workspace(env, "workspace.read", a.Path, false)
	if err != nil {
		return Result{}, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return Result{}, rootErr("workspace.read", a.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, rootErr("workspace.read", a.Path, err)
	}
	if st.IsDir() {
		entries, err := f.ReadDir(-1)
		if err != nil {
			return Result{}, rootErr("workspace.read", a.Path, err)
		}
		var names []string
		for _, e := range entries {
			n := termtext.Clean(e.Name())
			if e.IsDir() {
				n += "/"
			}
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return Result{Text: "(empty folder)", Source: "workspace"}, nil
		}
		return Result{Text: strings.Join(names, "\n"), Source: "workspace"}, nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxReadBytes+1))
	if err != nil {
		return Result{}, rootErr("workspace.read", a.Path, err)
	}
	text := termtext.Clean(string(b[:min(len(b), maxReadBytes)]))
	if len(b) > maxReadBytes {
		text += fmt.Sprintf("\n[cut: the file is %d bytes, only the first %d are shown]", st.Size(), maxReadBytes)
	}
	return Result{Text: text, Source: "workspace"}, nil
}
