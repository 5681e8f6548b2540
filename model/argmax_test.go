package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestArgmax(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	big := make([]float32, 32000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = r.Float32()*20 - 10
	}
	big[31999] = 11 // the maximum in the tail after the last full group of 8
	cases := []struct {
		name string
		l    []float32
		want int
	}{
		{"one", []float32{-3}, 0},
		{"short", []float32{1, 5, 2}, 1},
		{"first of ties", []float32{0, 7, 1, 7, 7, 2, 3, 4, 7, 1}, 1},
		{"all negative", []float32{-5, -1, -2, -9, -8, -7, -6, -5, -4}, 1},
		{"max in tail", []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, 9},
		{"infinity", []float32{1, inf, 2, 3, 4, 5, 6, 7, 8}, 1},
		{"NaN ignored", []float32{nan, 1, nan, 3, 2, nan, 0, 0, 0}, 3},
		{"all NaN", []float32{nan, nan}, 0},
		{"vocabulary", big, 31999},
	}
	for _, c := range cases {
		if got := argmax(c.l); got != c.want {
			t.Errorf("%s: argmax = %d, want %d", c.name, got, c.want)
		}
	}
	// Against a plain scan on random vocabularies of every small length.
	for n := 1; n < 40; n++ {
		l := big[:n]
		want := 0
		for i := range l {
			if l[i] > l[want] {
				want = i
			}
		}
		if got := argmax(l); got != want {
			t.Errorf("n=%d: argmax = %d, want %d", n, got, want)
		}
	}
}
