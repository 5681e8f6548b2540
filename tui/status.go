package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sovos/sov/model"
)

// The status bar: the model, its context, the speed of the last answer and
// the conversation. Every change of conversation or engine resets what it
// shows of the context, so it never describes a conversation or a model that
// is gone.

// setStats shows the figures of a call on the current conversation.
func (a *App) setStats(st model.Stats) {
	if st.ContextSize == 0 {
		st.ContextSize = a.lastStats.ContextSize
	}
	a.lastStats, a.lastTPS = st, st.GenTPS()
}

// resetStats is the status of a conversation nothing is known of yet: an
// empty context on the same engine, no speed.
func (a *App) resetStats() {
	a.lastStats, a.lastTPS = model.Stats{ContextSize: a.lastStats.ContextSize}, 0
}

// warmJob is a warm-up in flight: it passes the call to the session and
// keeps its figures for the status bar.
type warmJob struct {
	llm Chatter
	st  model.Stats
}

func (w *warmJob) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	out, st, err := w.llm.Chat(ctx, msgs, s, fn)
	w.st = st
	return out, st, err
}

// warmDoneMsg ends a warm-up.
type warmDoneMsg struct {
	job *warmJob
	err error
}

// onWarmDone shows what the warmed conversation holds: its history, the
// token sampled to finish the call aside. A warm-up overtaken by an answer,
// or by another conversation, says nothing.
func (a *App) onWarmDone(m warmDoneMsg) {
	if m.job != a.warmJob {
		return
	}
	a.warm, a.warmJob = nil, nil
	if m.err != nil {
		return
	}
	st := m.job.st
	a.lastStats.ContextUsed = st.CachedTokens + st.PromptTokens
	a.lastStats.CachedTokens = st.CachedTokens
	if st.ContextSize > 0 {
		a.lastStats.ContextSize = st.ContextSize
	}
}

// displayName is the name the user knows the model by: its name in the
// store, else its file's name; the GGUF's general.name only when the
// engine has no file (tests).
func (a *App) displayName(info model.Info) string {
	if info.Path == "" {
		return info.Name
	}
	if e, ok := a.entryFor(info.Path); ok {
		return e.Name
	}
	return strings.TrimSuffix(filepath.Base(info.Path), ".gguf")
}

// entryFor is the installed model whose file is path.
func (a *App) entryFor(path string) (ModelEntry, bool) {
	if a.opts.Models == nil {
		return ModelEntry{}, false
	}
	list, _ := a.opts.Models()
	for _, m := range list {
		if sameFile(m.Path, path) {
			return m, true
		}
	}
	return ModelEntry{}, false
}

// statusLine: model · backend · context used/size · tok/s … session.
func (a *App) statusLine(w int) string {
	var left []string
	switch {
	case a.loading != nil:
		left = append(left, fmt.Sprintf("loading %s %3.0f%%", a.loading.name, a.loading.frac*100))
	case a.engine != nil:
		left = append(left, a.name)
		if a.info.Backend != "" {
			left = append(left, a.info.Backend)
		}
	default:
		left = append(left, "no model")
	}
	if a.lastStats.ContextSize > 0 {
		c := fmt.Sprintf("ctx %d/%d", a.lastStats.ContextUsed, a.lastStats.ContextSize)
		if a.lastStats.CachedTokens > 0 {
			// Shows that a resumed or continued conversation was not re-decoded.
			c += fmt.Sprintf(" (%d cached)", a.lastStats.CachedTokens)
		}
		left = append(left, c)
	}
	if a.lastTPS > 0 {
		left = append(left, fmt.Sprintf("%.1f tok/s", a.lastTPS))
	}
	if a.stream != nil {
		left = append(left, "generating… (esc stops)")
	}
	if r := a.agent; r != nil {
		st := fmt.Sprintf("agent %s step %d", r.name, r.step)
		if r.step == 0 {
			st = "agent " + r.name + " starting" // loading its model
		}
		switch {
		case r.stopped:
			st += " stopping…"
		case a.stream == nil:
			st += " (esc stops)"
		}
		left = append(left, st)
	}
	meta := a.conv.Meta()
	right := meta.Title
	if meta.ID != "" {
		right += " · " + meta.ID
	}
	if !a.conv.Saved() {
		right += " · unsaved"
	}
	l := " " + strings.Join(left, " · ")
	r := right + " "
	gap := w - ansi.StringWidth(l) - ansi.StringWidth(r)
	var s string
	if gap >= 1 {
		s = l + strings.Repeat(" ", gap) + r
	} else {
		s = truncate(l+" │ "+r, w)
		s += strings.Repeat(" ", max(0, w-ansi.StringWidth(s)))
	}
	return a.theme.Status.Render(s)
}
