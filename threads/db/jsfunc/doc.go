// Package jsfunc runs a collection's write validator and read filter: the
// JavaScript functions a collection config carries as strings
// (writeValidator, readFilter), compiled once and called for every write
// and every read of the collection.
//
// # What arrives on the wire
//
// The JS client (@textile/threads-client getFunctionBody) sends the text
// between the first '{' and the last '}' of fn.toString(), with comments
// removed: the function's body, not the function. Both forms are accepted:
//
//   - a body, as the JS client sends it and go-threads expects: it runs as
//     function (writer, event, instance) { <body> } for a validator, and
//     function (reader, instance) { <body> } for a filter, so the argument
//     names are fixed;
//   - a whole function (a function expression, declaration or arrow
//     function, and nothing else), as a hand-written or Go client may
//     send, or as the JS client sends for a function made with
//     new Function(source): it is called with the arguments in order,
//     whatever it names them. (go-threads ran such text as a body, which
//     declares a function and returns undefined: every write refused.)
//
// An empty body means no function: CompileValidator and CompileFilter
// return nil, and a nil *Validator accepts every write, a nil *Filter
// shows every instance unchanged. Note that the JS client sends an empty
// body for an arrow function without braces ((w, e, i) => true), and that
// a string given to it goes through the same cut: a body string with
// braces loses what lies outside the outermost pair.
//
// # Arguments
//
// A validator is called as (writer, event, instance) and must return
// true to accept the write:
//
//   - writer: the writer identity's public key string (multibase), "" for
//     none;
//   - event: the write, parsed from the JSON given to Validate. Validators
//     written for the Textile Hub read the go-threads event shape:
//     {timestamp, _id, collection_name, patch: {type, instance_id,
//     json_patch}}, with patch.type "create", "save" or "delete" and
//     json_patch the new instance for a create, the RFC 7386 merge patch
//     from the stored instance to the new one for a save, absent for a
//     delete. Event builds that JSON (plus the short aliases type,
//     collection and instanceID) and MergePatch computes the patch;
//   - instance: the instance as stored before the write, undefined for a
//     create, as in go-threads: so an owner check such as
//     instance.owner === writer cannot be passed by a save that rewrites
//     owner. The new instance is in event.patch.json_patch. Callers pass
//     the stored instance's JSON, or nil for none.
//
// go-threads accepted a write only when the validator returned true
// itself. Validate does the same: false, null or undefined refuse it, a
// string refuses it with that string as the reason (the Textile Buckets
// validator returns "permission denied" this way), anything else refuses
// it and says what was returned.
//
// A filter is called as (reader, instance): reader is the reader
// identity's public key string, "" for an anonymous reader; instance is
// the stored instance. It returns the instance to show, changed or not
// (for example with fields deleted), or null, undefined or false to hide
// it. Any other return is an error.
//
// # Sandbox
//
// Calls run in QuickJS (modernc.org/quickjs, the C engine translated to Go,
// no cgo), in strict mode as go-threads compiled the functions. The engine
// was chosen over goja, which had run them before, and over a separate
// process under OS limits:
//
//   - goja has no memory limit: 'x'.repeat(1e12), or new Array(1e8).fill(0)
//     on a large heap, killed the whole hub with "out of memory", and a
//     built-in such as a catastrophic regular expression ran on, holding a
//     core, for seconds after its call was refused;
//   - QuickJS bounds each runtime's heap (an allocation past Limits.Memory
//     throws "out of memory"), its call depth, and its time: the time
//     check runs between instructions and inside regular expressions, so
//     the regular expression above stops at the limit. A runtime hardened
//     by the prelude (every built-in frozen) costs far more to set up than
//     a bare one, and memory to keep (BenchmarkRuntimeReuse,
//     BenchmarkRuntimeMemory; bench/RESULTS.md, "Scripts"), so runtimes
//     are reused;
//   - a separate process would also stop built-ins that loop without
//     checking for the interrupt (it can be killed), but costs a round trip
//     between processes on every call (each write, each instance a read
//     returns), a pool of processes to manage, and the arguments and
//     answers encoded twice. The built-ins that loop without checking are
//     bounded here instead (see below).
//
// An Engine holds the limits and compiles functions. A runtime belongs to
// one compiled function and serves up to 1000 of its calls, one at a time,
// for any caller; it is closed, never reused, after a call that was
// interrupted, ran out of memory or stack, or broke the engine, so a
// runtime holding a full heap is never kept. A function keeps at most 4
// idle runtimes, and an Engine at most 64 in all (each holds memory
// outside the Go heap, which the Go collector does not see; see
// BenchmarkRuntimeMemory), and the idle
// runtimes of a function nobody can call any more are closed when the Go
// collector finds it so. A runtime is used by one worker at a time, handed
// over through a channel; QuickJS runtimes are not tied to a goroutine or
// a thread.
//
// A call sees nothing but its arguments, not even what an earlier call of
// the same function left: once set up, everything reachable from the
// global object (the built-ins, their prototypes and methods) and the
// function itself are frozen, so a call cannot stash one reader's instance
// where the next reader's call would find it, and a validator's verdict
// cannot depend on the writes it judged before. Assignments in strict mode
// to a frozen object throw TypeError. So that ordinary code still works,
// the data properties of Object.prototype, Function.prototype and the
// Error prototypes are accessors whose setter defines the property on the
// object assigned to (obj.constructor = x, Object.assign({}, {toString:
// 1}), this.name = ... in an Error subclass), as the override taming of
// SES does; assigning a name inherited from another built-in prototype
// (arr.toString = f) still throws, and Object.defineProperty does it. The
// intrinsics no property path reaches (iterator, generator and async
// function prototypes) are frozen too. Promise jobs never run: a call's
// answer is what the function returned.
//
// The arguments reach the sandbox as JSON text and are built by JSON.parse
// as the engine made it; a filter's answer is encoded by JSON.stringify,
// captured before the function could change it. Only strings cross between
// Go and JavaScript.
//
// The runtime holds the arguments and the engine's ECMAScript built-ins
// (Object, Function, Array, String, Number, BigInt, Boolean, Symbol,
// RegExp, Date, Math, JSON, Reflect, Proxy, Promise, Map, Set, WeakMap,
// WeakSet, Iterator, the Error types, ArrayBuffer, DataView and the typed
// arrays, globalThis and the global functions; TestGlobals lists them),
// and nothing of the host: no require, console, timers, I/O or Go values.
// Changed from the engine's defaults:
//
//   - no code from strings: eval, Function and the constructors reached
//     through a function's constructor property throw EvalError, so the
//     code that runs is the code that was compiled;
//   - no clock: Date.now(), Date() and new Date() without arguments throw
//     TypeError, because a write must be judged the same on every peer
//     and at every replay (new Date(ms), Date.parse and Date.UTC work;
//     the local-time methods use the host's time zone);
//   - no WeakRef, FinalizationRegistry, SharedArrayBuffer or Atomics: what
//     they answer depends on the collector or on other threads;
//   - the array and typed array methods, and Array.from, refuse arrays (and
//     array-likes) longer than 262144 elements, and sort without a
//     comparator longer than 16384, with RangeError: they loop without
//     checking for the interrupt, and at these lengths end within tens of
//     milliseconds.
//
// Math.random is the engine's own generator, seeded per runtime; its output
// says nothing about the process's other random streams.
//
// # Limits
//
// Limits bound every call: its time (Timeout, 100 ms; DeadlineExceeded),
// the heap of its runtime (Memory, 64 MiB; Exhausted), the depth of its
// calls (MaxCallDepth, 1000; Exhausted; JSON.parse nests as deep, since
// the engine's parser recurses), and the size of the source. Setting up a
// runtime runs only the hub's own code and is not counted in the call's
// time.
//
// Calls also draw on a budget: at most Limits.Concurrency calls of one
// tenant (the account the caller names: threads/db passes the account that
// owns the DB) run at once, and at most Limits.MaxRunning in the Engine
// (by default half its cores, at least two); and a tenant whose calls kept more
// than Limits.CPUShare of the cores busy (the CPU time of the threads its
// calls ran on), on average over Limits.CPUWindow, waits until its use falls back under its share. When
// places are short, the waiting tenant that used the least goes first. A
// call waits for a place up to ten times Timeout (and while its context
// lasts), then is refused as Exhausted. The engine stops a call at its
// time limit or when its context ends. A call that
// does not stop within a grace after its limit (a built-in that loops
// without checking for the interrupt, on a length it read through a getter
// or a proxy that the bounds above cannot see; on Linux, only once its
// thread has used that much CPU, so that a call the kernel kept waiting is
// not taken for one) is abandoned: the caller
// gets DeadlineExceeded, and the call keeps its places until it ends, so it
// stalls only its own tenant, and at most MaxRunning cores and MaxRunning
// times Memory of memory are ever taken by scripts.
//
// # Threads
//
// Calls run, with the setting up of their runtimes, on at most MaxRunning
// worker goroutines, each locked to an OS thread of its own which, on
// Linux, is niced to Limits.Nice (10 by default). A call is computation
// that never waits: on a thread shared with the hub's other goroutines it
// held its core until the Go scheduler preempted it, up to 10 ms later,
// and requests that were ready behind it waited as long. On threads of
// their own at a lower priority, the kernel runs the request threads first
// whenever both are ready, and a call gets what is left (at nice 10, at
// least a tenth of a core against a busy request thread). A hub gives the
// workers Go scheduler slots of their own (hubd raises GOMAXPROCS by
// MaxRunning; Limits.Cores keeps CPUShare a fraction of the cores from
// before), so that a running call never holds a slot request work needs.
// A worker ends after 10 s without a call, and its thread with it: a
// lowered thread never runs anything else. The time limit stays wall time,
// so a call on a machine kept busy by requests gets less done within it:
// requests come first.
//
// # Errors
//
// Compile errors are Invalid (syntax, with the parser's message; source
// too long). Calls return Permission when a validator refuses a write,
// Invalid when the function throws (including the RangeError of a bounded
// built-in) or a filter returns something that is not an instance,
// DeadlineExceeded when the call ran out of time (the limit or the
// context's deadline), Canceled when the context was canceled, Exhausted
// when the call ran out of memory or call depth or found no place in the
// budget, and Internal if the engine itself failed. Every error names the
// operation (jsfunc.Validate, …).
package jsfunc
