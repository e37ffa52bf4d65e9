package jsfunc

import (
	"context"
	"regexp"
	"runtime"
	"strings"
	"time"

	"modernc.org/quickjs"

	"github.com/selfhub/hub/errors"
)

// Defaults for the zero fields of Limits.
const (
	// DefaultTimeout bounds one call. A validator runs on every write and
	// a filter on every instance a read returns: a function that needs
	// more than this is broken, not slow.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMemory bounds the heap of one runtime, in bytes: far more
	// than a validator or filter of a 1 MiB instance needs, and small
	// enough that DefaultMaxRunning runtimes at their limit are a fraction
	// of a server's memory.
	DefaultMemory = 64 << 20
	// DefaultMaxSourceLen bounds a function's text, in bytes: room for a
	// long hand-written function, not for a bundled library.
	DefaultMaxSourceLen = 64 << 10
	// DefaultMaxCallDepth bounds the JavaScript call stack, and with it how
	// deep JSON.parse nests. Each level costs Go stack in the engine, which
	// must stay far from Go's 1 GB limit.
	DefaultMaxCallDepth = 1000
	// DefaultConcurrency is how many calls of one tenant run at once: one,
	// so that a tenant whose every call burns its whole time limit holds
	// one core, not all of a small machine's.
	DefaultConcurrency = 1
	// DefaultCPUShare is the fraction of the Engine's cores one tenant's
	// calls may keep busy on average: on two cores, half a core, so that
	// one tenant whose calls all burn their whole time limit takes a
	// quarter of the machine, not a core of its two.
	DefaultCPUShare = 0.25
	// DefaultCPUWindow is the window over which a tenant's use is
	// averaged, and so about the longest burst a tenant's calls may take
	// before its share holds them back.
	DefaultCPUWindow = time.Second
	// DefaultNice is the nice value of the threads calls run on: low
	// enough that the kernel runs request work first when both are ready
	// (a nice-10 thread weighs about a tenth of a nice-0 one), high
	// enough that a call on a busy machine still gets a tenth of a core,
	// and so most of its time limit's worth of work done within it.
	DefaultNice = 10
)

// DefaultMaxRunning is how many calls run at once in the whole hub, with
// cores the cores the hub runs on (GOMAXPROCS before the hub adds its
// script threads'): half as many, so that work without scripts always
// keeps the other half; but at least two, so that one call stuck in a
// built-in never holds every tenant's. A call is all computation: more of
// them at once run no faster, each gets less of a core, and its time limit
// (wall time) then cuts it short.
func DefaultMaxRunning(cores int) int { return max(2, cores/2) }

// runtimeUses is how many calls of one function a runtime serves before
// it is closed. Reuse saves setting up a runtime (BenchmarkRuntimeReuse);
// the bound caps what the engine keeps across calls that freezing cannot
// stop, such as the symbol registry, which Symbol.for grows and nothing
// can read back.
const runtimeUses = 1000

// Pooling bounds: how many idle runtimes one function keeps, and how many
// all the functions of an Engine keep. An idle runtime holds its engine's
// memory outside the Go heap (BenchmarkRuntimeReuse reports it), and a
// tenant may have thousands of collections.
const (
	idlePerFunction = 4
	maxIdle         = 64
)

// overdueGrace is how long a call that ran out of time is given to stop
// after its limit before it is abandoned. JavaScript stops within
// microseconds of the limit; only a built-in that loops without checking
// for interrupts (see maxBuiltinLength) takes longer. The grace is
// generous so that a call merely starved of CPU on a busy machine is
// stopped, not abandoned.
const overdueGrace = 250 * time.Millisecond

// setupTimeout bounds setting up a runtime (see newSandbox).
const setupTimeout = time.Minute

// evalStrict is QuickJS's JS_EVAL_FLAG_STRICT: the functions are compiled in
// strict mode, as go-threads compiled them.
const evalStrict = quickjs.EvalGlobal | 1<<3

