// Command hub is the Hub command-line tool for developers; see package cli.
package main

import (
	"os"

	"github.com/selfhub/hub/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
