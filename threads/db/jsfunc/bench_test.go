package jsfunc

import (
	"context"
	"testing"
)

// benchDoc is a typical small instance.
const benchDoc = `{"_id":"01HF3Z8K2M","owner":"` + alice + `","name":"Ada Lovelace","email":"ada@example.com","age":36,"tags":["math","engines"],"address":{"city":"London","zip":"W1"},"secret":"s3","created_at":1700000000000000000}`

func BenchmarkValidate(b *testing.B) {
	v, err := CompileValidator("return instance.owner === writer", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	ev, doc := event(b, Save, `{"age":37}`), []byte(benchDoc)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(ctx, alice, ev, doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateParallel(b *testing.B) {
	v, err := CompileValidator("return instance.owner === writer", Limits{})
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
	f, err := CompileFilter(clientFilter, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(benchDoc)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.Apply(ctx, bob, doc)
		if err != nil || len(out) == 0 {
			b.Fatal(out, err)
		}
	}
}

// BenchmarkRuntimeReuse compares a fresh runtime for every call with the
// pool of runtimes that Validate uses: setting up a runtime (goja makes
// its built-ins on first use, and the sandbox set-up uses many) costs
// several times the call itself.
func BenchmarkRuntimeReuse(b *testing.B) {
	for _, bc := range []struct {
		name string
		uses int
	}{{"fresh", 1}, {"pooled", runtimeUses}} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := CompileValidator("return instance.owner === writer", Limits{})
			if err != nil {
				b.Fatal(err)
			}
			v.f.uses = bc.uses
			ev, doc := event(b, Save, `{"age":37}`), []byte(benchDoc)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Validate(ctx, alice, ev, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
