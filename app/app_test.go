package app

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
)

// newApp is an App over a fresh data directory with env as its
// environment; warnings are collected.
func newApp(t *testing.T, env map[string]string) (*App, *[]string) {
	t.Helper()
	env["SOV_HOME"] = t.TempDir()
	a, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	a.Warn = func(msg string) { warned = append(warned, msg) }
	return a, &warned
}

// TestRecordCallSignsOnlyWithAPassphraseInTheEnvironment: background
// recording never asks; with the ledger passphrase in the environment its
// entries are signed, without it they are written unsigned and nothing is
// said, and a wrong one is said once per entry and the entry still written.
func TestRecordCallSignsOnlyWithAPassphraseInTheEnvironment(t *testing.T) {
	const pass = "correct horse battery staple"
	env := map[string]string{}
	a, warned := newApp(t, env)
	modelFile := filepath.Join(t.TempDir(), "m.gguf")
	os.WriteFile(modelFile, []byte("GGUF not really"), 0o600)
	res := generate.Result{Request: generate.Request{Prompt: "hi"}, Text: "hello", Stats: model.Stats{StopReason: model.StopEOG}}
	record := func() bool {
		t.Helper()
		seq := a.RecordCall(context.Background(), "test", generate.Engine{ModelPath: modelFile}, res)
		if seq == nil {
			t.Fatalf("not recorded: %v", *warned)
		}
		e, err := a.Ledger().Get(strconv.FormatUint(*seq, 10))
		if err != nil {
			t.Fatal(err)
		}
		return e.Signed()
	}
	if record() || a.AutoSigner() != nil || len(*warned) != 0 {
		t.Fatalf("no key yet: want an unsigned entry and silence, got warnings %q", *warned)
	}
	// The key is made by an interactive checkpoint; here, directly.
	if _, err := a.LedgerSigner(Passphrases{Ledger: func(bool) ([]byte, error) { return []byte(pass), nil }}, true); err != nil {
		t.Fatal(err)
	}
	if record() || len(*warned) != 0 {
		t.Fatalf("no passphrase in the environment: want unsigned and silence, got %q", *warned)
	}
	env[EnvLedgerPassphrase] = pass
	if !record() {
		t.Fatal("with the passphrase in the environment the entry is unsigned")
	}
	env[EnvLedgerPassphrase] = "wrong"
	if record() || len(*warned) != 1 || !strings.Contains((*warned)[0], "unsigned") {
		t.Fatalf("wrong passphrase: want one warning and an unsigned entry, got %q", *warned)
	}
}

func TestDoctorListsModelsAndPaths(t *testing.T) {
	a, _ := newApp(t, map[string]string{})
	d := a.Doctor()
	if d.ModelsErr != nil || len(d.Models) != 0 || !strings.Contains(d.String(), "models      none installed\n") {
		t.Fatalf("empty store: %v\n%s", d.ModelsErr, d)
	}
	for _, want := range []string{"llama.cpp   " + model.LlamaCommit, "data        " + a.Paths.Data, "models dir  " + a.Paths.Models()} {
		if !strings.Contains(d.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, d)
		}
	}
}

func TestWalletSessionWithoutAWallet(t *testing.T) {
	a, warned := newApp(t, map[string]string{})
	s, err := a.WalletSession(context.Background(), "test", nil, false, func() ([]byte, error) { t.Fatal("asked for a passphrase"); return nil, nil })
	if err != nil || s == nil || len(*warned) != 0 {
		t.Fatalf("%v %v", err, *warned)
	}
	if len(s.Networks()) == 0 {
		t.Fatal("no built-in networks")
	}
}
