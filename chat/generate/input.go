package generate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// JoinPrompt is the prompt of a command that has it both as arguments and
// on stdin (`cat notes.txt | sov run "Summarise"`): the arguments, a blank
// line, then the piped text.
func JoinPrompt(args, piped string) string {
	piped = strings.TrimRight(piped, "\n")
	switch {
	case strings.TrimSpace(piped) == "":
		return args
	case strings.TrimSpace(args) == "":
		return piped
	}
	return args + "\n\n" + piped
}

// StdinWait is how long a command with its prompt as arguments waits for
// a stdin pipe to send something or close: long enough for `cmd | sov run
// …` to start writing, short enough for a script whose stdin stays open
// and silent.
const StdinWait = time.Second

// ErrNoPrompt: no arguments, and stdin is a terminal.
var ErrNoPrompt = errors.New("no prompt")

// ReadPrompt is the prompt of `sov run ARGS…`: the arguments joined by
// spaces, all of stdin when there are none, or both (JoinPrompt) when stdin
// is not a terminal and has something to say (ReadPiped, waiting at most
// wait). ErrStdinIdle comes with the arguments alone.
func ReadPrompt(args []string, stdin *os.File, terminal bool, wait time.Duration) (string, error) {
	text := strings.Join(args, " ")
	switch {
	case text == "" && terminal:
		return "", ErrNoPrompt
	case text == "":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("read prompt from stdin: %w", err)
		}
		return strings.TrimRight(string(b), "\n"), nil
	case terminal:
		return text, nil
	}
	piped, err := ReadPiped(stdin, wait)
	return JoinPrompt(text, piped), err
}

// ErrStdinIdle: stdin is a pipe or socket that neither sent anything nor
// closed within the wait (a script's inherited stdin, say); it was left
// unread.
var ErrStdinIdle = errors.New("stdin sent nothing")

// ReadPiped reads all of f, the stdin of a command that also has its
// prompt as arguments, without blocking on a stdin that has nothing to
// say: a file or device is read at once (/dev/null is empty), and a pipe
// or socket only when it has data or is closed within wait, otherwise it
// returns ErrStdinIdle. A terminal is the caller's to rule out.
func ReadPiped(f *os.File, wait time.Duration) (string, error) {
	st, err := f.Stat()
	if err != nil {
		return "", nil // closed (<&-): nothing to read
	}
	if m := st.Mode(); m&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		deadline := time.Now().Add(wait)
		for {
			ms := (max(time.Until(deadline), 0) + time.Millisecond - 1) / time.Millisecond
			n, err := unix.Poll(fds, int(ms))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("stdin: %w", err)
			}
			if n == 0 {
				return "", ErrStdinIdle
			}
			break // data, end of file (POLLHUP) or an error for Read to report
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(b), nil
}