// Limits bound the calls of compiled functions. The zero value of a field
// means its default; the zero Limits is the defaults.
type Limits struct {
	// Timeout bounds one call. A context deadline that comes sooner
	// applies instead.
	Timeout time.Duration
	// Memory bounds the heap of one runtime, in bytes.
	Memory int
	// MaxSourceLen bounds the function's text, in bytes.
	MaxSourceLen int
	// MaxCallDepth bounds the depth of nested JavaScript calls.
	MaxCallDepth int
	// Concurrency bounds how many calls of one tenant's functions run at
	// once, counting calls that ran out of time but are still inside a
	// built-in. Further calls wait, at most ten times Timeout, for one to end.
	Concurrency int
	// MaxRunning bounds how many calls run at once in the Engine, the same
	// way; 0 means DefaultMaxRunning(Cores). Calls run on as many threads
	// of their own (see Nice).
	MaxRunning int
	// Cores is the number of cores the Engine's calls share, which
	// CPUShare is a fraction of; 0 means GOMAXPROCS when the Engine is
	// made. A hub that raises GOMAXPROCS to give the calls' threads
	// scheduler slots of their own passes its cores from before.
	Cores int
	// Nice is the nice value (0 to 19) of the OS threads calls run on, on
	// Linux: the higher, the more the kernel prefers the hub's other
	// threads to them. 0 means DefaultNice; negative means the hub's own
	// priority. A thread already niced higher (a hub started with nice)
	// stays there. Other platforms run calls at the hub's own priority.
	Nice int
	// CPUShare is the fraction of Cores one
	// tenant's calls may keep busy, on average over CPUWindow: a tenant
	// that used more waits, at most Timeout times ten, until its use
	// falls back under its share, while other tenants' calls go first.
	// Use is the CPU time of the calls' worker threads (wall time where
	// a thread's CPU time cannot be read), so a busy machine does not
	// count against a tenant.
	CPUShare float64
	// CPUWindow is the window over which CPUShare is averaged.
	CPUWindow time.Duration
}

// withDefaults returns l with its zero (or negative) fields set to the
// defaults.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	def(&l.Memory, DefaultMemory)
	def(&l.MaxSourceLen, DefaultMaxSourceLen)
	def(&l.MaxCallDepth, DefaultMaxCallDepth)
	def(&l.Concurrency, DefaultConcurrency)
	def(&l.Cores, runtime.GOMAXPROCS(0))
	def(&l.MaxRunning, DefaultMaxRunning(l.Cores))
	switch {
	case l.Nice == 0:
		l.Nice = DefaultNice
	case l.Nice < 0:
		l.Nice = 0
	}
	if l.CPUShare <= 0 {
		l.CPUShare = DefaultCPUShare
	}
	if l.CPUWindow <= 0 {
		l.CPUWindow = DefaultCPUWindow
	}
	return l
}

// Engine compiles and runs the functions of a hub. It holds the limits,
// the budget of calls (running at once, per tenant and in all, and each
// tenant's share of the engine's time) and the threads calls run on; it
// is safe for concurrent use.
type Engine struct {
	lim     Limits
	budget  *budget
	workers *workers
	idle    chan struct{} // a token per idle runtime of any function; capacity maxIdle
}

// NewEngine returns an Engine with the limits lim.
func NewEngine(lim Limits) *Engine {
	lim = lim.withDefaults()
	share := lim.CPUShare * float64(lim.Cores)
	return &Engine{lim: lim, budget: newBudget(lim.Concurrency, lim.MaxRunning, share, lim.CPUWindow),
		workers: newWorkers(lim.MaxRunning, lim.Nice), idle: make(chan struct{}, maxIdle)}
}

// MaxRunning is how many calls e runs at once, and so how many threads
// its calls may take: a hub that gives them scheduler slots of their own
// raises GOMAXPROCS by this.
func (e *Engine) MaxRunning() int { return e.lim.MaxRunning }

// kind names a function's role: the collection config field it comes
// from.
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
// share. It is immutable and safe for concurrent use.
type function struct {
	e      *Engine
	tenant string
	kind   kind
	source string        // evaluates to the function
	uses   int           // calls a runtime serves before it is closed; runtimeUses but in tests
	idle   chan *sandbox // loaded runtimes waiting for a call
}

