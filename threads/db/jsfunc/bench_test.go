package jsfunc

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// benchDoc is a typical small instance.
const benchDoc = `{"_id":"01HF3Z8K2M","owner":"` + alice + `","name":"Ada Lovelace","email":"ada@example.com","age":36,"tags":["math","engines"],"address":{"city":"London","zip":"W1"},"secret":"s3","created_at":1700000000000000000}`

func BenchmarkValidate(b *testing.B) {
	v, err := compileValidator("return instance.owner === writer", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	ev, doc := event(b, Save, `{"age":37}`), []byte(benchDoc)
	ctx := context.Background()
	v.Validate(ctx, alice, ev, doc) // sets up the runtime, outside the timing
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(ctx, alice, ev, doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateParallel(b *testing.B) {
	v, err := compileValidator("return instance.owner === writer", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	ev, doc := event(b, Save, `{"age":37}`), []byte(benchDoc)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := v.Validate(ctx, alice, ev, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFilter(b *testing.B) {
	f, err := compileFilter(clientFilter, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(benchDoc)
	ctx := context.Background()
	f.Apply(ctx, bob, doc) // sets up the runtime, outside the timing
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.Apply(ctx, bob, doc)
		if err != nil || len(out) == 0 {
			b.Fatal(out, err)
		}
	}
}

// BenchmarkRuntimeReuse compares a fresh runtime for every call with the
// idle runtimes that Validate reuses: setting up a runtime (the prelude
// freezes every built-in) costs far more than the call itself.
func BenchmarkRuntimeReuse(b *testing.B) {
	for _, bc := range []struct {
		name string
		uses int
	}{{"fresh", 1}, {"pooled", runtimeUses}} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := compileValidator("return instance.owner === writer", Limits{})
			if err != nil {
				b.Fatal(err)
			}
			v.f.uses = bc.uses
			ev, doc := event(b, Save, `{"age":37}`), []byte(benchDoc)
			ctx := context.Background()
			v.Validate(ctx, alice, ev, doc)
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Validate(ctx, alice, ev, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRuntimeMemory reports what a loaded, idle runtime holds: the
// growth of the process's resident memory per runtime, most of it outside
// the Go heap.
func BenchmarkRuntimeMemory(b *testing.B) {
	v, err := compileValidator("return instance.owner === writer", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100
	for b.Loop() {
		before := residentKB(b)
		var held []*sandbox
		for range n {
			s, err := v.f.get()
			if err != nil {
				b.Fatal(err)
			}
			held = append(held, s)
		}
		b.ReportMetric(float64(residentKB(b)-before)/n, "KB/runtime")
		for _, s := range held {
			s.close()
		}
	}
}

// residentKB returns the process's resident memory (VmRSS), in KB.
func residentKB(b *testing.B) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
