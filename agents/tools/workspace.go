package tools

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovos/sov/internal/termtext"
)

// ErrOutsideWorkspace: a workspace tool was given a path that is absolute,
// climbs out with "..", or leads out through a symbolic link.
var ErrOutsideWorkspace = errors.New("the path is outside the agent's workspace")

// workspace resolves p, a path relative to the agent's workspace, and
// opens the workspace as an os.Root. The check here gives a clear error;
// the os.Root, through which every read and write then goes, refuses an
// escape even if a link is swapped in after the check.
func workspace(env *Env, tool, p string, create bool) (*os.Root, string, error) {
	if env == nil || env.Workspace == "" {
		return nil, "", fmt.Errorf("%s: the run has no workspace folder: %w", tool, ErrUnavailable)
	}
	rel, err := localPath(tool, p)
	if err != nil {
		return nil, "", err
	}
	if create {
		if err := os.MkdirAll(env.Workspace, 0o700); err != nil {
			return nil, "", fmt.Errorf("%s: %w", tool, err)
		}
	}
	base, err := filepath.EvalSymlinks(env.Workspace)
	if err != nil {
		return nil, "", fmt.Errorf("%s: the workspace folder: %w", tool, err)
	}
	// The deepest part of the path that exists, with its links resolved,
	// must still be inside the workspace.
	existing := filepath.Join(base, rel)
	for {
		if _, err := os.Lstat(existing); err == nil || existing == base {
			break
		}
		existing = filepath.Dir(existing)
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return nil, "", fmt.Errorf("%s %q: %w", tool, p, err)
	}
	if !within(base, real) {
		return nil, "", fmt.Errorf("%s %q: %w (a symbolic link leads out of it)", tool, p, ErrOutsideWorkspace)
	}
	root, err := os.OpenRoot(base)
	if err != nil {
		return nil, "", fmt.Errorf("%s: the workspace folder: %w", tool, err)
	}
	return root, rel, nil
}

// localPath checks p lexically: relative, not climbing out with "..",
// not a home path; it returns p cleaned.
func localPath(tool, p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", fmt.Errorf("%w: path is empty", ErrBadArguments)
	}
	// a name a terminal would show otherwise than it is: what a person
	// approves must be the file that is written
	if termtext.Clean(p) != p {
		return "", fmt.Errorf("%w: path %q has control characters", ErrBadArguments, p)
	}
	if p != "." && !filepath.IsLocal(p) || strings.HasPrefix(p, "~") {
		return "", fmt.Errorf("%s %q: %w (give a path relative to it, such as notes/summary.md)", tool, p, ErrOutsideWorkspace)
	}
	return filepath.Clean(p), nil
}

// within reports whether path is base or below it (both cleaned, links
// resolved).
func within(base, path string) bool {
	r, err := filepath.Rel(base, path)
	return err == nil && (r == "." || filepath.IsLocal(r))
}

// rootErr words an error from the os.Root: an escape it caught is
// ErrOutsideWorkspace, anything else is kept.
func rootErr(tool, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return fmt.Errorf("%s %q: %w", tool, p, ErrOutsideWorkspace)
	}
	return fmt.Errorf("%s %q: %w", tool, p, err)
}