// compile checks body, as a whole function or as the body of one with
// params, and returns the function. It returns nil for an empty body.
func (e *Engine) compile(op errors.Op, tenant string, k kind, body, params string) (*function, error) {
	if strings.TrimSpace(body) == "" {
		return nil, nil
	}
	if len(body) > e.lim.MaxSourceLen {
		return nil, errors.Errorf(op, errors.Invalid, "the %s is %d bytes; at most %d are allowed", k.noun(), len(body), e.lim.MaxSourceLen)
	}
	f := &function{e: e, tenant: tenant, kind: k, uses: runtimeUses, idle: make(chan *sandbox, idlePerFunction)}
	var err error
	if f.source, err = f.pick(op, body, params); err != nil {
		return nil, err
	}
	// A function nobody can call any more closes its idle runtimes, whose
	// memory the Go collector does not see.
	runtime.AddCleanup(f, closeIdle, idleRuntimes{f.idle, e.idle})
	return f, nil
}

// idleRuntimes is what closeIdle needs of a dead function.
type idleRuntimes struct {
	fn     chan *sandbox
	engine chan struct{}
}

// pick returns the source that evaluates to the function: body itself
// when it is one whole function, else a function with params whose body
// is body. The engine offers no syntax tree, and evaluating the text to
// look at what it gives would run the tenant's code outside its budget, so
// pick only compiles: body is a whole function when it starts as one
// (function, async, or the parameters of an arrow function) and compiles
// as an expression; a body must compile both inside a function expression
// and inside a function declaration, which a body that closes the function
// early and opens another cannot ('}); (function () {' leaves a stray
// parenthesis in the second). The runtime checks that the source gave a
// function when it loads it (see load).
func (f *function) pick(op errors.Op, body, params string) (string, error) {
	vm, err := quickjs.NewVM()
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	defer vm.Close()
	vm.SetMaxStackSize(uintptr(f.e.lim.MaxCallDepth))
	compiles := func(src string) error {
		_, err := vm.Compile(src, evalStrict)
		return err
	}
	if whole := strings.TrimSpace(body); wholeFunctionRe.MatchString(whole) && compiles("("+body+"\n)") == nil {
		if specialFunctionRe.MatchString(whole) {
			return "", errors.Errorf(op, errors.Invalid, "the %s is an async or generator function; it must return its answer directly", f.kind.noun())
		}
		return "(" + body + "\n)", nil
	}
	inner := "function (" + params + ") {" + body + "\n}"
	if err := compiles("(" + inner + ")"); err != nil {
		return "", errors.Errorf(op, errors.Invalid, "the %s does not parse as a function body: %v", f.kind.noun(), err)
	}
	if compiles("function body("+params+") {"+body+"\n}") != nil {
		return "", errors.Errorf(op, errors.Invalid, "the %s has a '}' that closes the function before the end of its body", f.kind.noun())
	}
	return "(" + inner + ")", nil
}

// How a whole function starts: function, async, or an arrow function's
// parameters; and an async or generator function, which cannot answer
// directly.
var (
	wholeFunctionRe   = regexp.MustCompile(`^(async\b|function\b|\([^()]*\)\s*=>|[\p{L}_$][\p{L}\p{N}_$]*\s*=>)`)
	specialFunctionRe = regexp.MustCompile(`^(async\b|function\s*\*)`)
)

// sandbox is one runtime of a function. A call owns it from taking it out
// of the function's idle runtimes to putting it back; it is put back only
// after a call that ended normally, so an idle runtime is always sound.
type sandbox struct {
	vm     *quickjs.VM
	loader quickjs.Value // load, as the prelude returned it
	call   quickjs.Value // the function wrapped for calls, once loaded
	loaded bool
	used   int // calls served
}

