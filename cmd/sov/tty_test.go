package main

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// runSovTTY runs the binary on a pseudo-terminal (stdin, stdout and stderr
// all on it), as a person at a terminal would, typing each of lines when
// the output so far contains its prompt. It is how tests reach what only
// a person may do: approve, type a passphrase at a prompt. The output is
// everything the terminal showed, stdout and stderr mixed.
func runSovTTY(t *testing.T, home string, env []string, lines []typed, args ...string) sovResult {
	t.Helper()
	cmd := exec.Command(sovBin, args...)
	cmd.Env = append(cleanEnv(), "SOV_HOME="+home, "TERM=dumb")
	cmd.Env = append(cmd.Env, env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	defer f.Close()
	var out bytes.Buffer
	read := make(chan error, 1)
	chunks := make(chan []byte, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				chunks <- bytes.Clone(buf[:n])
			}
			if err != nil {
				close(chunks)
				read <- err
				return
			}
		}
	}()
	deadline := time.After(90 * time.Second)
	next, from := 0, 0 // the next line to type, and where its prompt may start
	for done := false; !done; {
		select {
		case c, ok := <-chunks:
			if !ok {
				done = true
				break
			}
			out.Write(c)
			for next < len(lines) && strings.Contains(out.String()[from:], lines[next].after) {
				// Typed once its prompt is up, so a no-echo read gets it.
				time.Sleep(50 * time.Millisecond)
				io.WriteString(f, lines[next].text+"\r")
				from = out.Len()
				next++
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("sov %v on a pty: no exit after 90 s; it showed:\n%s", args, out.String())
		}
	}
	<-read
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("wait sov: %v", err)
	}
	if next < len(lines) {
		t.Errorf("sov %v exited before asking %q; it showed:\n%s", args, lines[next].after, out.String())
	}
	return sovResult{Stdout: strings.ReplaceAll(out.String(), "\r\n", "\n"), Code: code}
}

// typed is a line a person types once the terminal shows after.
type typed struct{ after, text string }
