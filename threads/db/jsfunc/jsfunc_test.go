package jsfunc

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
)

// ok is the kind a case expects when it expects no error.
const ok = errors.Other

// Bodies as the JS client (@textile/threads-client 2.3.4, getFunctionBody)
// sends them, produced with node -e from compat/js:
//
//	const writeValidator = (writer, event, instance) => {
//	  var type = event.patch.type // what kind of write
//	  if (type === "delete") {
//	    return writer === instance.owner
//	  }
//	  return true
//	};
//	const readFilter = function (reader, instance) {
//	  /* hide the secret from everyone but the owner */
//	  if (reader !== instance.owner) { delete instance.secret }
//	  return instance
//	};
//	getFunctionBody(writeValidator); getFunctionBody(readFilter)
//	getFunctionBody(new Function("function writeValidator(writer, event, instance){ return true }"))
const (
	clientValidator   = "\n  var type = event.patch.type \n  if (type === \"delete\") {\n    return writer === instance.owner\n  }\n  return true\n"
	clientFilter      = "\n  \n  if (reader !== instance.owner) { delete instance.secret }\n  return instance\n"
	clientNewFunction = "\nfunction writeValidator(writer, event, instance){ return true }\n"
)

// Identities as the wire carries them: multibase public key strings.
const (
	alice = "bbaareigca777c5zjrjrkouccm7sfv34tfaadsuxeiwmtr52qlwilmlnym4"
	bob   = "bbaareie3rd4plaeplyqxnkjhgkjpzvsyvi5zkf3qwjuw3bh5tlncmcu6xa"
)

