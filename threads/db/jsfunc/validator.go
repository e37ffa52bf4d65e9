package jsfunc

import (
	"context"
	"math/big"

	"github.com/dop251/goja"

	"github.com/selfhub/hub/errors"
)

// Validator is a compiled write validator. It is safe for concurrent use;
// a nil *Validator accepts every write.
type Validator struct {
	f *function
}

// CompileValidator compiles a collection's writeValidator: a function body
// run as function (writer, event, instance) { body }, or a whole function
// (see the package doc). A body that does not parse, or is longer than
// lim.MaxSourceLen, is Invalid with the parser's message. An empty body
// returns a nil *Validator and no error.
func CompileValidator(body string, lim Limits) (*Validator, error) {
	const op errors.Op = "jsfunc.CompileValidator"
	f, err := compile(op, kindValidator, body, lim, "writer, event, instance")
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
// if ctx was canceled, and Exhausted if it recursed too deep or has too
// many overdue calls.
func (v *Validator) Validate(ctx context.Context, writer string, event, instance []byte) error {
	const op errors.Op = "jsfunc.Validate"
	if v == nil {
		return nil
	}
	return v.f.run(ctx, op, func(s *sandbox) error {
		ev, err := s.parseJSON(op, "event", event)
		if err != nil {
			return err
		}
		inst, err := s.parseJSON(op, "instance", instance)
		if err != nil {
			return err
		}
		res, err := s.fn(goja.Undefined(), s.vm.ToValue(writer), ev, inst)
		if err != nil {
			return err
		}
		return verdict(op, res)
	})
}

// verdict turns a validator's return into Validate's answer.
func verdict(op errors.Op, res goja.Value) error {
	const refused = "write refused by the collection's validator"
	switch {
	case res == nil || goja.IsUndefined(res):
		return errors.E(op, errors.Permission, refused+" (it returned undefined; it must return true to accept a write)")
	case goja.IsNull(res):
		return errors.E(op, errors.Permission, refused+" (it returned null; it must return true to accept a write)")
	}
	if _, isObject := res.(*goja.Object); isObject {
		return errors.E(op, errors.Permission, refused+" (it returned an object; it must return true to accept a write)")
	}
	switch x := res.Export().(type) {
	case bool:
		if x {
			return nil
		}
		return errors.E(op, errors.Permission, refused)
	case string:
		return errors.Errorf(op, errors.Permission, "%s: %s", refused, clip(x))
	default:
		return errors.Errorf(op, errors.Permission, "%s (it returned the %s %s; it must return true to accept a write)", refused, typeOf(res), clip(res.String()))
	}
}

// typeOf names the JavaScript type of a primitive that is not a boolean
// or a string, for messages.
func typeOf(v goja.Value) string {
	if _, ok := v.(*goja.Symbol); ok {
		return "symbol"
	}
	switch v.Export().(type) {
	case int64, float64:
		return "number"
	case *big.Int:
		return "bigint"
	}
	return "value"
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
