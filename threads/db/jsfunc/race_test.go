//go:build race

package jsfunc

// raceEnabled reports whether the tests were built with -race, which makes
// the engine (translated C, every memory access instrumented) tens of times
// slower: the tests whose JavaScript must do much work within a time limit
// are skipped then, and run in make test's second pass, built without -race.
const raceEnabled = true