// event returns the JSON of an event on instance "1" of collection
// "people".
func event(t testing.TB, typ EventType, patch string) []byte {
	t.Helper()
	e := Event{Type: typ, Collection: "people", InstanceID: "1", Time: 1700000000000000000}
	if patch != "" {
		e.Patch = json.RawMessage(patch)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkErr fails t unless err is of kind want (ok: nil) and its message
// holds msg.
func checkErr(t *testing.T, err error, want errors.Kind, msg string) {
	t.Helper()
	if want == ok {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	if got := errors.KindOf(err); got != want {
		t.Fatalf("error %q is %v, want %v", err, got, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	if !strings.HasPrefix(err.Error(), "jsfunc.") {
		t.Fatalf("error %q does not name its op", err)
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		lim    Limits
		kind   errors.Kind
		msg    string
		isNil  bool // an empty body: no validator
		accept bool // whether the compiled validator accepts a create by alice
	}{
		{name: "body", body: "return writer === " + `"` + alice + `"`, accept: true},
		{name: "body from the JS client", body: clientValidator, accept: true},
		{name: "function declaration from new Function", body: clientNewFunction, accept: true},
		{name: "function expression", body: "function (writer, event, instance) { return event.type === 'create' }", accept: true},
		{name: "function with other argument names", body: "function v(w, e) { return w === '" + bob + "' }", accept: false},
		{name: "arrow function", body: "(w, e, i) => e.patch.type === 'create'", accept: true},
		{name: "body with a trailing line comment", body: "return true // always", accept: true},
		{name: "body that declares a function and returns nothing", body: "function helper() { return true }\nhelper()", accept: false},
		{name: "a call that looks like a function", body: "function () { return true }()", accept: false},
		{name: "empty", body: "", isNil: true},
		{name: "blank", body: " \n\t", isNil: true},
		{name: "syntax error", body: "return (", kind: errors.Invalid, msg: "SyntaxError: unexpected token"},
		{name: "closes the function early", body: "return true }); (function () {", kind: errors.Invalid, msg: "closes the function"},
		{name: "strict mode", body: "with (instance) { return owner === writer }", kind: errors.Invalid, msg: "SyntaxError: invalid keyword: with"},
		{name: "async function", body: "async function (w) { return true }", kind: errors.Invalid, msg: "async"},
		{name: "async arrow", body: "async (w) => true", kind: errors.Invalid, msg: "async"},
		{name: "generator", body: "function* (w) { yield true }", kind: errors.Invalid, msg: "generator"},
		{name: "too long", body: "return true" + strings.Repeat(" ", 100), lim: Limits{MaxSourceLen: 100}, kind: errors.Invalid, msg: "at most 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := compileValidator(tc.body, tc.lim)
			checkErr(t, err, tc.kind, tc.msg)
			if err != nil {
				return
			}
			if (v == nil) != tc.isNil {
				t.Fatalf("validator is %v, want nil %v", v, tc.isNil)
			}
			if v == nil {
				return
			}
			err = v.Validate(context.Background(), alice, event(t, Create, `{"_id":"1"}`), nil)
			if accepted := err == nil; accepted != tc.accept {
				t.Fatalf("accepted %v (%v), want %v", accepted, err, tc.accept)
			}
		})
	}
}

func TestCompileFilter(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind errors.Kind
		msg  string
	}{
		{name: "body from the JS client", body: clientFilter},
		{name: "whole function", body: "function (r, i) { return i }"},
		{name: "syntax error", body: "return instance.", kind: errors.Invalid, msg: "SyntaxError"},
		{name: "closes the function early", body: "}, function () {", kind: errors.Invalid, msg: "closes the function"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileFilter(tc.body, Limits{})
			checkErr(t, err, tc.kind, tc.msg)
		})
	}
	if f, err := compileFilter("  ", Limits{}); f != nil || err != nil {
		t.Fatalf("blank filter: %v, %v; want nil, nil", f, err)
	}
}

func TestValidate(t *testing.T) {
	owned := `{"_id":"1","owner":"` + alice + `","name":"Ada"}`
	tests := []struct {
		name     string
		body     string
		writer   string
		event    []byte
		instance string // the stored instance; "" for none
		lim      Limits
		kind     errors.Kind
		msg      string
		heavy    bool // much work within the time limit
	}{
		// What validators are for.
		{name: "owner may write", body: "return instance.owner === writer", writer: alice, instance: owned},
		{name: "others may not", body: "return instance.owner === writer", writer: bob, instance: owned, kind: errors.Permission, msg: "write refused by the collection's validator"},
		{name: "JS client body: anyone may save", body: clientValidator, writer: bob, event: event(t, Save, `{"name":"Bob"}`), instance: owned},
		{name: "JS client body: only the owner deletes", body: clientValidator, writer: bob, event: event(t, Delete, ""), instance: owned, kind: errors.Permission, msg: "refused"},
		{name: "JS client body: the owner deletes", body: clientValidator, writer: alice, event: event(t, Delete, ""), instance: owned},
		{name: "create by the owner it names", body: "var p = event.patch; return p.type === 'create' ? p.json_patch.owner === writer : instance.owner === writer", writer: alice, event: event(t, Create, owned)},
		{name: "create naming another owner", body: "var p = event.patch; return p.type === 'create' ? p.json_patch.owner === writer : instance.owner === writer", writer: bob, event: event(t, Create, owned), kind: errors.Permission},
		{name: "save may not change the owner", body: "return !('owner' in event.patch.json_patch)", writer: bob, event: event(t, Save, `{"owner":"`+bob+`"}`), instance: owned, kind: errors.Permission},
		{name: "short event aliases", body: "return event.type === 'save' && event.collection === 'people' && event.instanceID === '1' && event._id === '1' && event.collection_name === 'people' && event.timestamp === 1700000000000000000", writer: alice, event: event(t, Save, `{}`)},
		{name: "no instance is undefined", body: "return instance === undefined", writer: alice, event: event(t, Create, `{}`)},
		{name: "no writer is the empty string", body: "return writer === ''"},
		{name: "no event is undefined", body: "return event === undefined", event: []byte{}},

		// Answers that are not true.
		{name: "false", body: "return false", kind: errors.Permission, msg: "write refused by the collection's validator"},
		{name: "no return", body: "var x = 1", kind: errors.Permission, msg: "returned undefined"},
		{name: "null", body: "return null", kind: errors.Permission, msg: "returned null"},
		{name: "a reason", body: "return 'permission denied'", kind: errors.Permission, msg: "validator: permission denied"},
		{name: "a number", body: "return 1", kind: errors.Permission, msg: "returned the number 1"},
		{name: "an object", body: "return {ok: true}", kind: errors.Permission, msg: "returned an object"},
		{name: "a bigint", body: "return 1n", kind: errors.Permission, msg: "returned the bigint 1"},
		{name: "a promise", body: "return Promise.resolve(true)", kind: errors.Permission, msg: "returned an object"},

		// Failures.
		{name: "throw", body: "throw new Error('only the owner may write')", kind: errors.Invalid, msg: "threw Error: only the owner may write"},
		{name: "type error", body: "return instance.owner === writer", writer: alice, event: event(t, Create, owned), kind: errors.Invalid, msg: "TypeError"},
		{name: "endless loop", body: "while (true) {}", lim: Limits{Timeout: DefaultTimeout}, kind: errors.DeadlineExceeded, msg: "ran for longer than its limit of 100ms"},
		{name: "endless loop that catches", body: "for (;;) { try { while (true) {} } catch (e) {} } ", lim: Limits{Timeout: DefaultTimeout}, kind: errors.DeadlineExceeded, msg: "ran for longer than its limit"},
		// Promise jobs never run: the answer is what the function returned
		// (goja ran them after the call, within its time limit).
		{name: "endless loop in a promise job", body: "Promise.resolve().then(function () { for (;;) {} }); return true"},
		// With a time limit the memory limit comes well before, on any machine.
		{name: "allocation loop", body: "var a = []; while (true) a.push('x'.repeat(1e6) + a.length)", lim: Limits{Timeout: time.Minute}, kind: errors.Exhausted, msg: "memory limit of 64 MiB", heavy: true},
		{name: "string doubling", body: "var s = 'x'; while (true) s += s", kind: errors.Invalid, msg: "InternalError: string too long"},
		{name: "huge string", body: "return 'x'.repeat(1e12)", kind: errors.Invalid, msg: "RangeError: invalid repeat count"},
		{name: "string past the memory limit", body: "return 'x'.repeat(1e8).length > 0", kind: errors.Exhausted, msg: "memory limit of 64 MiB"},
		{name: "big array", body: "return new Array(1e8).fill(0).length > 0", kind: errors.Invalid, msg: "RangeError: fill: the array is longer than 262144, the limit of validators and filters"},
		{name: "lower memory limit", body: "return 'x'.repeat(1 << 21).length > 0", lim: Limits{Memory: 1 << 20}, kind: errors.Exhausted, msg: "memory limit of 1 MiB"},
		{name: "catastrophic regular expression", body: "return /^(a+)+(?=c)/.test('a'.repeat(34) + 'b')", lim: Limits{Timeout: DefaultTimeout}, kind: errors.DeadlineExceeded, msg: "ran for longer than its limit of 100ms and was stopped"},
		{name: "sparse array sort", body: "return Array(1e8).sort().length", kind: errors.Invalid, msg: "RangeError: sort: the array is longer than 16384"},
		{name: "array-like indexOf", body: "return Array.prototype.indexOf.call({length: 2 ** 53}, 1)", kind: errors.Invalid, msg: "longer than 262144"},
		{name: "sort without a comparator", body: "var a = []; for (var i = 0; i < 20000; i++) a.push(i); return a.sort().length", kind: errors.Invalid, msg: "sort: the array is longer than 16384", lim: Limits{Timeout: time.Minute}, heavy: true},
		{name: "sort with a comparator", body: "var a = []; for (var i = 0; i < 20000; i++) a.push(i); return a.sort(function (x, y) { return y - x })[0] === 19999", lim: Limits{Timeout: time.Minute}, heavy: true},
		{name: "array from an array-like", body: "return Array.from({length: 1e9}).length", kind: errors.Invalid, msg: "from: the array is longer than 262144"},
		{name: "array from an iterable", body: "return Array.from(new Set([1, 2])).length === 2"},
		{name: "typed array join", body: "return new Uint8Array(1 << 24).join().length", kind: errors.Invalid, msg: "longer than 262144", lim: Limits{Timeout: time.Minute}, heavy: true},
		{name: "fake interrupt", body: "throw new InternalError('interrupted')", kind: errors.Invalid, msg: "threw InternalError: interrupted"},
		{name: "short timeout", body: "while (true) {}", lim: Limits{Timeout: 10 * time.Millisecond}, kind: errors.DeadlineExceeded, msg: "limit of 10ms"},
		{name: "deep recursion", body: "function f(n) { return f(n + 1) } return f(0)", kind: errors.Exhausted, msg: "deeper than the limit of 1000"},
		// The engine's stack overflow is a catchable InternalError (goja's
		// was not): a function may catch it and go on, with its stack
		// unwound, which is harmless.
		{name: "deep recursion that catches", body: "function f(n) { try { return f(n + 1) } catch (e) { return e.name === 'InternalError' } } return f(0)"},
		{name: "recursion through a built-in", body: "function f() { return [1].map(f) } return f()", kind: errors.Exhausted, msg: "deeper"},
		{name: "recursion within the limit", body: "function f(n) { return n === 0 || f(n - 1) } return f(500)"},
		{name: "lower call depth", body: "function f(n) { return n === 0 || f(n - 1) } return f(500)", lim: Limits{MaxCallDepth: 100}, kind: errors.Exhausted, msg: "limit of 100"},
		{name: "instance not JSON", body: "return true", instance: "{", kind: errors.Invalid, msg: "instance is not JSON"},
		{name: "instance nested too deep", body: "return true", instance: strings.Repeat("[", 2000), kind: errors.Invalid, msg: "instance nests deeper than the limit of 1000 levels"},

		// The sandbox.
		{name: "no clock", body: "return Date.now() > 0", kind: errors.Invalid, msg: "the current time is not available"},
		{name: "no clock through new Date", body: "return new Date().getTime() > 0", kind: errors.Invalid, msg: "the current time is not available"},
		{name: "dates from values", body: "return new Date(0).toISOString() === '1970-01-01T00:00:00.000Z' && Date.UTC(2020, 0, 1) === 1577836800000"},
		{name: "no eval", body: "return eval('true')", kind: errors.Invalid, msg: "EvalError: eval is not available"},
		{name: "no Function", body: "return Function('return true')()", kind: errors.Invalid, msg: "EvalError: code generation from strings"},
		{name: "no Function through a function", body: "return (function () {}).constructor('return true')()", kind: errors.Invalid, msg: "EvalError"},
		{name: "no Function through a generator", body: "return (function* () {}).constructor('yield 1')().next().value", kind: errors.Invalid, msg: "EvalError"},
		{name: "no Function through an async function", body: "return (async function () {}).constructor('return 1')", kind: errors.Invalid, msg: "EvalError"},
		{name: "functions are still functions", body: "var f = function () {}; return f instanceof Function && typeof Function === 'function' && f.constructor === Function"},
		{name: "no host", body: "return typeof require + typeof console + typeof process + typeof setTimeout + typeof GoError + typeof module"},
		{name: "no host really", body: "return typeof require === 'undefined' && typeof console === 'undefined' && typeof setTimeout === 'undefined' && typeof GoError === 'undefined'"},
		{name: "JSON.parse", body: "return JSON.parse('{\"a\":[1,2]}').a[1] === 2 && JSON.parse('[1]', function (k, v) { return v }).length === 1"},
		// JSON.parse nests as deep as calls do (the engine's parser
		// recurses; goja's was bounded apart, at 10000 levels).
		{name: "JSON.parse too deep", body: "return JSON.parse('['.repeat(20001))", kind: errors.Exhausted, msg: "deeper than the limit of 1000"},
		{name: "JSON.parse within the depth limit", body: "return JSON.parse('['.repeat(900) + ']'.repeat(900)).length === 1"},
		{name: "strict mode", body: "undeclared = 1; return true", kind: errors.Invalid, msg: "ReferenceError"},
		{name: "Math.random", body: "var r = Math.random(); return r >= 0 && r < 1"},
		{name: "regular expressions", body: "return /^b[a-z2-7]+$/.test(writer)", writer: alice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.heavy && raceEnabled {
				t.Skip("too much work for its time limit under the race detector; make test runs it without -race")
			}
			v, err := compileValidator(tc.body, tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			ev := tc.event
			if ev == nil {
				ev = event(t, Save, `{}`)
			}
			var instance []byte
			if tc.instance != "" {
				instance = []byte(tc.instance)
			}
			err = v.Validate(context.Background(), tc.writer, ev, instance)
			if tc.name == "no host" {
				// A refusal that shows every name is undefined.
				checkErr(t, err, errors.Permission, strings.Repeat("undefined", 6))
				return
			}
			checkErr(t, err, tc.kind, tc.msg)
		})
	}
}

// TestValidateContext: a call ends when its context does, however far
// its time limit (an hour here, which no call reaches), and the runtime it
// ran in is stopped: with one place for the tenant, the next call gets it.
func TestValidateContext(t *testing.T) {
	v, err := compileValidator("if (instance.spin) { while (true) {} } return true", Limits{Timeout: time.Hour, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	spin := []byte(`{"spin":true}`)
	// served fails t unless a quick call of the tenant gets its one place
	// within a generous deadline: the call before it was stopped.
	served := func(t *testing.T) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		checkErr(t, v.Validate(ctx, alice, nil, []byte(`{}`)), ok, "")
	}
	t.Run("deadline sooner than the limit", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := v.Validate(ctx, alice, nil, spin)
		checkErr(t, err, errors.DeadlineExceeded, "request's deadline passed")
		served(t)
	})
	t.Run("canceled while running", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		err := v.Validate(ctx, alice, nil, spin)
		checkErr(t, err, errors.Canceled, "canceled")
		served(t)
	})
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		checkErr(t, v.Validate(ctx, alice, nil, nil), errors.Canceled, "canceled")
	})
	t.Run("deadline passed before", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		checkErr(t, v.Validate(ctx, alice, nil, nil), errors.DeadlineExceeded, "deadline")
	})
	t.Run("a live context does not get in the way", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		checkErr(t, v.Validate(ctx, alice, nil, []byte(`{}`)), ok, "")
	})
}

