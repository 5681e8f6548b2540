package agents

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// UnitFile is a service definition that starts the scheduler at login.
type UnitFile struct {
	Path string
	Text string
	// Start, on the first file, is the commands that start the scheduler
	// now and at every login, one a line.
	Start string
}

// DaemonUnits are the files that run `EXE agents daemon` as the user's
// service: on Linux a systemd user service (restarted when it fails) and a
// timer with Persistent=true that starts it again after the machine slept
// or was off at its due time; on macOS a launchd agent. The scheduler
// itself collapses missed runs, so a late start never means a burst. home
// is SOV_HOME when set (kept for the service), configDir the user's
// configuration folder ($XDG_CONFIG_HOME, or ~/.config), userHome the
// user's home folder.
func DaemonUnits(goos, exe, home, configDir, userHome string) ([]UnitFile, error) {
	if strings.ContainsAny(exe+home, "\n\r\"%") {
		return nil, fmt.Errorf("the path %q cannot go into a service file: move sov or SOV_HOME to a plainer path", exe+" "+home)
	}
	switch goos {
	case "linux":
		dir := filepath.Join(configDir, "systemd", "user")
		env := ""
		if home != "" {
			env = fmt.Sprintf("Environment=\"SOV_HOME=%s\"\n", home)
		}
		return []UnitFile{
			{Path: filepath.Join(dir, "sov-agents.service"), Start: "systemctl --user daemon-reload\nsystemctl --user enable --now sov-agents.service sov-agents.timer", Text: fmt.Sprintf(`[Unit]
Description=sov agents scheduler: runs your agents when their schedules say

[Service]
Type=simple
ExecStart="%s" agents daemon
%sRestart=on-failure
RestartSec=30
# Stopped by a signal, sov exits 130: a clean stop, not a failure.
SuccessExitStatus=130

[Install]
WantedBy=default.target
`, exe, env)},
			{Path: filepath.Join(dir, "sov-agents.timer"), Text: `[Unit]
Description=Start the sov agents scheduler again after sleep or a missed start

[Timer]
OnBootSec=1min
OnCalendar=hourly
Persistent=true
Unit=sov-agents.service

[Install]
WantedBy=timers.target
`},
		}, nil
	case "darwin":
		env := ""
		if home != "" {
			env = fmt.Sprintf("  <key>EnvironmentVariables</key>\n  <dict><key>SOV_HOME</key><string>%s</string></dict>\n", xmlEscape(home))
		}
		plist := filepath.Join(userHome, "Library", "LaunchAgents", "org.sovos.sov-agents.plist")
		return []UnitFile{{Path: plist, Start: "launchctl load -w " + plist, Text: fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>org.sovos.sov-agents</string>
  <key>ProgramArguments</key>
  <array><string>%s</string><string>agents</string><string>daemon</string></array>
%s  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict>
</plist>
`, xmlEscape(exe), env)}}, nil
	}
	return nil, fmt.Errorf("no service manager sov knows on %s: start `sov agents daemon` yourself", goos)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// InstallDaemonUnits writes DaemonUnits for this machine, leaving files
// that exist with other content alone unless replace.
func InstallDaemonUnits(exe, home, configDir, userHome string, replace bool) ([]UnitFile, error) {
	units, err := DaemonUnits(runtime.GOOS, exe, home, configDir, userHome)
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		if old, err := os.ReadFile(u.Path); err == nil && string(old) != u.Text && !replace {
			return nil, fmt.Errorf("%s exists with other content: %w", u.Path, os.ErrExist)
		}
	}
	for _, u := range units {
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(u.Path, []byte(u.Text), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", u.Path, err)
		}
	}
	return units, nil
}
