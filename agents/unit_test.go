package agents

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDaemonUnits(t *testing.T) {
	tests := []struct {
		goos, exe, home string
		want            []string // substrings of the files, in order
		start           string   // the first file's Start
		err             bool
	}{
		{"linux", "/usr/bin/sov", "", []string{`ExecStart="/usr/bin/sov" agents daemon`, "Persistent=true"},
			"systemctl --user daemon-reload\nsystemctl --user enable --now sov-agents.service sov-agents.timer", false},
		{"linux", "/opt/sov", "/data/sov", []string{`Environment="SOV_HOME=/data/sov"`, "Unit=sov-agents.service"},
			"systemctl --user daemon-reload\nsystemctl --user enable --now sov-agents.service sov-agents.timer", false},
		{"darwin", "/usr/local/bin/sov", "/a&b", []string{"<string>/usr/local/bin/sov</string>", "/a&amp;b"},
			"launchctl load -w /home/u/Library/LaunchAgents/org.sovos.sov-agents.plist", false},
		{"plan9", "/bin/sov", "", nil, "", true},
		{"linux", "/bin/sov\nExecStartPre=/bin/evil", "", nil, "", true},
	}
	for _, tt := range tests {
		units, err := DaemonUnits(tt.goos, tt.exe, tt.home, "/cfg", "/home/u")
		if (err != nil) != tt.err {
			t.Fatalf("%s %q: err %v", tt.goos, tt.exe, err)
		}
		if len(units) > 0 && units[0].Start != tt.start {
			t.Errorf("%s: start %q, want %q", tt.goos, units[0].Start, tt.start)
		}
		var all strings.Builder
		for _, u := range units {
			all.WriteString(u.Text)
		}
		for _, w := range tt.want {
			if !strings.Contains(all.String(), w) {
				t.Errorf("%s: no %q in\n%s", tt.goos, w, all.String())
			}
		}
	}
}

func TestInstallDaemonUnitsKeepsOthers(t *testing.T) {
	cfg := t.TempDir()
	units, err := InstallDaemonUnits("/usr/bin/sov", "", cfg, t.TempDir(), false)
	if err != nil {
		t.Skip(err) // no service manager sov knows on this system
	}
	if _, err := InstallDaemonUnits("/usr/bin/sov", "", cfg, t.TempDir(), false); err != nil {
		t.Fatalf("the same files again: %v", err)
	}
	if err := os.WriteFile(units[0].Path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallDaemonUnits("/usr/bin/sov", "", cfg, t.TempDir(), false); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrote another file: %v", err)
	}
	if b, _ := os.ReadFile(units[0].Path); string(b) != "mine" || filepath.Dir(units[0].Path) == "" {
		t.Fatal("the file changed")
	}
	if _, err := InstallDaemonUnits("/usr/bin/sov", "", cfg, t.TempDir(), true); err != nil {
		t.Fatal(err)
	}
}
