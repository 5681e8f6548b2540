package generate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/events"
	"github.com/sovos/sov/internal/filehash"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// Engine is what, besides the request, decides a generation's bytes on the
// CPU: the model file and how the engine was set up.
type Engine struct {
	ModelPath   string `json:"model_path"`
	ContextSize int    `json:"ctx,omitempty"`
	Threads     int    `json:"threads,omitempty"`
	FlashAttn   string `json:"flash_attn,omitempty"`
}

// Input is what the ledger keeps to run a call again: the request and the
// engine set-up. Only its sha256 goes into the entry.
type Input struct {
	Request Request `json:"request"`
	Engine  Engine  `json:"engine"`
}

// Options for loading the engine of an input again, on the CPU.
func (e Engine) Options() model.Options {
	return model.Options{Path: e.ModelPath, ContextSize: e.ContextSize, Threads: e.Threads, FlashAttn: e.FlashAttn, GPULayers: 0}
}

// ModelSHA256 is the model file's digest, remembered under memoDir.
func ModelSHA256(path, memoDir string) (string, error) {
	sum, err := filehash.SHA256(path, filepath.Join(memoDir, "models.json"))
	if err != nil {
		return "", fmt.Errorf("model file: %w", err)
	}
	return hex.EncodeToString(sum[:]), nil
}

// Record appends res to the ledger as a model call by principal, signed by
// s when it is not nil. keep stores the input and output for replay.
func Record(ctx context.Context, l *ledger.Ledger, s *ledger.Signer, principal string, eng Engine, res Result, keep bool) (ledger.Entry, error) {
	in, err := json.Marshal(Input{Request: res.Request, Engine: eng})
	if err != nil {
		return ledger.Entry{}, err
	}
	facts := map[string]any{"ctx": eng.ContextSize, "threads": eng.Threads}
	return RecordCall(ctx, l, s, principal, eng.ModelPath, in, res.Request.Sampling, res.Text, res.Stats, facts, keep)
}

// RecordCall appends any model call: input is what the model was sent (its
// digest is recorded), output what it wrote.
func RecordCall(ctx context.Context, l *ledger.Ledger, s *ledger.Signer, principal, modelPath string, input []byte, sp model.Sampling, output string, st model.Stats, facts map[string]any, keep bool) (ledger.Entry, error) {
	sha, err := ModelSHA256(modelPath, l.Dir())
	if err != nil {
		return ledger.Entry{}, err
	}
	all := map[string]any{
		"temperature": sp.Temperature, "top_p": sp.TopP, "top_k": sp.TopK, "min_p": sp.MinP,
		"repeat_penalty": sp.RepeatPenalty, "seed": sp.Seed, "max_tokens": sp.MaxTokens,
		"prompt_tokens": st.PromptTokens + st.CachedTokens, "output_tokens": st.GeneratedTokens, "stop_reason": st.StopReason,
	}
	if sp.Grammar != "" {
		all["grammar_sha256"] = ledger.SHA256([]byte(sp.Grammar))
	}
	for k, v := range facts {
		all[k] = v
	}
	return l.RecordModelCall(ctx, ledger.ModelCall{
		Principal: principal, ModelFile: modelPath, ModelSHA256: sha,
		Input: input, Output: []byte(output), Facts: all, Keep: keep,
	}, s)
}

// ModelChangedError: the model file is no longer the one recorded.
type ModelChangedError struct {
	Path, Recorded, Now string
}

func (e *ModelChangedError) Error() string {
	return fmt.Sprintf("model changed: sha256 %s ≠ %s (recorded) for %s", e.Now, e.Recorded, e.Path)
}

// ModelMissingError: the recorded model file is no longer where it was.
type ModelMissingError struct {
	Path, Recorded string
}

func (e *ModelMissingError) Error() string {
	return fmt.Sprintf("the recorded model file %s is gone (it had sha256 %s)", e.Path, e.Recorded)
}

// ErrNotModelCall: the entry is not a model call.
var ErrNotModelCall = errors.New("not a model call")

// Replayed is the outcome of running a recorded call again.
type Replayed struct {
	Entry     ledger.Entry
	Input     Input
	Output    []byte // what the model wrote now
	Recorded  []byte // what it wrote then, when kept
	Identical bool
	FirstDiff int // byte offset of the first difference, -1 when identical or unknown
}

// ErrDiffers: a replay wrote other bytes than the recorded call.
var ErrDiffers = errors.New("differing bytes")

// Err is nil when the replay wrote the recorded bytes; otherwise it says
// where they differ and matches ErrDiffers.
func (r Replayed) Err() error {
	switch {
	case r.Identical:
		return nil
	case r.FirstDiff >= 0:
		return fmt.Errorf("entry %d: %w from offset %d (%d bytes recorded, %d now)", r.Entry.Seq, ErrDiffers, r.FirstDiff, len(r.Recorded), len(r.Output))
	}
	return fmt.Errorf("entry %d: %w: sha256 %s, recorded %s", r.Entry.Seq, ErrDiffers, ledger.SHA256(r.Output), r.Entry.Subjects["output"])
}

