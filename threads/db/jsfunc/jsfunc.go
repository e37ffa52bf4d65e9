package jsfunc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"

	"github.com/selfhub/hub/errors"
)

// Defaults for the zero fields of Limits.
const (
	// DefaultTimeout bounds one call. A validator runs on every write and
	// a filter on every instance a read returns: a function that needs
	// more than this is broken, not slow.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMaxSourceLen bounds a function's text, in bytes: room for a
	// long hand-written function, not for a bundled library.
	DefaultMaxSourceLen = 64 << 10
	// DefaultMaxCallDepth bounds the JavaScript call stack. Recursion
	// through built-ins (f calling [x].map(f)) also deepens the Go stack,
	// which must stay far from Go's 1 GB limit.
	DefaultMaxCallDepth = 1000
	// DefaultMaxOverdue is how many abandoned calls of one function may
	// still be running before its further calls are refused.
	DefaultMaxOverdue = 1
)

// MaxJSONDepth is the deepest nesting of arrays and objects that JSON.parse
// accepts inside the sandbox, and that Validate and Apply accept in their
// JSON arguments: the limit of Go's encoding/json.
const MaxJSONDepth = 10000

// runtimeUses is how many calls of one function a runtime serves before
// it is dropped. Reuse saves setting up a runtime (BenchmarkRuntimeReuse:
// about 4 ms, a call about 20 µs); the bound caps what goja keeps across
// calls that freezing cannot stop, such as the symbol registry, which
// Symbol.for grows and nothing can read back.
const runtimeUses = 1000

// overdueGrace is how long a call that ran out of time is given to stop
// after it is interrupted before it is abandoned and counted as overdue.
// JavaScript stops within microseconds; only a built-in takes longer.
const overdueGrace = 20 * time.Millisecond

// Limits bound the calls of a compiled function. The zero value of a field
// means its default; the zero Limits is the defaults.
type Limits struct {
	// Timeout bounds one call. A context deadline that comes sooner
	// applies instead.
	Timeout time.Duration
	// MaxSourceLen bounds the function's text, in bytes.
	MaxSourceLen int
	// MaxCallDepth bounds the depth of nested JavaScript calls.
	MaxCallDepth int
	// MaxOverdue bounds how many calls of one function may still be
	// running past their deadline, inside a built-in that cannot be
	// interrupted, before further calls of it are refused as Exhausted.
	MaxOverdue int
}

// withDefaults returns l with its zero (or negative) fields set to the
// defaults.
func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxSourceLen <= 0 {
		l.MaxSourceLen = DefaultMaxSourceLen
	}
	if l.MaxCallDepth <= 0 {
		l.MaxCallDepth = DefaultMaxCallDepth
	}
	if l.MaxOverdue <= 0 {
		l.MaxOverdue = DefaultMaxOverdue
	}
	return l
}

// kind names a function's role: the collection config field it comes
// from, used as the source name in JavaScript messages.
type kind string

const (
	kindValidator kind = "writeValidator"
	kindFilter    kind = "readFilter"
)

// noun is the kind as messages say it.
func (k kind) noun() string {
	if k == kindValidator {
		return "write validator"
	}
	return "read filter"
}

// function is a compiled validator or filter: what Validator and Filter
// share. It is immutable but for the overdue count, and safe for
// concurrent use.
type function struct {
	kind    kind
	prog    *goja.Program // evaluates to the function
	prelude *goja.Program // evaluates to the sandbox set-up function
	lim     Limits
	uses    int          // calls a runtime serves before it is dropped; runtimeUses but in tests
	pool    sync.Pool    // of *sandbox, loaded and idle
	overdue atomic.Int64 // abandoned calls still running
}

// compile parses body, as a whole function or as the body of one with
// params, and compiles it. It returns nil for an empty body.
func compile(op errors.Op, k kind, body string, lim Limits, params string) (*function, error) {
	lim = lim.withDefaults()
	if strings.TrimSpace(body) == "" {
		return nil, nil
	}
	if len(body) > lim.MaxSourceLen {
		return nil, errors.Errorf(op, errors.Invalid, "the %s is %d bytes; at most %d are allowed", k.noun(), len(body), lim.MaxSourceLen)
	}
	prg, err := parseFunction(k, body, params)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	prog, err := goja.CompileAST(prg, true)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "the %s does not compile: %v", k.noun(), err)
	}
	prelude, err := goja.Compile("sandbox", preludeSource, true)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return &function{kind: k, prog: prog, prelude: prelude, lim: lim, uses: runtimeUses}, nil
}