// newSandbox makes a runtime with the limits and hardens it with the
// prelude; load puts the function in.
func (f *function) newSandbox() (s *sandbox, err error) {
	vm, err := quickjs.NewVM()
	if err != nil {
		return nil, err
	}
	lim := f.e.lim
	vm.SetMemoryLimit(uintptr(lim.Memory))
	// The cycle collector walks every object, the frozen built-ins too;
	// at the engine's default threshold (256 KB allocated) it ran every
	// few dozen calls and cost more than the calls themselves. Garbage
	// without cycles is freed at once by reference counting.
	vm.SetGCThreshold(uintptr(lim.Memory / 8))
	vm.SetMaxStackSize(uintptr(lim.MaxCallDepth))
	// The prelude is the hub's own code, which takes milliseconds
	// (freezing every built-in), more on a loaded machine: it runs under a
	// limit of its own, not the call's.
	vm.SetEvalTimeout(setupTimeout)
	s = &sandbox{vm: vm}
	pv, err := vm.EvalValue(preludeSource, evalStrict)
	if err == nil {
		s.loader, err = pv.CallValue(quickjs.UndefinedValue, string(f.kind), maxBuiltinLength, maxSortLength)
		pv.Free()
	}
	if err != nil {
		vm.Close()
		return nil, err
	}
	vm.SetEvalTimeout(lim.Timeout)
	return s, nil
}

// load evaluates the function in s and wraps it for calls; it freezes the
// function, its properties and its prototype first.
func (f *function) load(s *sandbox) error {
	fv, err := s.vm.EvalValue(f.source, evalStrict)
	if err != nil {
		return err
	}
	defer fv.Free()
	if s.call, err = s.loader.CallValue(quickjs.UndefinedValue, fv); err != nil {
		return err
	}
	s.loaded = true
	return nil
}

// close releases s's runtime.
func (s *sandbox) close() {
	if s.loaded {
		s.call.Free()
	}
	s.loader.Free()
	s.vm.Close()
}

// closeIdle closes the idle runtimes of a function nobody can call any
// more.
func closeIdle(r idleRuntimes) {
	for {
		select {
		case s := <-r.fn:
			<-r.engine
			s.close()
		default:
			return
		}
	}
}

// get returns an idle runtime of f, or a new one loaded with f; its errors
// are classified but name no operation. It runs on a worker, where no
// server recovers a panic: one of the engine's while setting up is the
// call's error, as it is while calling (see call).
func (f *function) get() (_ *sandbox, err error) {
	select {
	case s := <-f.idle:
		<-f.e.idle
		return s, nil
	default:
	}
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf("", errors.Internal, "the JavaScript engine failed setting up a runtime for the collection's %s: %v", f.kind.noun(), r)
		}
	}()
	s, err := f.newSandbox()
	if err != nil {
		return nil, errors.Errorf("", errors.Unavailable, "setting up a runtime for the collection's %s failed (the hub may be overloaded; retry later): %v", f.kind.noun(), err)
	}
	if err := f.load(s); err != nil {
		s.close()
		return nil, f.jsError(err, false)
	}
	return s, nil
}

// put makes s idle after a call that ended normally, or closes it when it
// has served its uses or there are idle runtimes enough.
func (f *function) put(s *sandbox) {
	if s.used++; s.used < f.uses {
		select {
		case f.e.idle <- struct{}{}:
			select {
			case f.idle <- s:
				return
			default:
				<-f.e.idle
			}
		default:
		}
	}
	s.close()
}

