package db

import (
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The time limit of checking an instance against a collection's schema.
//
// The work of a check is bounded before it starts (schemacost.go), but
// not its time: on a loaded hub even bounded work can hold a core for
// long. The validator takes no context, so compileSchema registers with
// it a vocabulary of no keywords whose extension it compiles into every
// subschema: the validator runs that extension each time it has applied
// a subschema to a value, after the subschema's children. The extension
// reads the clock and, past the deadline, panics with errPastDeadline,
// which run recovers. Abandoning a check this way is safe: the validator
// keeps the state of a check on the stack of the call and only reads the
// compiled schema, so nothing outlives the panic; and the work it
// abandons was bounded anyway, so the deadline only turns what would
// have been a slow answer into a quick refusal.
//
// The validator does not run the extension where a subschema fails
// early (a value of the wrong type, say): the children of one value that
// all fail so run on unchecked until the last, and the deadline is seen
// at their parent. The work limit bounds that stretch too: its worst,
// an array of about 230,000 items that each fail their type (and each
// leave an error behind), takes about 0.6 s here, where the slowest
// passing write the default limit admits takes 0.1 s.

// deadlineVocabulary names the keyword-less vocabulary of the deadline.
const deadlineVocabulary = "hub:vocab/deadline"

// errPastDeadline is the panic that ends a check past its deadline, and
// the error run returns for it.
var errPastDeadline = deadlineError{}

type deadlineError struct{}

func (deadlineError) Error() string { return "schema check past its deadline" }

// deadline is the time limit of one compiled schema's checks. Its
// extension is shared by every subschema of the schema, so it holds one
// check's state at a time: run serialises the checks of a schema (a DB's
// writes are serial already: they hold its write lock).
type deadline struct {
	timeout time.Duration

	// mu is held for the whole of a check.
	mu    sync.Mutex
	now   func() time.Time // guarded by mu
	until time.Time        // guarded by mu
	// checks counts the subschemas the check has finished applying;
	// guarded by mu.
	checks int64
}

// register adds the deadline's vocabulary to c, so that every subschema
// c compiles carries the extension. AssertVocabs makes drafts 2019-09 and
// 2020-12 use it too; it enables no keyword of theirs that was off.
func (d *deadline) register(c *jsonschema.Compiler) {
	c.RegisterVocabulary(&jsonschema.Vocabulary{
		URL: deadlineVocabulary,
		Compile: func(*jsonschema.CompilerContext, map[string]any) (jsonschema.SchemaExt, error) {
			return d, nil
		},
	})
	c.AssertVocabs()
}

// Validate is the extension: it counts a check and stops the whole
// check when it is past its deadline.
func (d *deadline) Validate(*jsonschema.ValidatorContext, any) {
	d.checks++
	if !d.now().Before(d.until) {
		panic(errPastDeadline)
	}
}

// run runs check, the validation of one instance, within the timeout by
// the clock now. It returns how many subschemas check finished applying,
// and errPastDeadline if it ran past the deadline, else check's error.
func (d *deadline) run(now func() time.Time, check func() error) (checks int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now, d.checks = now, 0
	d.until = now().Add(d.timeout)
	defer func() {
		checks = d.checks
		if v := recover(); v != nil {
			if v != errPastDeadline {
				panic(v)
			}
			err = errPastDeadline
		}
	}()
	return 0, check()
}
