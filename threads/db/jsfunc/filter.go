package jsfunc

import (
	"context"

	"github.com/dop251/goja"

	"github.com/selfhub/hub/errors"
)

// Filter is a compiled read filter. It is safe for concurrent use; a nil
// *Filter shows every instance unchanged.
type Filter struct {
	f *function
}

// CompileFilter compiles a collection's readFilter: a function body run as
// function (reader, instance) { body }, or a whole function (see the
// package doc). A body that does not parse, or is longer than
// lim.MaxSourceLen, is Invalid with the parser's message. An empty body
// returns a nil *Filter and no error.
func CompileFilter(body string, lim Limits) (*Filter, error) {
	const op errors.Op = "jsfunc.CompileFilter"
	f, err := compile(op, kindFilter, body, lim, "reader, instance")
	if f == nil || err != nil {
		return nil, err
	}
	return &Filter{f: f}, nil
}

// Apply runs the filter on instance (a JSON object) for reader ("" for an
// anonymous reader). It returns the instance to show, as the JSON of what
// the function returned (the same instance, changed, or another object),
// or nil if the function hid it by returning null, undefined or false.
// It returns Invalid if the function threw or returned anything else, or
// if instance is not JSON; DeadlineExceeded if it ran out of time;
// Canceled if ctx was canceled; and Exhausted if it recursed too deep or
// has too many overdue calls.
func (f *Filter) Apply(ctx context.Context, reader string, instance []byte) ([]byte, error) {
	const op errors.Op = "jsfunc.Apply"
	if f == nil {
		return instance, nil
	}
	var out []byte
	err := f.f.run(ctx, op, func(s *sandbox) error {
		inst, err := s.parseJSON(op, "instance", instance)
		if err != nil {
			return err
		}
		res, err := s.fn(goja.Undefined(), s.vm.ToValue(reader), inst)
		if err != nil {
			return err
		}
		out, err = s.shown(op, res)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// shown turns a filter's return into Apply's answer: the JSON of an
// object, or nil for null, undefined and false.
func (s *sandbox) shown(op errors.Op, res goja.Value) ([]byte, error) {
	const must = "it must return the instance, an object, or null to hide it"
	if res == nil || goja.IsUndefined(res) || goja.IsNull(res) || res.StrictEquals(s.vm.ToValue(false)) {
		return nil, nil
	}
	obj, ok := res.(*goja.Object)
	if !ok {
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned %s; %s", clip(res.String()), must)
	}
	if obj.ClassName() == "Array" {
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned an array; %s", must)
	}
	if _, isFunc := goja.AssertFunction(obj); isFunc {
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned a function; %s", must)
	}
	js, err := s.stringify(goja.Undefined(), obj)
	if err != nil {
		return nil, err // classified by the caller
	}
	text := js.String()
	if goja.IsUndefined(js) || len(text) == 0 || text[0] != '{' {
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned an object whose JSON is not an object (%s); %s", clip(text), must)
	}
	return []byte(text), nil
}