// run calls the loaded function with args and returns the string its
// wrapper returned (see preludeSource). The call holds a place in its
// tenant's and the Engine's budgets, waiting at most the time limit for
// one, and runs on one of the Engine's workers, a thread of lowered
// priority (see workers), which also sets up a new runtime when the
// function has no idle one: that is the hub's code, but a tenant whose
// calls all fail makes it run for each. The engine stops the call at the
// time limit, or when ctx ends. A call inside a built-in that does not
// stop within overdueGrace is abandoned: the caller gets its error, and
// the call keeps its places in the budgets, and its worker, until it
// ends, so a tenant's stuck calls stall only that tenant, and at most
// MaxRunning threads.
func (f *function) run(ctx context.Context, op errors.Op, args ...any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", ctxError(op, f.kind, err)
	}
	lim := f.e.lim
	release, err := f.e.budget.acquire(ctx, f.tenant, lim.placeWait())
	if err != nil {
		return "", f.budgetError(op, err)
	}
	type outcome struct {
		res   string
		err   error
		setup bool          // err is from setting up a runtime
		ran   time.Duration // how long the call ran
	}
	started := make(chan struct{}) // closed when the call starts, after set-up
	done := make(chan outcome, 1)
	var (
		// Set before started is closed: the worker's thread, and the CPU
		// time it had used when the call started.
		thread   int
		cpuStart time.Duration
	)
	f.e.workers.do(func() {
		used := usage(threadID())
		defer func() { release(used()) }()
		if err := ctx.Err(); err != nil {
			// The caller left while the call waited for a worker.
			done <- outcome{err: err, setup: true}
			return
		}
		s, err := f.get()
		if err != nil {
			done <- outcome{err: err, setup: true}
			return
		}
		returned := make(chan struct{})
		stop := context.AfterFunc(ctx, interruptUntil(s.vm, returned))
		thread = threadID()
		cpuStart, _ = threadCPU(thread)
		close(started)
		start := time.Now()
		res, err, sound := f.call(s, args)
		ran := time.Since(start)
		close(returned)
		// A runtime that ctx may still interrupt serves no other call.
		if stopped := stop(); sound && stopped {
			f.put(s)
		} else {
			s.close()
		}
		done <- outcome{res, err, false, ran}
	})
	// The time limit counts from the call's start: setting up a runtime
	// has a limit of its own (setupTimeout).
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return "", ctxError(op, f.kind, ctx.Err())
	case <-started:
		timer := time.NewTimer(lim.Timeout + overdueGrace)
		defer timer.Stop()
	running:
		for {
			select {
			case o = <-done:
				break running
			case <-ctx.Done():
				return "", ctxError(op, f.kind, ctx.Err())
			case <-timer.C:
			}
			// A call whose thread the kernel kept waiting (a busy
			// machine prefers other threads to the niced workers) has
			// not had the time yet to see its interrupt: it is given
			// the grace again until its thread has used its limit and
			// the grace, and only a call that has is stuck.
			if cpu, ok := threadCPU(thread); ok && cpu-cpuStart < lim.Timeout+overdueGrace {
				timer.Reset(overdueGrace)
				continue
			}
			return "", errors.Errorf(op, errors.DeadlineExceeded, "the collection's %s ran for longer than its limit of %v inside a built-in function that cannot be interrupted, and was abandoned; it counts against the tenant's concurrent scripts until it ends", f.kind.noun(), lim.Timeout)
		}
	}
	switch ctxErr := ctx.Err(); {
	case o.err == nil:
		return o.res, nil
	case o.setup && ctxErr != nil:
		return "", ctxError(op, f.kind, ctxErr)
	case o.setup:
		return "", errors.E(op, o.err)
	case ctxErr != nil && errors.Is(errors.DeadlineExceeded, o.err):
		return "", ctxError(op, f.kind, ctxErr)
	case errors.Is(errors.DeadlineExceeded, o.err) && o.ran < lim.Timeout:
		// Only the engine's interrupt says "interrupted" on its own;
		// a function that throws the same words early is just throwing.
		return "", errors.Errorf(op, errors.Invalid, "the collection's %s threw InternalError: interrupted", f.kind.noun())
	}
	return "", errors.E(op, o.err)
}

// usage starts measuring the time a call uses on OS thread, the worker's
// own, and returns what reads it: the thread's CPU time since, or, where
// a thread's CPU time cannot be read, the wall time since.
func usage(thread int) func() time.Duration {
	start := time.Now()
	cpuStart, ok := threadCPU(thread)
	return func() time.Duration {
		if !ok {
			return time.Since(start)
		}
		cpu, ok := threadCPU(thread)
		if !ok {
			return time.Since(start)
		}
		return cpu - cpuStart
	}
}

// interruptUntil returns what interrupts vm when a call's context ends: it
// interrupts it, and again every millisecond, until returned is closed.
// The engine clears a pending interrupt when a call starts, so a single
// one that came before the call began (a context that ended while the
// runtime was set up, which on a busy machine takes long) would be lost,
// and the call would run on to its time limit.
func interruptUntil(vm *quickjs.VM, returned <-chan struct{}) func() {
	return func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			vm.Interrupt()
			select {
			case <-returned:
				return
			case <-tick.C:
			}
		}
	}
}