// TestInterruptedRuntimeNotReused checks that a runtime that was stopped,
// or failed, never serves another call: the calls after it run normally
// and are not interrupted by a stale interrupt.
func TestInterruptedRuntimeNotReused(t *testing.T) {
	body := `
		if (instance.spin) { while (true) {} }
		if (instance.deep) { return (function f() { return f() })() }
		if (instance.boom) { throw new Error("boom") }
		return true`
	// Far more than the calls that must succeed or overflow the stack
	// need, on a busy machine too (the race detector slows the engine
	// tens of times); the endless ones spend it.
	lim := Limits{Timeout: time.Second}
	if raceEnabled {
		lim.Timeout = 5 * time.Second
	}
	v, err := compileValidator(body, lim)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		instance string
		kind     errors.Kind
	}{
		{`{}`, ok},
		{`{"spin":true}`, errors.DeadlineExceeded},
		{`{}`, ok},
		{`{"deep":true}`, errors.Exhausted},
		{`{}`, ok},
		{`{"boom":true}`, errors.Invalid},
		{`{}`, ok},
		{`{"spin":true}`, errors.DeadlineExceeded},
		{`{"spin":true}`, errors.DeadlineExceeded},
	}
	for i, s := range steps {
		err := v.Validate(context.Background(), alice, nil, []byte(s.instance))
		if got := errors.KindOf(err); (err == nil) != (s.kind == ok) || err != nil && got != s.kind {
			t.Fatalf("step %d (%s): %v, want %v", i, s.instance, err, s.kind)
		}
	}
	// Many quick calls: none may meet a stale interrupt or dirty state.
	for i := 0; i < 200; i++ {
		if err := v.Validate(context.Background(), alice, nil, []byte(`{}`)); err != nil {
			t.Fatalf("call %d after the failures: %v", i, err)
		}
	}
	// The idle runtimes are loaded.
	for i := 0; i < idlePerFunction; i++ {
		select {
		case s := <-v.f.idle:
			if !s.loaded {
				t.Fatal("an idle runtime has no function loaded")
			}
			s.close()
		default:
		}
	}
}