// parseFunction returns a program that evaluates to the function: body
// itself when it is exactly one function, else a function with params
// whose body is body.
func parseFunction(k kind, body, params string) (*ast.Program, error) {
	// The newline before the closing parenthesis ends a trailing line
	// comment.
	if prg, err := parser.ParseFile(nil, string(k), "("+body+"\n)", 0); err == nil {
		if special, ok := onlyFunction(prg); ok {
			if special {
				return nil, fmt.Errorf("the %s is an async or generator function; it must return its answer directly", k.noun())
			}
			return prg, nil
		}
	}
	prg, err := parser.ParseFile(nil, string(k), "(function ("+params+") {"+body+"\n})", 0)
	if err != nil {
		return nil, fmt.Errorf("the %s does not parse as a function body: %v", k.noun(), err)
	}
	if _, ok := onlyFunction(prg); !ok {
		return nil, fmt.Errorf("the %s has a '}' that closes the function before the end of its body", k.noun())
	}
	return prg, nil
}

// onlyFunction reports whether prg is a single expression that is a
// function, and whether that function is async or a generator.
func onlyFunction(prg *ast.Program) (special, ok bool) {
	if len(prg.Body) != 1 {
		return false, false
	}
	st, isExpr := prg.Body[0].(*ast.ExpressionStatement)
	if !isExpr {
		return false, false
	}
	switch e := st.Expression.(type) {
	case *ast.FunctionLiteral:
		return e.Async || e.Generator, true
	case *ast.ArrowFunctionLiteral:
		return e.Async, true
	}
	return false, false
}

// preludeSource hardens a fresh runtime before the function is loaded; see
// the package doc. It evaluates to a function of the global object, of
// tooDeep (a Go function that reports whether a string nests deeper than
// MaxJSONDepth) and of MaxJSONDepth. Everything the wrappers use is
// captured first, so that nothing the function does later changes them.
// Last it freezes everything reachable from the global object, and
// returns the freezing function for the loaded function itself: a call
// can then leave nothing behind for the next call of the same runtime,
// which may be another identity's (a filter stashing one reader's
// instance for the next reader to return).
const preludeSource = `(function (global, tooDeep, maxDepth) {
	var define = Object.defineProperty, getProto = Object.getPrototypeOf;
	var apply = Reflect.apply, toString = String, origParse = JSON.parse;
	var EvalErr = EvalError, RangeErr = RangeError;
	function method(obj, name, fn) {
		define(obj, name, {value: fn, writable: true, enumerable: false, configurable: true});
	}

	function Function() {
		throw new EvalErr("code generation from strings is not available to validators and filters");
	}
	define(Function, "prototype", {value: getProto(Function)});
	var protos = [getProto(Function), getProto(function* () {}), getProto(async function () {})];
	for (var i = 0; i < protos.length; i++) {
		method(protos[i], "constructor", Function);
	}
	method(global, "Function", Function);
	method(global, "eval", function () {
		throw new EvalErr("eval is not available to validators and filters");
	});
	delete global.GoError;

	method(JSON, "parse", function parse(text, reviver) {
		text = toString(text);
		if (tooDeep(text)) {
			throw new RangeErr("JSON.parse: the text nests deeper than " + maxDepth + " levels");
		}
		return apply(origParse, JSON, [text, reviver]);
	});

	var freeze = Object.freeze, ownKeys = Reflect.ownKeys, describe = Object.getOwnPropertyDescriptor;
	var TypeErr = TypeError;
	// A frozen prototype's data properties would make plain assignment of
	// the same names fail on every object that inherits them ("the override
	// mistake": obj.constructor = x, Object.assign({}, {toString: 1}), or an
	// error's this.name = ...). On the prototypes such names are commonly
	// reassigned through, they become accessors whose setter defines the
	// property on the object assigned to, and refuses the prototype itself.
	function allowOverride(proto) {
		var keys = ownKeys(proto);
		for (var i = 0; i < keys.length; i++) {
			var d = describe(proto, keys[i]);
			if (!("value" in d) || !d.configurable) {
				continue;
			}
			(function (key, value, d) {
				define(proto, key, {
					get: function () { return value; },
					set: function (v) {
						if (this === proto) {
							throw new TypeErr("Cannot assign to read only property '" + toString(key) + "' of a built-in prototype");
						}
						define(this, key, {value: v, writable: true, enumerable: true, configurable: true});
					},
					enumerable: d.enumerable, configurable: false,
				});
			})(keys[i], d.value, d);
		}
	}
	var overridable = [Object.prototype, Function.prototype, Error.prototype, EvalError.prototype,
		RangeError.prototype, ReferenceError.prototype, SyntaxError.prototype, TypeError.prototype,
		URIError.prototype, AggregateError.prototype];
	for (var i = 0; i < overridable.length; i++) {
		allowOverride(overridable[i]);
	}

	var frozen = new WeakSet();
	function deepFreeze(o) {
		if ((typeof o !== "object" && typeof o !== "function") || o === null || frozen.has(o)) {
			return;
		}
		frozen.add(o);
		freeze(o);
		deepFreeze(getProto(o));
		var keys = ownKeys(o);
		for (var i = 0; i < keys.length; i++) {
			var d = describe(o, keys[i]);
			deepFreeze(d.value);
			deepFreeze(d.get);
			deepFreeze(d.set);
		}
	}
	deepFreeze(global);
	// Intrinsics no property path from the global object reaches: the
	// iterator prototypes, and those of generator and async functions
	// (deepFreeze climbs from each to the prototypes above it).
	var hidden = [
		function () { return [][Symbol.iterator](); },
		function () { return new Map().entries(); },
		function () { return new Set().values(); },
		function () { return ""[Symbol.iterator](); },
		function () { return "a".matchAll(/a/g); },
		function () { return function* () {}; },
		function () { return async function () {}; },
	];
	for (var i = 0; i < hidden.length; i++) {
		deepFreeze(hidden[i]());
	}
	return deepFreeze;
})`

