package jsfunc

import (
	"context"
	"strings"

	"modernc.org/quickjs"

	"github.com/selfhub/hub/errors"
)

// Validator is a compiled write validator. It is safe for concurrent use;
// a nil *Validator accepts every write.
type Validator struct {
	f *function
}

// CompileValidator compiles a collection's writeValidator for tenant, the
// account whose budget its calls draw on: a function body run as
// function (writer, event, instance) { body }, or a whole function (see
// the package doc). A body that does not parse, or is longer than
// Limits.MaxSourceLen, is Invalid with the parser's message. An empty body
// returns a nil *Validator and no error.
func (e *Engine) CompileValidator(tenant, body string) (*Validator, error) {
	const op errors.Op = "jsfunc.CompileValidator"
	f, err := e.compile(op, tenant, kindValidator, body, "writer, event, instance")
	if f == nil || err != nil {
		return nil, err
	}
	return &Validator{f: f}, nil
}

// Validate runs the validator on a write by writer, described by event
// (JSON; see Event), of the instance stored before the write (JSON; nil
// for a create, which the function sees as undefined). It returns nil if
// the function returned true. It returns Permission if the function
// refused the write (any other return), Invalid if it threw or an
// argument is not JSON, DeadlineExceeded if it ran out of time, Canceled
// if ctx was canceled, and Exhausted if it ran out of memory or stack, or
// its tenant or the hub runs too many calls at once.
func (v *Validator) Validate(ctx context.Context, writer string, event, instance []byte) error {
	const op errors.Op = "jsfunc.Validate"
	if v == nil {
		return nil
	}
	res, err := v.f.run(ctx, op, writer, jsonArg(event), jsonArg(instance))
	if err != nil {
		return err
	}
	return v.f.verdict(op, res)
}

// jsonArg passes a JSON argument to the sandbox: its text, or undefined
// when empty.
func jsonArg(data []byte) any {
	if len(data) == 0 {
		return quickjs.Undefined{}
	}
	return string(data)
}

// verdict turns what the validator's wrapper returned (see preludeSource)
// into Validate's answer.
func (f *function) verdict(op errors.Op, res string) error {
	const refused = "write refused by the collection's validator"
	const must = "; it must return true to accept a write)"
	if res == "" {
		return errors.E(op, errors.Internal, "the validator's sandbox returned nothing")
	}
	switch tag, rest := res[0], res[1:]; tag {
	case 'T':
		return nil
	case 'F':
		return errors.E(op, errors.Permission, refused)
	case 'u':
		return errors.E(op, errors.Permission, refused+" (it returned undefined"+must)
	case 'n':
		return errors.E(op, errors.Permission, refused+" (it returned null"+must)
	case 'o':
		return errors.E(op, errors.Permission, refused+" (it returned an object"+must)
	case 's':
		return errors.Errorf(op, errors.Permission, "%s: %s", refused, clip(rest))
	case '#':
		return errors.Errorf(op, errors.Permission, "%s (it returned the %s%s", refused, clip(rest), must)
	case '!':
		return f.argError(op, rest)
	}
	return errors.Errorf(op, errors.Internal, "the validator's sandbox returned %q", clip(res))
}

// argError reports a JSON argument that JSON.parse refused in the
// sandbox: the wrapper returned its name, a newline and the error.
func (f *function) argError(op errors.Op, rest string) error {
	name, msg, _ := strings.Cut(rest, "\n")
	switch {
	case strings.HasSuffix(msg, "stack overflow"):
		return errors.Errorf(op, errors.Invalid, "the %s nests deeper than the limit of %d levels", name, f.e.lim.MaxCallDepth)
	case strings.HasSuffix(msg, "out of memory"):
		return errors.Errorf(op, errors.Exhausted, "the %s does not fit in the memory limit of %d MiB of the collection's %s", name, f.e.lim.Memory>>20, f.kind.noun())
	}
	return errors.Errorf(op, errors.Invalid, "the %s is not JSON: %s", name, clip(msg))
}

// clip shortens a string the function made before it goes into an error
// message.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