// TestStuckBuiltIn checks a call stuck in a built-in that does not check
// for the interrupt (a sort of an array of objects whose length a getter
// lies about, past the length guard): the caller gets its answer soon
// after the limit, the stuck call keeps its tenant's place until it ends,
// so the tenant's next call waits and is refused, and the tenant is served
// again once it ends.
func TestStuckBuiltIn(t *testing.T) {
	if raceEnabled {
		t.Skip("too much work for its time limit under the race detector; make test runs it without -race")
	}
	// The length reads small for the guard and large for sort itself.
	body := `if (instance.slow) {
		var n = 0, a = {get length() { return n++ ? instance.slow : 1 }};
		return Array.prototype.sort.call(a).length > 0
	}
	return true`
	e := NewEngine(Limits{Timeout: 20 * time.Millisecond, Concurrency: 1})
	v, err := e.CompileValidator("t", body)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- v.Validate(context.Background(), alice, nil, []byte(`{"slow":2e7}`)) }()
	select {
	case err := <-done:
		checkErr(t, err, errors.DeadlineExceeded, "abandoned")
	case <-time.After(time.Minute):
		t.Fatal("the stuck call never answered")
	}
	stuckAt := time.Now()
	err = v.Validate(context.Background(), alice, nil, []byte(`{}`))
	checkErr(t, err, errors.Exhausted, "already has 1 script calls running at once")
	other, err := e.CompileValidator("another tenant", "return true")
	if err != nil {
		t.Fatal(err)
	}
	// The quick calls may meet the short limit on a busy machine, which
	// starves a call of 20 ms; they are tried again then, but never
	// refused for want of a place (another tenant's) or failing otherwise.
	untilServed(t, other)
	untilServed(t, v, errors.Exhausted)
	t.Logf("the stuck call held its tenant's place for at least %v after it was abandoned", time.Since(stuckAt).Round(time.Millisecond))
}

