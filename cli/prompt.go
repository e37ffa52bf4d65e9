package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"

	"github.com/selfhub/hub/errors"
)

// interactive reports whether hub may prompt: stdin is a terminal, or a
// reader the caller handed in on purpose (a test, an embedding program). A
// file or pipe that is not a terminal means a script, which gets an error
// naming the missing flag instead of a prompt it cannot answer.
func (a *app) interactive() bool {
	if a.stdin == nil {
		return false
	}
	f, ok := a.stdin.(*os.File)
	if !ok {
		return true
	}
	// A character device is not enough: /dev/null is one too.
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// readLine prints question to stderr and returns the trimmed line typed,
// which may be empty. It fails if stdin ends before a line.
func (a *app) readLine(question string) (string, error) {
	const op errors.Op = "cli.readLine"
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	fmt.Fprint(a.stderr, question)
	line, err := a.in.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil // a last line without a newline is still an answer
	}
	if err == io.EOF {
		fmt.Fprintln(a.stderr)
		return "", errors.E(op, errors.Invalid, "no answer given")
	}
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return strings.TrimSpace(line), nil
}

// askSecret asks question and returns the line typed, without echoing it
// when stdin is a terminal. An empty answer is asked again.
func (a *app) askSecret(question string) (string, error) {
	const op errors.Op = "cli.askSecret"
	f, ok := a.stdin.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) {
		return a.ask(question)
	}
	for {
		fmt.Fprint(a.stderr, question)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr) // the Enter typed was not echoed either
		if err != nil {
			return "", errors.E(op, errors.Internal, err)
		}
		if len(b) > 0 {
			return string(b), nil
		}
	}
}

// ask is readLine repeated until the answer is not empty.
func (a *app) ask(question string) (string, error) {
	for {
		s, err := a.readLine(question)
		if err != nil || s != "" {
			return s, err
		}
	}
}

// askFlag returns value if set, else asks question when hub may prompt,
// else fails naming the flag a script should pass.
func (a *app) askFlag(value, flag, question string) (string, error) {
	if value != "" {
		return value, nil
	}
	if !a.interactive() {
		return "", errors.Errorf(cliOp, errors.Invalid, "%s is required when stdin is not a terminal", flag)
	}
	return a.ask(question)
}

// confirm asks a yes/no question unless yes (--yes) is set. Anything but
// y or yes aborts; without a terminal it fails and names --yes.
func (a *app) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	if !a.interactive() {
		return errors.E(cliOp, errors.FailedPrecondition, "refusing without confirmation; pass --yes when stdin is not a terminal")
	}
	ans, err := a.readLine(question + " [y/N]: ")
	if err != nil {
		return errors.E(cliOp, errors.Canceled, "aborted")
	}
	switch strings.ToLower(ans) {
	case "y", "yes":
		return nil
	}
	return errors.E(cliOp, errors.Canceled, "aborted")
}