// sandbox is one runtime of a function. A call owns it from the pool's
// Get to its Put; it is put back only after a call that ended normally and
// was never interrupted, so a runtime in the pool is always sound.
type sandbox struct {
	vm        *goja.Runtime
	fn        goja.Callable // the function; nil until load
	stringify goja.Callable // JSON.stringify as goja made it
	used      int           // calls served
	broken    bool          // the last call failed in a way that may have left the runtime unsound
}

// newSandbox makes a runtime with the function's limits; load sets up the
// rest.
func (f *function) newSandbox() *sandbox {
	vm := goja.New()
	vm.SetMaxCallStackSize(f.lim.MaxCallDepth)
	vm.SetTimeSource(func() time.Time {
		panic(vm.NewTypeError("the current time is not available to validators and filters: a write must be judged the same on every peer and at every replay"))
	})
	vm.SetRandSource(rand.Float64)
	return &sandbox{vm: vm}
}

// load hardens s's runtime and evaluates the function in it.
func (f *function) load(s *sandbox) error {
	vm := s.vm
	json := vm.GlobalObject().Get("JSON").ToObject(vm)
	s.stringify, _ = goja.AssertFunction(json.Get("stringify"))
	pv, err := vm.RunProgram(f.prelude)
	if err != nil {
		return err
	}
	prelude, _ := goja.AssertFunction(pv)
	tooDeep := func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(nestsDeeper(call.Argument(0).String(), MaxJSONDepth))
	}
	fz, err := prelude(goja.Undefined(), vm.GlobalObject(), vm.ToValue(tooDeep), vm.ToValue(MaxJSONDepth))
	if err != nil {
		return err
	}
	fv, err := vm.RunProgram(f.prog)
	if err != nil {
		return err
	}
	fn, ok := goja.AssertFunction(fv)
	if !ok {
		return fmt.Errorf("the %s did not evaluate to a function", f.kind.noun())
	}
	deepFreeze, _ := goja.AssertFunction(fz)
	if _, err := deepFreeze(goja.Undefined(), fv); err != nil { // its own properties and prototype
		return err
	}
	s.fn = fn
	return nil
}

// parseJSON decodes a JSON argument in the sandbox; name says which, for
// messages. Empty JSON is undefined.
func (s *sandbox) parseJSON(op errors.Op, name string, data []byte) (goja.Value, error) {
	if len(data) == 0 {
		return goja.Undefined(), nil
	}
	v, err := decodeJSON(s.vm, data)
	if err != nil {
		if _, deep := err.(errTooDeep); deep {
			return nil, errors.Errorf(op, errors.Invalid, "the %s %v", name, err)
		}
		return nil, errors.Errorf(op, errors.Invalid, "the %s is not JSON: %v", name, err)
	}
	return v, nil
}

