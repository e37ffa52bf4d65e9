//go:build race

package test

// raceEnabled reports whether the tests were built with -race, which makes
// the hub several times slower; load tests scale down under it.
const raceEnabled = true
