package store

import (
	"errors"
	"fmt"
)

// Errors callers test for with errors.Is. Their messages name no command or
// flag: each caller (the CLI, the shell) adds its own hint.
var (
	// ErrNotFound: no installed model has the name.
	ErrNotFound = errors.New("model not found")
	// ErrNoModel: no model is installed and none was chosen.
	ErrNoModel = errors.New("no model installed")
	// ErrNoneChosen: several models are installed and nothing picks one.
	ErrNoneChosen = errors.New("no model chosen")
	// ErrMissing: a registered model's file is gone; errors.As gives a
	// *MissingError with the model.
	ErrMissing = errors.New("model file missing")
	// ErrNameTaken: another model already has the name; errors.As gives a
	// *NameTakenError.
	ErrNameTaken = errors.New("model name taken")
	// ErrNoSuchFile: a path given as a model (to pull, or to use) does not
	// exist.
	ErrNoSuchFile = errors.New("no such model file")
	// ErrBadSHA256: PullOptions.SHA256 is not 64 hex digits.
	ErrBadSHA256 = errors.New("not a sha256")
	// ErrLinkRemote: PullOptions.Link with a reference that is not a local
	// file.
	ErrLinkRemote = errors.New("only local files can be linked")
	// ErrNoFileName: a URL without a file name and no PullOptions.Name.
	ErrNoFileName = errors.New("no file name in the URL")
	// ErrChecksum: the file's sha256 is not the expected one; nothing was
	// registered.
	ErrChecksum = errors.New("sha256 mismatch")
	// ErrInterrupted: a download stopped part-way; its partial file is
	// kept, and pulling the same reference again resumes it.
	ErrInterrupted = errors.New("download interrupted")
)

// kindError is a one-line message that matches one of the errors above.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// kindf formats a message that matches kind with errors.Is.
func kindf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// MissingError: the model is registered but its file is gone. It matches
// ErrMissing.
type MissingError struct{ Model Model }

func (e *MissingError) Error() string {
	return fmt.Sprintf("model %s is registered but its file %s is gone", e.Model.Name, e.Model.Path)
}

// Is makes errors.Is(err, ErrMissing) hold.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

// InstalledMismatchError: the model a pull names is installed, but its
// file's sha256 is Got, not the expected Want; nothing was changed. It
// matches ErrChecksum.
type InstalledMismatchError struct {
	Model     Model
	Got, Want string
}

func (e *InstalledMismatchError) Error() string {
	return fmt.Sprintf("sha256 mismatch: the installed model %s (%s) has sha256 %s, expected %s; nothing was changed", e.Model.Name, e.Model.Path, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrChecksum) hold.
func (e *InstalledMismatchError) Is(target error) bool { return target == ErrChecksum }

// NameTakenError: a model called Name, from another source, is installed.
// It matches ErrNameTaken.
type NameTakenError struct{ Name string }

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("a model named %s is already installed", e.Name)
}

// Is makes errors.Is(err, ErrNameTaken) hold.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// Origin says where a model choice came from, for error messages.
type Origin int

// Origins of a model choice.
const (
	FromCaller Origin = iota // given explicitly (a flag, an argument)
	FromEnv                  // the EnvModel variable
	FromConfig               // [model] default in the config
)

// suffix is what an error message adds to say where a choice came from; an
// explicit choice needs no reminder.
func (o Origin) suffix() string {
	switch o {
	case FromEnv:
		return " (from " + EnvModel + ")"
	case FromConfig:
		return " (from [model] default in the config)"
	}
	return ""
}
