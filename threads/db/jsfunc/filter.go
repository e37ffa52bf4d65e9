package jsfunc

import (
	"context"

	"github.com/selfhub/hub/errors"
)

// Filter is a compiled read filter. It is safe for concurrent use; a nil
// *Filter shows every instance unchanged.
type Filter struct {
	f *function
}

// CompileFilter compiles a collection's readFilter for tenant, the account
// whose budget its calls draw on: a function body run as
// function (reader, instance) { body }, or a whole function (see the
// package doc). A body that does not parse, or is longer than
// Limits.MaxSourceLen, is Invalid with the parser's message. An empty body
// returns a nil *Filter and no error.
func (e *Engine) CompileFilter(tenant, body string) (*Filter, error) {
	const op errors.Op = "jsfunc.CompileFilter"
	f, err := e.compile(op, tenant, kindFilter, body, "reader, instance")
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
// Canceled if ctx was canceled; and Exhausted if it ran out of memory or
// stack, or its tenant or the hub runs too many calls at once.
func (f *Filter) Apply(ctx context.Context, reader string, instance []byte) ([]byte, error) {
	const op errors.Op = "jsfunc.Apply"
	if f == nil {
		return instance, nil
	}
	res, err := f.f.run(ctx, op, reader, jsonArg(instance))
	if err != nil {
		return nil, err
	}
	return f.f.shown(op, res)
}

// shown turns what the filter's wrapper returned (see preludeSource) into
// Apply's answer: the JSON of an object, or nil for null, undefined and
// false.
func (f *function) shown(op errors.Op, res string) ([]byte, error) {
	const must = "it must return the instance, an object, or null to hide it"
	if res == "" {
		return nil, errors.E(op, errors.Internal, "the filter's sandbox returned nothing")
	}
	switch tag, rest := res[0], res[1:]; tag {
	case 'J':
		return []byte(rest), nil
	case 'H':
		return nil, nil
	case 'f':
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned a function; %s", must)
	case 'a':
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned an array; %s", must)
	case 'p':
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned %s; %s", clip(rest), must)
	case 'j':
		return nil, errors.Errorf(op, errors.Invalid, "the collection's read filter returned an object whose JSON is not an object (%s); %s", clip(rest), must)
	case '!':
		return nil, f.argError(op, rest)
	}
	return nil, errors.Errorf(op, errors.Internal, "the filter's sandbox returned %q", clip(res))
}
