// Package prompt reads secrets (passphrases, mnemonics) from a no-echo
// terminal prompt, an environment variable or a file, for people and scripts.
package prompt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/term"
)

// Source says where a secret may come from, in order of preference:
// File, then Env, then an interactive prompt on the terminal.
type Source struct {
	Env    string // environment variable name, e.g. SOV_VAULT_PASSPHRASE
	File   string // a file holding the secret (its last line break dropped)
	Prompt string // text shown before a no-echo read
	// Confirm asks twice on a terminal and requires both to match.
	Confirm bool
	Getenv  func(string) string // os.Getenv when nil
	Stdin   *os.File            // os.Stdin when nil
	Stderr  io.Writer           // os.Stderr when nil
}

// ErrNoSecret means no source could provide the secret. Callers add how
// to pass one (their file flag), which this package does not know.
var ErrNoSecret = errors.New("no passphrase available")

// Console is where a command reads secrets and shows prompts; nil fields
// mean the process's own.
type Console struct {
	Getenv func(string) string
	Stdin  *os.File
	Stderr io.Writer
}

// EnvAllowWeak, set to 1, accepts a new passphrase that CheckStrength
// refuses: for tests, and for people who insist.
const EnvAllowWeak = "SOV_ALLOW_WEAK_PASSPHRASE"

// guessedFirst are words an attacker tries first for a sov passphrase.
var guessedFirst = []string{"sov", "sovos", "vault", "wallet", "feeds", "ledger", "passphrase"}

// Passphrase reads the secret called name (e.g. "vault passphrase"): from
// file when set, else from the environment variable env, else a no-echo
// prompt "Vault passphrase: ". With confirm the passphrase is being chosen:
// a prompt asks twice, and a weak one is refused (a *WeakError) unless
// EnvAllowWeak is set. Errors start with name, and wrap ErrNoSecret when no
// source had the secret.
func (c Console) Passphrase(name, env, file string, confirm bool) ([]byte, error) {
	label := name
	if name != "" {
		label = strings.ToUpper(name[:1]) + name[1:] + ": "
	}
	p, err := Secret(Source{Env: env, File: file, Prompt: label, Confirm: confirm, Getenv: c.Getenv, Stdin: c.Stdin, Stderr: c.Stderr})
	if err == nil && confirm && !c.allowWeak() {
		if err = CheckStrength(p, guessedFirst...); err != nil {
			clear(p)
			err = fmt.Errorf("%w (or set %s=1 to keep it)", err, EnvAllowWeak)
		}
	}
	if err != nil && name != "" {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, err
}

func (c Console) allowWeak() bool {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(EnvAllowWeak)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// ErrFileMode means a secret file can be read by its group or by everyone.
var ErrFileMode = errors.New("passphrase file is readable by others")

// readPrivate reads a secret file, refusing a regular file that its group
// or others may read (as ssh refuses such private keys): the secret may
// already have leaked, and it must not keep doing so. Pipes and other
// special files (e.g. <(pass show x)) are not judged.
func readPrivate(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read passphrase file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read passphrase file: %w", err)
	}
	if perm := fi.Mode().Perm(); fi.Mode().IsRegular() && perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o: chmod 600 %s", ErrFileMode, name, perm, name)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read passphrase file: %w", err)
	}
	return b, nil
}

// Secret reads the secret. The caller should wipe the result when done.
func Secret(s Source) ([]byte, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	stdin := s.Stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	stderr := s.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	if s.File != "" {
		b, err := readPrivate(s.File)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("passphrase file %s is empty", s.File)
		}
		return b, nil
	}
	if s.Env != "" {
		if v := getenv(s.Env); v != "" {
			return []byte(v), nil
		}
	}
	if !term.IsTerminal(int(stdin.Fd())) {
		if s.Env != "" {
			return nil, fmt.Errorf("%w: not a terminal, set %s", ErrNoSecret, s.Env)
		}
		return nil, fmt.Errorf("%w: not a terminal", ErrNoSecret)
	}
	read := func(label string) ([]byte, error) {
		fmt.Fprint(stderr, label)
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		return b, nil
	}
	label := s.Prompt
	if label == "" {
		label = "Passphrase: "
	}
	p, err := read(label)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: empty passphrase", ErrNoSecret)
	}
	if s.Confirm {
		q, err := read("Repeat to confirm: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, q) {
			return nil, errors.New("the two passphrases differ: try again")
		}
	}
	return p, nil
}

// Line reads one line of visible text (for confirmations and words), from
// the terminal or from piped stdin.
func Line(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read input: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