// String says what the replay wrote, and whether it was the recorded bytes.
func (r Replayed) String() string {
	if !r.Identical {
		return r.Err().Error()
	}
	return fmt.Sprintf("entry %d: identical: %d bytes, sha256 %s", r.Entry.Seq, len(r.Output), r.Entry.Subjects["output"])
}

// Loader loads an engine for a replay; the caller closes it.
type Loader func(ctx context.Context, opts model.Options) (Model, func(), error)

// LoadCPU is the Loader replays use by default: llama.cpp on the CPU.
func LoadCPU(ctx context.Context, o model.Options) (Model, func(), error) {
	o.GPULayers, o.TrimMemory = 0, true
	eng, err := model.Load(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return eng, func() { eng.Close() }, nil
}

// RecordConversations records every finished answer published to evs
// from now on, in the background, by a must-deliver subscriber; modelPath
// names the model file that answered ("": none yet, not recorded). The
// returned wait, called once evs is closed, waits for what is left and
// says how many answers could not be recorded.
func RecordConversations(ctx context.Context, evs *conversation.Events, l *ledger.Ledger, s *ledger.Signer, principal string, modelPath func() string) (wait func() (failed int)) {
	sub := evs.Subscribe(ctx, "ledger", events.MustDeliver, 64)
	done := make(chan int, 1)
	go func() {
		failed := 0
		for ev := range sub.C {
			path := modelPath()
			if !ev.Final() || path == "" {
				continue
			}
			in, err := json.Marshal(struct {
				Messages []model.Message `json:"messages"`
				Sampling model.Sampling  `json:"sampling"`
			}{ev.Input, ev.Sampling})
			if err == nil {
				_, err = RecordCall(context.WithoutCancel(ctx), l, s, principal, path, in, ev.Sampling, ev.Answer.Content, ev.Stats, nil, false)
			}
			if err != nil {
				failed++
			}
		}
		done <- failed
	}()
	return func() int { return <-done }
}

// Replay runs the model call recorded as entry id again, with the same
// model file (checked by sha256), request, sampling and seed, and compares
// the output's bytes. modelPath, when not empty, replaces the recorded
// path (a model moved elsewhere); it must still have the recorded digest.
func Replay(ctx context.Context, l *ledger.Ledger, id, modelPath string, load Loader) (Replayed, error) {
	e, err := l.Get(id)
	if err != nil {
		return Replayed{}, err
	}
	r := Replayed{Entry: e, FirstDiff: -1}
	switch {
	case e.Err != nil:
		return r, fmt.Errorf("entry %d is damaged: %w", e.Seq, e.Err)
	case e.Kind != ledger.KindModel:
		return r, fmt.Errorf("entry %d is a %s entry: %w", e.Seq, e.Kind, ErrNotModelCall)
	}
	raw, err := l.Blob(e.Subjects["input"])
	if err != nil {
		return r, fmt.Errorf("entry %d: its input: %w", e.Seq, err)
	}
	if err := json.Unmarshal(raw, &r.Input); err != nil {
		return r, fmt.Errorf("entry %d: its input is not a generation request: %w", e.Seq, err)
	}
	if modelPath != "" {
		r.Input.Engine.ModelPath = modelPath
	}
	want, _ := e.Fields["model_sha256"].(string)
	if _, err := os.Stat(r.Input.Engine.ModelPath); errors.Is(err, os.ErrNotExist) {
		return r, &ModelMissingError{Path: r.Input.Engine.ModelPath, Recorded: want}
	}
	now, err := ModelSHA256(r.Input.Engine.ModelPath, l.Dir())
	if err != nil {
		return r, err
	}
	if now != want {
		return r, &ModelChangedError{Path: r.Input.Engine.ModelPath, Recorded: want, Now: now}
	}
	prep, err := Prepare(r.Input.Request)
	if err != nil {
		return r, fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	if load == nil {
		load = LoadCPU
	}
	m, closeModel, err := load(ctx, r.Input.Engine.Options())
	if err != nil {
		return r, err
	}
	defer closeModel()
	res, err := prep.Run(ctx, m, nil)
	if err != nil {
		return r, err
	}
	r.Output = []byte(res.Text)
	r.Identical = ledger.SHA256(r.Output) == e.Subjects["output"]
	if rec, err := l.Blob(e.Subjects["output"]); err == nil {
		r.Recorded = rec
		if !r.Identical {
			r.FirstDiff = firstDiff(rec, r.Output)
		}
	}
	return r, nil
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
