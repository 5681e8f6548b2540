package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestContent(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{`"hi"`, "hi", ""},
		{`null`, "", ""},
		{`[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, "ab", ""},
		{`[{"type":"image_url","image_url":{"url":"x"}}]`, "", `"image_url": only text parts`},
		{`42`, "", "a string or an array of text parts"},
	} {
		var c Content
		err := json.Unmarshal([]byte(tt.in), &c)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || string(c) != tt.want {
			t.Errorf("%s: %q, %v", tt.in, c, err)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`"a"`, []string{"a"}, true},
		{`["a","b"]`, []string{"a", "b"}, true},
		{`null`, nil, true},
		{`[1]`, nil, false},
	} {
		var s Strings
		err := json.Unmarshal([]byte(tt.in), &s)
		if (err == nil) != tt.ok || strings.Join(s, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: %q, %v", tt.in, s, err)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"5m"`, 5 * time.Minute, true},
		{`0`, 0, true},
		{`30`, 30 * time.Second, true},
		{`-1`, -1, true},
		{`"-1m"`, -1, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || err == nil && d.Duration != tt.want {
			t.Errorf("%s: %v, %v", tt.in, d.Duration, err)
		}
	}
}
