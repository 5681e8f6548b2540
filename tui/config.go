package tui

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
)

// Config is the [tui] table of the configuration file.
type Config struct {
	// Theme is "auto" (from the terminal background), "dark", "light" or
	// "none" (no colour; also chosen when NO_COLOR is set).
	Theme string `toml:"theme"`
	// Keys maps an action to the keys that trigger it, e.g.
	// send = ["enter"]. Actions and defaults are listed by /help.
	Keys map[string][]string `toml:"keys"`
}

// DefaultConfig is used when the config file has no [tui] table.
func DefaultConfig() Config {
	return Config{Theme: "auto", Keys: map[string][]string{}}
}

// action names, in the order /help lists them.
var actionOrder = []string{
	"send", "newline", "stop", "quit", "history_prev", "history_next",
	"page_up", "page_down", "latest", "complete", "sessions", "expand",
}

var defaultKeys = map[string][]string{
	"send":         {"enter"},
	"newline":      {"shift+enter", "alt+enter", "ctrl+j"},
	"stop":         {"esc"},
	"quit":         {"ctrl+c"},
	"history_prev": {"up"},
	"history_next": {"down"},
	"page_up":      {"pgup"},
	"page_down":    {"pgdown"},
	"latest":       {"ctrl+end", "ctrl+g"},
	"complete":     {"tab"},
	"sessions":     {"ctrl+o"},
	"expand":       {"ctrl+r"},
}

var actionHelp = map[string]string{
	"send":         "send the message",
	"newline":      "insert a newline",
	"stop":         "stop the answer (kept) or agent run; close a panel",
	"quit":         "quit (asks while an answer streams)",
	"history_prev": "previous input (on the first line)",
	"history_next": "next input (on the last line)",
	"page_up":      "scroll up (mouse wheel too)",
	"page_down":    "scroll down",
	"latest":       "jump to the latest message",
	"complete":     "complete a /command",
	"sessions":     "open the sessions list",
	"expand":       "expand / fold agents' tool results",
}

// KeyMap holds the resolved bindings.
type KeyMap struct {
	Send, Newline, Stop, Quit, HistoryPrev, HistoryNext key.Binding
	PageUp, PageDown, Latest, Complete, Sessions        key.Binding
	Expand                                              key.Binding
	keys                                                map[string][]string
}

// NewKeyMap applies the configured overrides to the defaults; an unknown
// action is an error naming the valid ones.
func NewKeyMap(over map[string][]string) (KeyMap, error) {
	keys := map[string][]string{}
	for k, v := range defaultKeys {
		keys[k] = v
	}
	for k, v := range over {
		if _, ok := defaultKeys[k]; !ok {
			return KeyMap{}, fmt.Errorf("config [tui.keys]: unknown action %q (valid: %s)", k, strings.Join(actionOrder, ", "))
		}
		if len(v) == 0 {
			return KeyMap{}, fmt.Errorf("config [tui.keys]: action %q has no keys: remove it to keep the default", k)
		}
		keys[k] = v
	}
	b := func(a string) key.Binding {
		return key.NewBinding(key.WithKeys(keys[a]...), key.WithHelp(strings.Join(keys[a], "/"), actionHelp[a]))
	}
	return KeyMap{
		Send: b("send"), Newline: b("newline"), Stop: b("stop"), Quit: b("quit"),
		HistoryPrev: b("history_prev"), HistoryNext: b("history_next"),
		PageUp: b("page_up"), PageDown: b("page_down"), Latest: b("latest"),
		Complete: b("complete"), Sessions: b("sessions"), Expand: b("expand"), keys: keys,
	}, nil
}

// HelpLines lists the bindings for /help.
func (k KeyMap) HelpLines() []string {
	var out []string
	for _, a := range actionOrder {
		out = append(out, fmt.Sprintf("%-31s %s", strings.Join(k.keys[a], ", "), actionHelp[a]))
	}
	return out
}

// Theme holds the styles of one colour scheme.
type Theme struct {
	Name      string // "dark", "light" or "none"
	User      lipgloss.Style
	Assistant lipgloss.Style
	Notice    lipgloss.Style
	Error     lipgloss.Style
	Dim       lipgloss.Style
	Status    lipgloss.Style
	Accent    lipgloss.Style
	Selected  lipgloss.Style
	Border    lipgloss.Style
	Code      lipgloss.Style // code spans and blocks in messages
}

// NewTheme builds the named theme.
func NewTheme(name string) Theme {
	s := lipgloss.NewStyle
	if name == "none" {
		return Theme{Name: "none", User: s().Bold(true), Assistant: s().Bold(true), Notice: s(),
			Error: s().Bold(true), Dim: s(), Status: s().Reverse(true), Accent: s().Bold(true),
			Selected: s().Reverse(true), Border: s(), Code: s()}
	}
	dark := name != "light"
	pick := func(light, darkc string) color.Color {
		if dark {
			return lipgloss.Color(darkc)
		}
		return lipgloss.Color(light)
	}
	return Theme{
		Name:      map[bool]string{true: "dark", false: "light"}[dark],
		User:      s().Bold(true).Foreground(pick("#005f87", "#5fafff")),
		Assistant: s().Bold(true).Foreground(pick("#5f8700", "#87d787")),
		Notice:    s().Foreground(pick("#5f5f5f", "#a8a8a8")),
		Error:     s().Bold(true).Foreground(pick("#af0000", "#ff5f5f")),
		Dim:       s().Foreground(pick("#8a8a8a", "#6c6c6c")),
		Status:    s().Foreground(pick("#1c1c1c", "#e4e4e4")).Background(pick("#d0d0d0", "#303030")),
		Accent:    s().Bold(true).Foreground(pick("#8700af", "#d787ff")),
		Selected:  s().Foreground(pick("#ffffff", "#000000")).Background(pick("#005f87", "#87afff")),
		Border:    s().Foreground(pick("#bcbcbc", "#4e4e4e")),
		Code:      s().Foreground(pick("#af5f00", "#ffaf5f")),
	}
}
