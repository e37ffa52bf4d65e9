package jsfunc

// Bounds on the built-ins that loop without checking for the interrupt.
// The engine checks for its interrupt only between JavaScript instructions
// and in regular expressions, so a built-in that loops over a length the
// function chose ([].indexOf.call({length: 2 ** 53}), Array(1e8).join())
// would run on past the time limit. The array and typed array methods
// refuse longer arrays (or array-likes) with a RangeError; at these
// lengths such a loop ends within milliseconds on a 2-core EPYC
// (TestBuiltinBounds). Sorting without a comparator, which compares the
// elements as strings, is bounded lower: a comparator is JavaScript, and
// can be interrupted.
const (
	maxBuiltinLength = 1 << 18
	maxSortLength    = 1 << 14
)

// preludeSource hardens a fresh runtime before the function is loaded; see
// the package doc. It evaluates to a function of the function's kind,
// maxBuiltinLength and maxSortLength that
// freezes everything reachable from the global object and returns load:
// load(f) freezes f and returns it wrapped for calls. Everything the wrappers use
// is captured first, so that nothing the function does later changes
// them, and the wrappers return a string whose first character says what
// the function returned: the Go side converts no JavaScript values but
// strings.
const preludeSource = `(function (kind, maxLength, maxSortLength) {
	var global = globalThis;
	var define = Object.defineProperty, getProto = Object.getPrototypeOf, ownKeys = Reflect.ownKeys;
	var describe = Object.getOwnPropertyDescriptor, freeze = Object.freeze;
	var apply = Reflect.apply, construct = Reflect.construct, toString = String, isArray = Array.isArray;
	// (Function and Date are the replacements declared below, hoisted.)
	var functionProto = getProto(define);
	var parse = JSON.parse, stringify = JSON.stringify;
	var EvalErr = EvalError, RangeErr = RangeError, TypeErr = TypeError, OrigDate = global.Date;
	var asyncProto = getProto(async function () {}), genProto = getProto(function* () {});
	var asyncGenProto = getProto(async function* () {});
	function method(obj, name, fn) {
		define(obj, name, {value: fn, writable: true, enumerable: false, configurable: true});
	}

	// No code from strings.
	function Function() {
		throw new EvalErr("code generation from strings is not available to validators and filters");
	}
	define(Function, "prototype", {value: functionProto});
	var protos = [functionProto, genProto, asyncProto, asyncGenProto];
	for (var i = 0; i < protos.length; i++) {
		method(protos[i], "constructor", Function);
	}
	method(global, "Function", Function);
	method(global, "eval", function () {
		throw new EvalErr("eval is not available to validators and filters");
	});

	// No clock: a write must be judged the same on every peer and at every
	// replay.
	function noClock() {
		throw new TypeErr("the current time is not available to validators and filters: a write must be judged the same on every peer and at every replay");
	}
	function Date(year, month, day, hours, minutes, seconds, ms) {
		if (new.target === undefined || arguments.length === 0) {
			noClock();
		}
		return construct(OrigDate, arguments, new.target);
	}
	define(Date, "prototype", {value: OrigDate.prototype});
	method(OrigDate.prototype, "constructor", Date);
	method(Date, "now", function now() { noClock(); });
	method(Date, "parse", OrigDate.parse);
	method(Date, "UTC", OrigDate.UTC);
	method(global, "Date", Date);

	// Nothing whose answer depends on the collector, and no shared memory.
	delete global.WeakRef;
	delete global.FinalizationRegistry;
	delete global.SharedArrayBuffer;
	delete global.Atomics;

	// Built-ins that loop over a length without checking for the
	// interrupt refuse lengths past maxLength, or maxSortLength for a sort
	// without a comparator. lengthOf gives the length a call would loop
	// over.
	function bound(obj, name, lengthOf) {
		var d = describe(obj, name), orig = d.value;
		var sort = name === "sort" || name === "toSorted";
		var wrapped = {[name]: function () {
			var max = sort && arguments[0] === undefined ? maxSortLength : maxLength;
			if (lengthOf(this, arguments) > max) {
				throw new RangeErr(name + ": the array is longer than " + max + ", the limit of validators and filters");
			}
			return apply(orig, this, arguments);
		}}[name];
		define(wrapped, "length", {value: orig.length});
		d.value = wrapped;
		define(obj, name, d);
	}
	function thisLength(self) {
		return self === null || self === undefined ? 0 : +self.length;
	}
	var arrayProtos = [Array.prototype, getProto(Int8Array.prototype)];
	for (var i = 0; i < arrayProtos.length; i++) {
		var keys = ownKeys(arrayProtos[i]);
		for (var j = 0; j < keys.length; j++) {
			var v = describe(arrayProtos[i], keys[j]).value;
			if (typeof v === "function" && typeof keys[j] === "string" && keys[j] !== "constructor") {
				bound(arrayProtos[i], keys[j], thisLength);
			}
		}
	}
	bound(Array, "from", function (self, args) { return thisLength(args[0]); });

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
			(function (key, value) {
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
			})(keys[i], d.value);
		}
	}
	var overridable = [Object.prototype, functionProto, Error.prototype, EvalError.prototype,
		RangeError.prototype, ReferenceError.prototype, SyntaxError.prototype, TypeError.prototype,
		URIError.prototype, AggregateError.prototype, InternalError.prototype];
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
		function () { return Iterator.from({next: function () {}}); },
		function () { return [].values().map(function () {}); },
		function () { return function* () {}; },
		function () { return async function () {}; },
		function () { return async function* () {}; },
	];
	for (var i = 0; i < hidden.length; i++) {
		deepFreeze(hidden[i]());
	}

	function arg(text) {
		return text === undefined ? undefined : parse(text);
	}

	// The validator's answer: T to accept; F false, u undefined, n null,
	// o an object, s and a reason, # and a description of anything else.
	function validator(fn) {
		return function (writer, eventText, instanceText) {
			var event, instance;
			try {
				event = arg(eventText);
			} catch (e) {
				return "!event\n" + toString(e);
			}
			try {
				instance = arg(instanceText);
			} catch (e) {
				return "!instance\n" + toString(e);
			}
			var r = fn(writer, event, instance);
			switch (typeof r) {
			case "boolean":
				return r ? "T" : "F";
			case "undefined":
				return "u";
			case "string":
				return "s" + r;
			case "object":
				return r === null ? "n" : "o";
			case "function":
				return "o";
			}
			return "#" + (typeof r) + " " + toString(r);
		};
	}

	// The filter's answer: J and the JSON of the instance to show; H to
	// hide it; f a function, a an array, p and a primitive, j and JSON that
	// is not an object.
	function filter(fn) {
		return function (reader, instanceText) {
			var instance;
			try {
				instance = arg(instanceText);
			} catch (e) {
				return "!instance\n" + toString(e);
			}
			var r = fn(reader, instance);
			if (r === undefined || r === null || r === false) {
				return "H";
			}
			if (typeof r === "function") {
				return "f";
			}
			if (typeof r !== "object") {
				return "p" + toString(r);
			}
			if (isArray(r)) {
				return "a";
			}
			var js = stringify(r);
			if (typeof js !== "string" || js[0] !== "{") {
				return "j" + toString(js);
			}
			return "J" + js;
		};
	}

	return function load(fn) {
		if (typeof fn !== "function") {
			throw new TypeErr("the " + (kind === "writeValidator" ? "write validator" : "read filter") + " is not a function");
		}
		deepFreeze(fn);
		return kind === "writeValidator" ? validator(fn) : filter(fn);
	};
})`
