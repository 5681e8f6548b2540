package dao

import "testing"

// String and Label list weights by option index whatever the map's
// order, so the CLI's text and what the user approves are stable.
func TestChoiceTextIsOrdered(t *testing.T) {
	p := Proposal{Type: Weighted, Choices: []string{"Docs", "Tests", "Design"}}
	for _, tc := range []struct {
		c          Choice
		str, label string
	}{
		{Choice{Type: Weighted, Weights: map[int]float64{3: 1, 1: 2, 2: 0.5}}, "1=2,2=0.5,3=1", "Docs=2, Tests=0.5, Design=1"},
		{Choice{Type: Quadratic, Weights: map[int]float64{2: 4, 1: 1}}, "1=1,2=4", "Docs=1, Tests=4"},
		{Choice{Type: Quadratic, Weights: map[int]float64{}}, "", ""},
	} {
		for range 20 { // map order varies between iterations
			if s, l := tc.c.String(), tc.c.Label(p); s != tc.str || l != tc.label {
				t.Fatalf("%v: String %q Label %q, want %q %q", tc.c.Weights, s, l, tc.str, tc.label)
			}
		}
	}
}
