package main

import (
	"os"
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		name        string
		xs          []float64
		med, lo, hi float64
	}{
		{"one", []float64{3}, 3, 3, 3},
		{"odd", []float64{5, 1, 3}, 3, 1, 5},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.xs)
			med, lo, hi := median(c.xs)
			if med != c.med || lo != c.lo || hi != c.hi {
				t.Fatalf("median(%v) = %v, %v, %v; want %v, %v, %v", c.xs, med, lo, hi, c.med, c.lo, c.hi)
			}
			if !slices.Equal(in, c.xs) {
				t.Fatalf("median reordered its input: %v", c.xs)
			}
		})
	}
}

func TestRatiosPairRepetitions(t *testing.T) {
	got := ratios([]float64{200, 300, 100}, []float64{100, 300})
	if want := []float64{2, 1}; !slices.Equal(got, want) {
		t.Fatalf("ratios = %v, want %v", got, want)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1 GiB", 4 << 10: "4 KiB", 3 << 20: "3 MiB", 1000: "1000 B", 1<<20 + 1: "1048577 B"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestStepsSwapOrder checks that odd repetitions run the sides in the
// opposite order and that every step is recorded, with this process
// standing in for the daemons.
func TestStepsSwapOrder(t *testing.T) {
	var res results
	for rep, want := range [][]string{{"hub", "kubo"}, {"kubo", "hub"}} {
		var order []string
		mark := func(side string) func() error {
			return func() error { order = append(order, side); return nil }
		}
		err := res.steps(rep, 1<<20,
			step{"push", "hub", os.Getpid(), mark("hub")},
			step{"push", "kubo", os.Getpid(), mark("kubo")})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(order, want) {
			t.Fatalf("repetition %d ran %v, want %v", rep, order, want)
		}
	}
	if n := len(res.runs["push"]["hub"]); n != 2 || len(res.runs["push"]["kubo"]) != 2 {
		t.Fatalf("recorded %d hub and %d kubo runs, want 2 each", n, len(res.runs["push"]["kubo"]))
	}
	if res.rss["push"]["hub"] <= 0 {
		t.Fatalf("no peak RSS recorded")
	}
}