// untilServed calls v with a quick instance until it succeeds, trying
// again after a call that met its time limit or failed with one of the
// kinds also; any other failure, or two minutes without success, fails t.
func untilServed(t *testing.T, v *Validator, also ...errors.Kind) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := v.Validate(context.Background(), alice, nil, []byte(`{}`))
		if err == nil {
			return
		}
		if k := errors.KindOf(err); k != errors.DeadlineExceeded && !slices.Contains(also, k) || time.Now().After(deadline) {
			t.Fatalf("a quick call: %v", err)
		}
	}
}

func TestFilter(t *testing.T) {
	doc := `{"_id":"1","owner":"` + alice + `","name":"Ada","secret":"s3","age":36}`
	redacted := `{"_id":"1","owner":"` + alice + `","name":"Ada","age":36}`
	tests := []struct {
		name     string
		body     string
		reader   string
		instance string
		want     string // "" for hidden
		lim      Limits
		kind     errors.Kind
		msg      string
	}{
		{name: "JS client body: the owner sees all", body: clientFilter, reader: alice, instance: doc, want: doc},
		{name: "JS client body: others see less", body: clientFilter, reader: bob, instance: doc, want: redacted},
		{name: "anonymous reader", body: clientFilter, reader: "", instance: doc, want: redacted},
		{name: "unchanged", body: "return instance", reader: bob, instance: doc, want: doc},
		{name: "hide with null", body: "return reader === instance.owner ? instance : null", reader: bob, instance: doc},
		{name: "show with null", body: "return reader === instance.owner ? instance : null", reader: alice, instance: doc, want: doc},
		{name: "hide with false", body: "return reader === instance.owner && instance", reader: bob, instance: doc},
		{name: "hide with undefined", body: "if (reader === instance.owner) return instance", reader: bob, instance: doc},
		{name: "hide from anonymous readers", body: "return reader ? instance : null", reader: "", instance: doc},
		{name: "another object", body: "return {_id: instance._id, name: instance.name.toUpperCase()}", reader: bob, instance: doc, want: `{"_id":"1","name":"ADA"}`},
		{name: "added field", body: "instance.seenBy = reader; return instance", reader: bob, instance: `{"_id":"1"}`, want: `{"_id":"1","seenBy":"` + bob + `"}`},
		{name: "order and values kept", body: "return instance", instance: `{"z":1,"a":[true,null,"é\u2028"],"m":{"y":1.5,"b":-2}}`, want: `{"z":1,"a":[true,null,"é` + "\u2028" + `"],"m":{"y":1.5,"b":-2}}`},
		{name: "numbers as JavaScript writes them", body: "return instance", instance: `{"a":1.0,"b":1e21,"c":-0}`, want: `{"a":1,"b":1e+21,"c":0}`},
		{name: "a string", body: "return 'no'", instance: doc, kind: errors.Invalid, msg: "returned no; it must return the instance"},
		{name: "true", body: "return true", instance: doc, kind: errors.Invalid, msg: "returned true"},
		{name: "a number", body: "return 0", instance: doc, kind: errors.Invalid, msg: "returned 0"},
		{name: "an array", body: "return [instance]", instance: doc, kind: errors.Invalid, msg: "returned an array"},
		{name: "a function", body: "return function () {}", instance: doc, kind: errors.Invalid, msg: "returned a function"},
		{name: "a cycle", body: "instance.self = instance; return instance", instance: doc, kind: errors.Invalid, msg: "TypeError"},
		{name: "JSON that is not an object", body: "return {toJSON: function () { return 5 }}", instance: doc, kind: errors.Invalid, msg: "JSON is not an object (5)"},
		{name: "throw", body: "throw new TypeError('nope')", instance: doc, kind: errors.Invalid, msg: "read filter threw TypeError: nope"},
		{name: "endless loop", body: "for (;;) {}", instance: doc, lim: Limits{Timeout: DefaultTimeout}, kind: errors.DeadlineExceeded, msg: "read filter ran for longer"},
		{name: "endless toJSON", body: "return {toJSON: function () { for (;;) {} }}", instance: doc, lim: Limits{Timeout: DefaultTimeout}, kind: errors.DeadlineExceeded, msg: "ran for longer than its limit"},
		{name: "deep recursion", body: "return (function f() { return f() })()", instance: doc, kind: errors.Exhausted, msg: "read filter nested calls deeper"},
		{name: "no clock", body: "instance.at = Date.now(); return instance", instance: doc, kind: errors.Invalid, msg: "current time"},
		{name: "instance not JSON", body: "return instance", instance: "nope", kind: errors.Invalid, msg: "instance is not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := compileFilter(tc.body, tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.Apply(context.Background(), tc.reader, []byte(tc.instance))
			checkErr(t, err, tc.kind, tc.msg)
			if err != nil {
				if out != nil {
					t.Fatalf("Apply returned %s with its error", out)
				}
				return
			}
			if got := string(out); got != tc.want || (tc.want == "") != (out == nil) {
				t.Fatalf("got %q (nil %v), want %q", got, out == nil, tc.want)
			}
		})
	}
}

