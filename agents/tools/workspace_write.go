package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// WorkspaceWrite is workspace.write: a text file of the agent's workspace,
// replaced whole (or appended to), atomically: a reader sees the old file
// or the new one, never half of it.
type WorkspaceWrite struct{}

const maxFileBytes = 1 << 20 // a workspace file, after an append

func (WorkspaceWrite) Spec() model.Tool {
	// content has no maxLength: a long bound would blow up the grammar;
	// the size is checked here instead.
	return spec("workspace.write", fmt.Sprintf(`{"type":"object","properties":{
"path":{"type":"string","minLength":1,"maxLength":%d},
"content":{"type":"string"},
"append":{"type":"boolean"}},
"required":["path","content"],"additionalProperties":false}`, maxPath))
}

func (WorkspaceWrite) Level() Level { return Write }

func (WorkspaceWrite) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Path    string  `json:"path"`
		Content *string `json:"content"`
		Append  bool    `json:"append"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	if a.Content == nil {
		return Result{}, fmt.Errorf("%w: content is missing", ErrBadArguments)
	}
	if !utf8.ValidString(*a.Content) {
		return Result{}, fmt.Errorf("%w: content is not UTF-8 text", ErrBadArguments)
	}
	root, rel, err := workspace(env, "workspace.write", a.Path, true)
	if err != nil {
		return Result{}, err
	}
	defer root.Close()
	data, _, err := newContent(root, rel, a.Path, *a.Content, a.Append)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := writeAtomic(root, rel, data); err != nil {
		return Result{}, rootErr("workspace.write", a.Path, err)
	}
	verb := "wrote"
	if a.Append {
		verb = "appended to"
	}
	return Result{Text: fmt.Sprintf("%s %s (%d bytes)", verb, filepath.ToSlash(rel), len(data)), Source: "workspace"}, nil
}

// Plan is what a person approving the call is shown: the file, resolved
// inside the workspace, and how its size changes. Nothing is written (the
// workspace folder is not even created).
func (WorkspaceWrite) Plan(ctx context.Context, env *Env, args json.RawMessage) (string, error) {
	var a struct {
		Path    string  `json:"path"`
		Content *string `json:"content"`
		Append  bool    `json:"append"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return "", err
	}
	if a.Content == nil {
		return "", fmt.Errorf("%w: content is missing", ErrBadArguments)
	}
	if env != nil && env.Workspace != "" {
		if _, err := os.Stat(env.Workspace); errors.Is(err, fs.ErrNotExist) {
			rel, err := localPath("workspace.write", a.Path)
			if err != nil {
				return "", err
			}
			if rel == "." {
				return "", fmt.Errorf("%w: path names the workspace folder itself; name a file in it", ErrBadArguments)
			}
			return termtext.Clean(fmt.Sprintf("Create %s (%d bytes), in a new workspace folder", filepath.Join(env.Workspace, rel), len(*a.Content))), nil
		}
	}
	root, rel, err := workspace(env, "workspace.write", a.Path, false)
	if err != nil {
		return "", err
	}
	defer root.Close()
	data, old, err := newContent(root, rel, a.Path, *a.Content, a.Append)
	if err != nil {
		return "", err
	}
	full := filepath.Join(env.Workspace, rel)
	var s string
	switch {
	case old < 0:
		s = fmt.Sprintf("Create %s (%d bytes)", full, len(data))
	case a.Append:
		s = fmt.Sprintf("Append %d bytes to %s (%d bytes now)", len(*a.Content), full, old)
	default:
		s = fmt.Sprintf("Replace %s (%d bytes now) with %d bytes", full, old, len(data))
	}
	return termtext.Clean(s), nil
}

// newContent is what rel will hold after the write, and its size now (-1
// when it does not exist); a symbolic link, a folder or a file grown past
// the limit is refused.
func newContent(root *os.Root, rel, shown, content string, appending bool) ([]byte, int, error) {
	if rel == "." {
		return nil, 0, fmt.Errorf("%w: path names the workspace folder itself; name a file in it", ErrBadArguments)
	}
	data, old := []byte(content), -1
	st, err := root.Lstat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, 0, rootErr("workspace.write", shown, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return nil, 0, fmt.Errorf("workspace.write %q: it is a symbolic link; write to a plain file", shown)
	case st.IsDir():
		return nil, 0, fmt.Errorf("workspace.write %q: it is a folder; name a file", shown)
	default:
		old = int(st.Size())
		if appending {
			prev, err := root.ReadFile(rel)
			if err != nil {
				return nil, 0, rootErr("workspace.write", shown, err)
			}
			data = append(prev, data...)
		}
	}
	if len(data) > maxFileBytes {
		return nil, 0, fmt.Errorf("workspace.write %q: %d bytes is more than a workspace file may hold (%d)", shown, len(data), maxFileBytes)
	}
	return data, old, nil
}

// writeAtomic writes data to a temporary file beside rel, syncs it and
// renames it over rel, all through root.
func writeAtomic(root *os.Root, rel string, data []byte) error {
	if dir := filepath.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(rel), "."+filepath.Base(rel)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}
