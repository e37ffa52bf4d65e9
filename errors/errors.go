// Package errors defines Hub's error type: an operation, a kind that says
// what class of failure it is, and the underlying cause. It knows no
// transport: kinds are mapped to gRPC status codes in one table at the edge
// (internal/rpcerr), so the packages that produce errors never deal with
// transport codes and the core imports no gRPC.
package errors

import (
	stderrors "errors"
	"fmt"
	"strings"
)

// Kind classifies an error. The list only grows; values are never reused.
type Kind uint8

// The kinds of error. Other is the zero value: an error whose class is
// unknown, reported as Internal at the edge.
const (
	Other              Kind = iota // unclassified
	Invalid                        // the caller sent something malformed
	NotExist                       // the named thing does not exist
	Exist                          // the thing already exists
	Permission                     // the caller may not do this
	Unauthenticated                // no valid credentials were presented
	FailedPrecondition             // the system is not in a state that allows this
	Exhausted                      // a limit or quota was reached
	Unimplemented                  // the operation is not offered by this server
	Internal                       // a bug or a failure of storage
	Unavailable                    // a dependency is temporarily unreachable
	Canceled                       // the caller went away
	DeadlineExceeded               // the operation ran out of time
	DataLoss                       // stored data is damaged or was altered
)

var kindNames = [...]string{
	Other:              "other error",
	Invalid:            "invalid argument",
	NotExist:           "not found",
	Exist:              "already exists",
	Permission:         "permission denied",
	Unauthenticated:    "unauthenticated",
	FailedPrecondition: "failed precondition",
	Exhausted:          "resource exhausted",
	Unimplemented:      "unimplemented",
	Internal:           "internal error",
	Unavailable:        "unavailable",
	Canceled:           "canceled",
	DeadlineExceeded:   "deadline exceeded",
	DataLoss:           "data loss",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Op names the operation that failed, such as "auth.CreateKey".
type Op string

// Error is the error type used throughout Hub.
type Error struct {
	Op   Op
	Kind Kind
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(string(e.Op))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(e.Kind.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error from its arguments: an Op, a Kind, an error (wrapped as
// the cause) or a string (the message of a new cause). When the cause is an
// *Error of Other kind and no kind is given, the cause's kind is kept.
func E(args ...any) error {
	e := &Error{}
	for _, a := range args {
		switch a := a.(type) {
		case Op:
			e.Op = a
		case Kind:
			e.Kind = a
		case error:
			e.Err = a
		case string:
			e.Err = stderrors.New(a)
		default:
			panic(fmt.Sprintf("errors.E: bad argument %T", a))
		}
	}
	if e.Kind == Other {
		e.Kind = KindOf(e.Err)
	}
	return e
}

// Errorf is E with a formatted message.
func Errorf(op Op, kind Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// KindOf reports the kind of the outermost classified error in err's chain,
// or Other.
func KindOf(err error) Kind {
	for err != nil {
		if e, ok := err.(*Error); ok && e.Kind != Other {
			return e.Kind
		}
		err = stderrors.Unwrap(err)
	}
	return Other
}

// Is reports whether err is classified as kind.
func Is(kind Kind, err error) bool { return err != nil && KindOf(err) == kind }

// Message returns the innermost human message of err: the text a user
// should read, without the chain of operation names.
func Message(err error) string {
	for {
		e, ok := err.(*Error)
		if !ok || e.Err == nil {
			break
		}
		err = e.Err
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// As and New re-export the standard library so callers need one import.
var (
	As  = stderrors.As
	New = stderrors.New
)

// clipLen is how much of an untrusted value a message quotes.
const clipLen = 80

// Clip shortens untrusted input quoted in an error message, so a huge or
// hostile value cannot swell a message or a log line.
func Clip(s string) string {
	if len(s) > clipLen {
		return s[:clipLen] + "…"
	}
	return s
}