func TestNil(t *testing.T) {
	var v *Validator
	if err := v.Validate(context.Background(), bob, nil, nil); err != nil {
		t.Fatalf("nil validator: %v", err)
	}
	var f *Filter
	in := []byte(`{"_id":"1"}`)
	if out, err := f.Apply(context.Background(), bob, in); err != nil || string(out) != string(in) {
		t.Fatalf("nil filter: %s, %v", out, err)
	}
}

// TestGlobals pins what the sandbox's global scope holds.
func TestGlobals(t *testing.T) {
	f, err := compileFilter("return {names: Object.getOwnPropertyNames(globalThis).sort().join(' ')}", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Apply(context.Background(), "", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Names string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := "AggregateError Array ArrayBuffer BigInt BigInt64Array BigUint64Array Boolean DataView Date Error EvalError Float16Array Float32Array Float64Array Function Infinity Int16Array Int32Array Int8Array InternalError Iterator JSON Map Math NaN Number Object Promise Proxy RangeError ReferenceError Reflect RegExp Set String Symbol SyntaxError TypeError URIError Uint16Array Uint32Array Uint8Array Uint8ClampedArray WeakMap WeakSet decodeURI decodeURIComponent encodeURI encodeURIComponent escape eval globalThis isFinite isNaN parseFloat parseInt undefined unescape"
	if got.Names != want {
		t.Fatalf("globals:\n%s\nwant:\n%s", got.Names, want)
	}
}

// TestParallel runs one validator and one filter from many goroutines at
// once, with calls that time out mixed in; run it with -race.
func TestParallel(t *testing.T) {
	// Room for every goroutine: the budget has tests of its own.
	v, err := compileValidator("return instance.owner === writer", Limits{Timeout: time.Minute, Concurrency: 100, MaxRunning: 100, CPUShare: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f, err := compileFilter(clientFilter, Limits{Timeout: time.Minute, Concurrency: 100, MaxRunning: 100, CPUShare: 1000})
	if err != nil {
		t.Fatal(err)
	}
	spin, err := compileValidator("while (true) {}", Limits{Timeout: 5 * time.Millisecond, Concurrency: 100, MaxRunning: 100, CPUShare: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// More goroutines than a function keeps idle runtimes.
	goroutines, calls := 3*idlePerFunction, 10
	if raceEnabled {
		goroutines, calls = idlePerFunction+2, 3
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				owner, reader := alice, bob
				if (g+i)%2 == 0 {
					owner, reader = bob, alice
				}
				doc := fmt.Sprintf(`{"_id":"%d-%d","owner":"%s","secret":"s"}`, g, i, owner)
				if err := v.Validate(context.Background(), owner, nil, []byte(doc)); err != nil {
					errs <- fmt.Errorf("owner refused: %v", err)
				}
				if err := v.Validate(context.Background(), reader, nil, []byte(doc)); !errors.Is(errors.Permission, err) {
					errs <- fmt.Errorf("other writer: %v", err)
				}
				out, err := f.Apply(context.Background(), reader, []byte(doc))
				if want := fmt.Sprintf(`{"_id":"%d-%d","owner":"%s"}`, g, i, owner); err != nil || string(out) != want {
					errs <- fmt.Errorf("filter: %s, %v; want %s", out, err, want)
				}
				if g%10 == 0 {
					if err := spin.Validate(context.Background(), owner, nil, nil); !errors.Is(errors.DeadlineExceeded, err) {
						errs <- fmt.Errorf("spin: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestMemoryStaysOutsideTheGoHeap checks that a function filling its
// memory limit, again and again, leaves the Go heap as it was: the
// engine's heap is its own, bounded by Limits.Memory, and freed with the
// runtime.
func TestMemoryStaysOutsideTheGoHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("too much work for its time limit under the race detector; make test runs it without -race")
	}
	v, err := compileValidator("var a = []; while (true) a.push('x'.repeat(1e6) + a.length)", Limits{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 5 {
		checkErr(t, v.Validate(context.Background(), alice, nil, nil), errors.Exhausted, "memory limit")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("the Go heap grew by %d MB", grew>>20)
	}
}

func TestEventJSON(t *testing.T) {
	got := string(event(t, Save, `{"name":"Bob","age":null}`))
	want := `{"timestamp":1700000000000000000,"_id":"1","collection_name":"people","patch":{"type":"save","instance_id":"1","json_patch":{"name":"Bob","age":null}},"type":"save","collection":"people","instanceID":"1"}`
	if got != want {
		t.Fatalf("save event:\n%s\nwant\n%s", got, want)
	}
	got = string(event(t, Delete, ""))
	want = `{"timestamp":1700000000000000000,"_id":"1","collection_name":"people","patch":{"type":"delete","instance_id":"1"},"type":"delete","collection":"people","instanceID":"1"}`
	if got != want {
		t.Fatalf("delete event:\n%s\nwant\n%s", got, want)
	}
}

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name, prev, next, want string
		kind                   errors.Kind
	}{
		{name: "same", prev: `{"a":1,"b":{"c":[1,2]}}`, next: `{"b":{"c":[1,2]},"a":1}`, want: `{}`},
		{name: "changed, added, removed", prev: `{"a":1,"b":2,"c":3}`, next: `{"a":1,"b":"two","d":4}`, want: `{"b":"two","c":null,"d":4}`},
		{name: "nested object", prev: `{"m":{"x":1,"y":2},"k":1}`, next: `{"m":{"x":1,"y":3,"z":true},"k":1}`, want: `{"m":{"y":3,"z":true}}`},
		{name: "object replaced by a value", prev: `{"m":{"x":1}}`, next: `{"m":[1]}`, want: `{"m":[1]}`},
		{name: "array changed", prev: `{"a":[1,2]}`, next: `{"a":[1,2,3]}`, want: `{"a":[1,2,3]}`},
		{name: "big numbers keep their digits", prev: `{"n":1}`, next: `{"n":12345678901234567890}`, want: `{"n":12345678901234567890}`},
		{name: "not an object", prev: `[1]`, next: `{}`, kind: errors.Invalid},
		{name: "null", prev: `{}`, next: `null`, kind: errors.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MergePatch([]byte(tc.prev), []byte(tc.next))
			checkErr(t, err, tc.kind, "")
			if err == nil && string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestCallsLeaveNothingBehind: runtimes serve many calls, of different
// readers and writers, so a call must not be able to leave anything for the
// next one to find: everything reachable besides the arguments is frozen.
// Each function tries to stash alice's secret somewhere and to return what
// an earlier call stashed; bob's call must find nothing.
func TestCallsLeaveNothingBehind(t *testing.T) {
	for name, fn := range map[string]string{
		"global":             `if (instance.secret) { globalThis.stash = instance.secret } return {leaked: globalThis.stash}`,
		"implicit global":    `if (instance.secret) { stash = instance.secret } return {leaked: typeof stash === "undefined" ? undefined : stash}`,
		"built-in object":    `if (instance.secret) { JSON.stash = instance.secret } return {leaked: JSON.stash}`,
		"prototype":          `if (instance.secret) { Object.prototype.stash = instance.secret } return {leaked: ({}).stash}`,
		"built-in method":    `if (instance.secret) { var s = instance.secret; Array.prototype.join = function () { return s } } return {leaked: [].join()}`,
		"function itself":    `function f(reader, instance) { if (instance.secret) { f.stash = instance.secret } return {leaked: f.stash} }`,
		"its prototype":      `function f(reader, instance) { if (instance.secret) { f.prototype.stash = instance.secret } return {leaked: f.prototype.stash} }`,
		"overridable method": `if (instance.secret) { var s = instance.secret; Object.prototype.toString = function () { return s } } return {leaked: ({}).toString()}`,
		"error prototype":    `if (instance.secret) { Error.prototype.message = instance.secret } return {leaked: new Error().message}`,
		"array iterator":     `var P = Object.getPrototypeOf([][Symbol.iterator]()); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"iterator":           `var P = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"map iterator":       `var P = Object.getPrototypeOf(new Map().entries()); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"set iterator":       `var P = Object.getPrototypeOf(new Set().values()); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"string iterator":    `var P = Object.getPrototypeOf(""[Symbol.iterator]()); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"regexp iterator":    `var P = Object.getPrototypeOf("a".matchAll(/a/g)); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"generator":          `var P = Object.getPrototypeOf(function* () {}); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"generator object":   `var P = Object.getPrototypeOf(function* () {}.prototype); if (instance.secret) { P.stash = instance.secret } return {leaked: P.stash}`,
		"async function":     `var P = Object.getPrototypeOf(async function () {}); if (instance.secret) { P.constructor = instance.secret } return {leaked: P.constructor}`,
	} {
		t.Run(name, func(t *testing.T) {
			f, err := compileFilter(fn, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			// The attempt fails or stores nothing; either way bob sees nothing.
			f.Apply(context.Background(), alice, []byte(`{"secret":"alice-only"}`))
			for i := range 3 {
				out, err := f.Apply(context.Background(), bob, []byte(`{}`))
				if err != nil {
					t.Fatalf("bob's call %d: %v", i, err)
				}
				if strings.Contains(string(out), "alice-only") {
					t.Fatalf("bob's call %d returned %s: alice's call left it behind", i, out)
				}
			}
		})
	}
}

// TestFrozenBuiltInsKeepOrdinaryCode: freezing the built-ins must not
// break what filters and validators ordinarily do with their arguments,
// fields named like Object.prototype's methods included (a frozen
// prototype makes assignment to such names fail on objects that lack them
// as own properties, so the arguments are built with own properties).
func TestFrozenBuiltInsKeepOrdinaryCode(t *testing.T) {
	f, err := compileFilter(`
		delete instance.secret;
		instance.constructor = "c"; instance.toString = "t"; instance.extra = [1, 2].map(function (x) { return x * 2 });
		var copy = Object.assign({}, instance, {hasOwnProperty: 1});
		copy.list = []; copy.list.push(reader.length > 0);
		class Refused extends Error { constructor(m) { super(m); this.name = "Refused" } }
		var e = new Refused("no"); e.message = "no!";
		copy.error = e.name + ": " + e.message + " / " + String(e);
		return copy`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Apply(context.Background(), alice, []byte(`{"secret":1,"constructor":0,"toString":0,"valueOf":"v"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"constructor":"c","toString":"t","valueOf":"v","extra":[2,4],"hasOwnProperty":1,"list":[true],"error":"Refused: no! / Refused: no!"}`
	if string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}

// compileValidator compiles body with its own Engine, for tenant "t".
func compileValidator(body string, lim Limits) (*Validator, error) {
	return NewEngine(testLimits(lim)).CompileValidator("t", body)
}

// compileFilter compiles body with its own Engine, for tenant "t".
func compileFilter(body string, lim Limits) (*Filter, error) {
	return NewEngine(testLimits(lim)).CompileFilter("t", body)
}

// testLimits gives calls that are not meant to run out of time (those
// that leave Timeout zero) a minute, so that a busy machine, or the race
// detector (under which the engine runs tens of times slower), never
// turns another limit's failure into a time-out.
func testLimits(lim Limits) Limits {
	if lim.Timeout == 0 {
		lim.Timeout = time.Minute
	}
	return lim
}

// FuzzScript runs random programs as a validator and as a filter under
// tight limits: whatever they do, the call returns an error of a known
// kind or an answer, never crashes the process, never runs on much past
// its limit, and leaves the Go heap bounded.
func FuzzScript(f *testing.F) {
	for _, body := range []string{
		"return true",
		"return 'x'.repeat(1e12)",
		"return new Array(1e8).fill(0)",
		"return /^(a+)+(?=c)/.test('a'.repeat(34) + 'b')",
		"var a = []; while (true) a.push('x'.repeat(1e5))",
		"while (true) {}",
		"function f() { return f() } return f()",
		"return JSON.parse('['.repeat(1e5))",
		"return [].indexOf.call({length: 2 ** 53}, 1)",
		"return Object.getPrototypeOf(function* () {}).constructor('yield 1')",
		"instance.x = writer; return instance",
		"return {toJSON: function () { return 5 }}",
		"throw Symbol()",
		"}); (function () {",
		"(w, e, i) => true",
	} {
		f.Add(body)
	}
	const timeout = 50 * time.Millisecond
	engine := NewEngine(Limits{Timeout: timeout, Memory: 16 << 20, Concurrency: 4, MaxRunning: 4})
	f.Fuzz(func(t *testing.T, body string) {
		v, verr := engine.CompileValidator("fuzz", body)
		fl, ferr := engine.CompileFilter("fuzz", body)
		for _, err := range []error{verr, ferr} {
			if err != nil && !errors.Is(errors.Invalid, err) {
				t.Fatalf("compile: %v", err)
			}
		}
		// A call that ran on past its limit is abandoned (an error of its
		// own); one that hung would hang the test, which its -timeout ends.
		errs := []error{v.Validate(context.Background(), alice, event(t, Save, `{"a":1}`), []byte(`{"a":[1,"x",{}]}`))}
		_, err := fl.Apply(context.Background(), bob, []byte(`{"a":[1,"x",{}]}`))
		errs = append(errs, err)
		for _, err := range errs {
			switch errors.KindOf(err) {
			case ok, errors.Permission, errors.Invalid, errors.DeadlineExceeded, errors.Exhausted:
			default:
				t.Fatalf("call: %v", err)
			}
		}
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		if mem.HeapAlloc > 256<<20 {
			t.Fatalf("the Go heap holds %d MB", mem.HeapAlloc>>20)
		}
	})
}