// call runs the wrapped function in s with args. It reports whether s is
// still sound: a call that the engine stopped, that ran out of memory or
// stack, or that broke the engine (a panic) leaves a runtime that is not
// reused; one that threw an ordinary exception does.
func (f *function) call(s *sandbox, args []any) (res string, err error, sound bool) {
	defer func() {
		if r := recover(); r != nil {
			// The engine abandons a runtime it panicked in; closing it
			// then frees what it safely can.
			res, err, sound = "", errors.Errorf("", errors.Internal, "the JavaScript engine failed running the collection's %s: %v", f.kind.noun(), r), false
		}
	}()
	v, err := s.call.Call(quickjs.UndefinedValue, args...)
	if err != nil {
		return "", f.jsError(err, true), false
	}
	out, ok := v.(string)
	if !ok {
		return "", errors.Errorf("", errors.Internal, "the sandbox of the collection's %s returned %T", f.kind.noun(), v), false
	}
	return out, nil, true
}

// jsError classifies an error that came out of the engine; running says
// whether it came from a call rather than from loading the function. The
// error names no operation: run adds its own.
func (f *function) jsError(err error, running bool) error {
	const op errors.Op = ""
	lim := f.e.lim
	var js *quickjs.Error
	if !errors.As(err, &js) {
		return errors.E(op, errors.Internal, err)
	}
	switch {
	case js.Name == "InternalError" && js.Message == "interrupted":
		return errors.Errorf(op, errors.DeadlineExceeded, "the collection's %s ran for longer than its limit of %v and was stopped", f.kind.noun(), lim.Timeout)
	case js.Message == "out of memory":
		return errors.Errorf(op, errors.Exhausted, "the collection's %s used more than its memory limit of %d MiB and was stopped", f.kind.noun(), lim.Memory>>20)
	case js.Message == "stack overflow":
		return errors.Errorf(op, errors.Exhausted, "the collection's %s nested calls deeper than the limit of %d", f.kind.noun(), lim.MaxCallDepth)
	case !running:
		// The prelude is the hub's own; what throws while setting up is
		// the function's text, which evaluated to something else.
		return errors.Errorf(op, errors.Invalid, "the collection's %s failed to load: %v", f.kind.noun(), clip(err.Error()))
	}
	return errors.Errorf(op, errors.Invalid, "the collection's %s threw %s", f.kind.noun(), clip(js.Error()))
}

// placeWait is how long a call waits for its place in the budgets: ten
// time limits, so that calls of one account queue behind each other when
// they come together (a burst of writes) and are refused only when the
// account's or the hub's places stay taken.
func (l Limits) placeWait() time.Duration { return 10 * l.Timeout }

// budgetError reports a call that found no place in the budgets.
func (f *function) budgetError(op errors.Op, err error) error {
	switch err {
	case errTenantBusy:
		return errors.Errorf(op, errors.Exhausted, "this account already has %d script calls running at once, the limit of this hub, and none ended within %v; retry later, or make the collection's %s faster", f.e.lim.Concurrency, f.e.lim.placeWait(), f.kind.noun())
	case errTenantShare:
		return errors.Errorf(op, errors.Exhausted, "this account's script calls have used more than its share of this hub's script time (%g%% of its cores over %v), and its next call could not start within %v; retry later, or make the collection's %s faster", 100*f.e.lim.CPUShare, f.e.lim.CPUWindow, f.e.lim.placeWait(), f.kind.noun())
	case errHubBusy:
		return errors.Errorf(op, errors.Exhausted, "the hub already has %d script calls running at once, its limit, and none ended within %v; retry later", f.e.lim.MaxRunning, f.e.lim.placeWait())
	}
	return ctxError(op, f.kind, err)
}

// ctxError reports that ctx ended a call.
func ctxError(op errors.Op, k kind, err error) error {
	if err == context.DeadlineExceeded {
		return errors.Errorf(op, errors.DeadlineExceeded, "the request's deadline passed before the collection's %s finished", k.noun())
	}
	return errors.Errorf(op, errors.Canceled, "the request was canceled while the collection's %s ran", k.noun())
}
