package paths

import (
	"path/filepath"
	"testing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Paths
	}{
		{"sov home wins", map[string]string{"SOV_HOME": "/x", "XDG_DATA_HOME": "/d", "HOME": "/h"},
			Paths{Data: "/x", Config: "/x", Cache: "/x/cache"}},
		{"xdg", map[string]string{"XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c", "XDG_CACHE_HOME": "/k", "HOME": "/h"},
			Paths{Data: "/d/sov", Config: "/c/sov", Cache: "/k/sov"}},
		{"home fallback", map[string]string{"HOME": "/h"},
			Paths{Data: "/h/.local/share/sov", Config: "/h/.config/sov", Cache: "/h/.cache/sov"}},
		{"relative xdg ignored", map[string]string{"HOME": "/h", "XDG_DATA_HOME": "rel"},
			Paths{Data: "/h/.local/share/sov", Config: "/h/.config/sov", Cache: "/h/.cache/sov"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v want %+v", got, tt.want)
			}
		})
	}
	if _, err := FromEnv(func(string) string { return "" }); err == nil {
		t.Fatal("want error with no HOME")
	}
	p := Paths{Data: "/d", Config: "/c"}
	if p.ConfigFile() != filepath.Join("/c", "config.toml") || p.Models() != "/d/models" {
		t.Fatal("helpers")
	}
}
