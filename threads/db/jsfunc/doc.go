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
// Calls run in goja runtimes, in strict mode as go-threads compiled the
// functions. A runtime belongs to one compiled function and serves up to
// 1000 of its calls, one at a time, for any caller; it is dropped, never
// reused, after a call that was interrupted, went too deep or broke the
// engine. A call sees nothing but its arguments, not even what an earlier
// call of the same function left: once set up, everything reachable from
// the global object (the built-ins, their prototypes and methods) and the
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
// function prototypes) are frozen too. The price (BenchmarkRuntimeReuse, 2-core EPYC): setting up a
// runtime costs about 4 ms instead of 60 µs, since freezing makes goja
// build every built-in it otherwise builds on first use, and holds about
// 570 KB instead of 40 KB; a call costs about 20 µs instead of 12.

// The arguments are built from JSON as JSON.parse builds them, by a
// decoder of this package (goja's JSON.parse costs twice the call). A
// filter's answer is encoded by JSON.stringify as goja made it, before
// the function could change it.
//
// The runtime holds the arguments and goja's ECMAScript built-ins
// (Object, Function, Array, String, Number, BigInt, Boolean, Symbol,
// RegExp, Date, Math, JSON, Reflect, Proxy, Promise, Map, Set, WeakMap,
// WeakSet, the Error types, ArrayBuffer, DataView and the typed arrays,
// globalThis and the global functions; TestGlobals lists them), and
// nothing of the host: no require, console, timers, I/O or Go values.
// Changed from goja's defaults:
//
//   - no code from strings: eval, Function and the constructors reached
//     through a function's constructor property throw EvalError, so the
//     code that runs is the code that was compiled (and a deeply nested
//     string of source cannot overflow the parser's Go stack);
//   - no clock: Date.now(), Date() and new Date() without arguments throw
//     TypeError, because a write must be judged the same on every peer
//     and at every replay (new Date(ms), Date.parse and Date.UTC work;
//     the local-time methods use the host's time zone);
//   - Math.random draws from a ChaCha8 source per thread, so its output
//     says nothing about the process's other random streams;
//   - goja's GoError constructor is removed;
//   - JSON.parse refuses text nested deeper than MaxJSONDepth, because
//     goja parses recursively and a deep enough text (a few MB of '[')
//     would overflow the Go stack, which kills the process.
//
// # Limits
//
// goja has no memory limit. What bounds a call is Limits: the time limit
// (goja's Interrupt stops JavaScript between two instructions), the call
// depth, and the size of the source. Measured on a 2-core EPYC with the
// default 100 ms (TestAllocationLoop): a loop pushing numbers into an
// array allocates about 45 MB before it is stopped, one pushing objects
// about 75 MB, and a loop doubling a string (s += s) 128 to 512 MB,
// stopping 0.1 to 0.75 s late, because its last step is one big copy.
// A built-in function is not interrupted: a catastrophic regular
// expression, or an array method on a huge sparse array
// (Array(1e8).sort(), Array(1e7).join()), runs to its end, for seconds
// and gigabytes. Validate and Apply return at the deadline all the same
// (the call runs on its own goroutine and is abandoned), and while
// Limits.MaxOverdue abandoned calls of a function are still running,
// further calls of that function are refused as Exhausted, so one bad
// function cannot pile them up. A function written to exhaust memory can
// still do it within one built-in call; code from tenants who are not
// trusted with the hub's memory needs a separate process with an OS
// memory limit.
//
// # Errors
//
// Compile errors are Invalid (syntax, with the parser's message; source
// too long). Calls return Permission when a validator refuses a write,
// Invalid when the function throws or a filter returns something that is
// not an instance, DeadlineExceeded when the call ran out of time (the
// limit or the context's deadline), Canceled when the context was
// canceled, Exhausted when the call went deeper than the call depth or
// the function has too many overdue calls, and Internal if the engine
// itself failed. Every error names the operation (jsfunc.Validate, …).
package jsfunc