// nestsDeeper reports whether the JSON text s has arrays and objects
// nested deeper than max. It looks only at brackets outside strings, so
// it is right for valid JSON and harmless for the rest, which the parser
// refuses.
func nestsDeeper(s string, max int) bool {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > max {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// errInterrupted stands for the error of a call that was interrupted; the
// caller, which interrupted it, knows why and reports that instead.
var errInterrupted = errors.New("interrupted")

// run calls work in a sandbox on its own goroutine and waits for it, for
// the time limit, or for ctx, whichever ends first. When time runs out it
// interrupts the runtime; a call that does not stop within overdueGrace
// (it is inside a built-in) is abandoned: it finishes on its own and is
// counted as overdue until then. An interrupted runtime is never reused.
func (f *function) run(ctx context.Context, op errors.Op, work func(s *sandbox) error) error {
	if err := ctx.Err(); err != nil {
		return ctxError(op, f.kind, err)
	}
	if n := f.overdue.Load(); n >= int64(f.lim.MaxOverdue) {
		return errors.Errorf(op, errors.Exhausted, "the collection's %s has %d calls still running past their time limit, inside a built-in function that cannot be interrupted; try again later, or fix the %s", f.kind.noun(), n, f.kind.noun())
	}
	s, _ := f.pool.Get().(*sandbox)
	if s == nil {
		var err error
		if s, err = f.prepare(op); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- f.call(op, s, work)
	}()
	timer := time.NewTimer(f.lim.Timeout)
	defer timer.Stop()
	var why error
	select {
	case err := <-done:
		f.release(s)
		return err
	case <-timer.C:
		why = context.DeadlineExceeded
	case <-ctx.Done():
		why = ctx.Err()
	}
	s.vm.Interrupt(errInterrupted)
	grace := time.NewTimer(overdueGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		if err != errInterrupted {
			// It finished before the interrupt reached it.
			return err
		}
	case <-grace.C:
		f.overdue.Add(1)
		go func() {
			<-done
			f.overdue.Add(-1)
		}()
	}
	if why == context.DeadlineExceeded && ctx.Err() == nil {
		return errors.Errorf(op, errors.DeadlineExceeded, "the collection's %s ran for longer than its limit of %v and was stopped", f.kind.noun(), f.lim.Timeout)
	}
	return ctxError(op, f.kind, why)
}

// release puts a sandbox back in the pool after a call that was not
// interrupted, unless the call left it unsound or it has served its uses.
func (f *function) release(s *sandbox) {
	s.used++
	if s.broken || s.used >= f.uses {
		return
	}
	f.pool.Put(s)
}

// prepare makes and loads a sandbox. It runs outside the call's time
// limit, which is the function's own: setting up takes milliseconds
// (freezing the built-ins), and runs only the prelude and the evaluation of
// the function's definition, none of its code.
func (f *function) prepare(op errors.Op) (s *sandbox, err error) {
	s = f.newSandbox()
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf(op, errors.Internal, "the JavaScript engine failed setting up the collection's %s: %v", f.kind.noun(), r)
		}
	}()
	if err := f.load(s); err != nil {
		return nil, f.jsError(op, s, err)
	}
	return s, nil
}

// call runs work in the loaded sandbox s, turning JavaScript failures,
// and any panic of the engine, into errors.
func (f *function) call(op errors.Op, s *sandbox, work func(s *sandbox) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.broken = true
			err = errors.Errorf(op, errors.Internal, "the JavaScript engine failed running the collection's %s: %v", f.kind.noun(), r)
		}
	}()
	return f.jsError(op, s, work(s))
}

// jsError classifies an error that came out of s's runtime, and marks s
// broken if the runtime may not be sound after it. A JavaScript exception
// leaves it sound: goja unwinds it like any other control flow.
func (f *function) jsError(op errors.Op, s *sandbox, err error) error {
	var (
		interrupted *goja.InterruptedError
		overflow    *goja.StackOverflowError
		exception   *goja.Exception
		classified  *errors.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &classified):
		return err
	case errors.As(err, &interrupted):
		s.broken = true
		return errInterrupted
	case errors.As(err, &overflow):
		s.broken = true
		return errors.Errorf(op, errors.Exhausted, "the collection's %s nested calls deeper than the limit of %d", f.kind.noun(), f.lim.MaxCallDepth)
	case errors.As(err, &exception):
		return errors.Errorf(op, errors.Invalid, "the collection's %s threw %v", f.kind.noun(), exception)
	}
	s.broken = true
	return errors.E(op, errors.Internal, err)
}

// ctxError reports that ctx ended a call.
func ctxError(op errors.Op, k kind, err error) error {
	if err == context.DeadlineExceeded {
		return errors.Errorf(op, errors.DeadlineExceeded, "the request's deadline passed before the collection's %s finished", k.noun())
	}
	return errors.Errorf(op, errors.Canceled, "the request was canceled while the collection's %s ran", k.noun())
}
