package cli

import (
	stderrors "errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	"github.com/selfhub/hub/test/testhub"
)

// TestKeyCreateAsks checks hub key create as the original Hub's
// documentation shows it: asked for the type when run by a person, a
// table KEY SECRET TYPE and a success line; scripts are not asked.
func TestKeyCreateAsks(t *testing.T) {
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	alice.signup("alice")
	alice.ok("orgs", "create", "Acme Inc")

	// A reader handed in stands for a person: a wrong answer is asked
	// again, then "user" makes a user group key. "key" is "keys".
	out, errs, code := alice.run(strings.NewReader("group\nuser\n"), "key", "create")
	if code != 0 {
		t.Fatalf("key create: exit %d\nstderr: %s", code, errs)
	}
	if n := strings.Count(errs, "Select the key type (account or user): "); n != 2 {
		t.Errorf("asked %d times, want 2:\n%s", n, errs)
	}
	for _, want := range []string{"account  acts as you", "user     a user group key", `"group" is not a key type; answer account or user.` + "\n",
		"Success! Created a new user key and its secret; keep the secret out of public code.\n"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	keys := alice.keys()
	if len(keys) != 1 || keys[0].Type != hub.UserKey || !keys[0].Secure {
		t.Fatalf("keys after key create = %+v, want one secure user key", keys)
	}
	if want := []string{"KEY SECRET TYPE SECURE", keys[0].Key + " " + keys[0].Secret + " user true"}; !sameRows(out, want) {
		t.Errorf("key create printed:\n%s\nwant rows %q", out, want)
	}

	// HUB_ORG makes an org key; the answer's number works too.
	alice.env["HUB_ORG"] = "acme-inc"
	if _, errs, code := alice.run(strings.NewReader("1\n"), "key", "create"); code != 0 || !strings.Contains(errs, "Created a new account key") {
		t.Fatalf("HUB_ORG=acme-inc key create: exit %d\nstderr: %s", code, errs)
	}
	delete(alice.env, "HUB_ORG")
	if keys := alice.keysOf("acme-inc"); len(keys) != 1 || keys[0].Type != hub.AccountKey {
		t.Errorf("org keys = %+v, want one account key", keys)
	}

	// --type (or HUB_TYPE) is an answer: nothing is asked.
	alice.env["HUB_TYPE"] = "account"
	if _, errs, code := alice.run(strings.NewReader(""), "key", "create"); code != 0 || strings.Contains(errs, "Select") {
		t.Errorf("key create with HUB_TYPE: exit %d, stderr %q", code, errs)
	}
	delete(alice.env, "HUB_TYPE")
	// A person who gives no answer makes no key.
	if _, errs, code := alice.run(strings.NewReader(""), "key", "create"); code != 1 || !strings.HasSuffix(errs, "Error: no answer given\n") {
		t.Errorf("key create with no answer: exit %d, stderr %q", code, errs)
	}
	// A script (no terminal) gets today's default, an account key, and
	// only the table.
	out, errs, code = alice.run(nil, "key", "create")
	if row := strings.Fields(strings.Split(out, "\n")[1]); code != 0 || errs != "" || len(row) != 4 || row[2] != "account" {
		t.Errorf("key create without a terminal: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if n := len(alice.keys()); n != 3 {
		t.Errorf("alice has %d keys, want 3", n)
	}
}

// keys returns the developer's API keys, from the server.
func (d *dev) keys() []hub.APIKey { return d.keysOf("") }

// keysOf returns the API keys of the org with slug (the developer's when
// empty), from the server.
func (d *dev) keysOf(slug string) []hub.APIKey {
	d.t.Helper()
	ctx := d.ctx()
	if slug != "" {
		ctx = client.WithOrg(ctx, slug)
	}
	keys, err := d.hc.ListKeys(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	return keys
}

// TestE2EKeyCreateTerminal runs the built hub in a real pseudo-terminal,
// as a person would: hub key create asks for the type, reads the answer
// typed, and prints the table and the success line.
func TestE2EKeyCreateTerminal(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hub")
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	alice.signup("alice")

	cmd := exec.Command(bin, "key", "create")
	cmd.Env = []string{"HUB_HOME=" + alice.home, "HUB_API=" + h.Addrs.API}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatalf("starting hub in a pseudo-terminal: %v", err)
	}
	defer tty.Close()
	screen := &lockedBuffer{}
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(screen, tty)
		read <- err
	}()
	waitFor(t, screen, "Select the key type (account or user): ")
	if _, err := tty.Write([]byte("user\r")); err != nil { // Enter sends a carriage return
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hub key create in a terminal: %v\nscreen:\n%s", err, screen.String())
	}
	// Once hub has exited, reading the terminal ends (EIO on Linux).
	if err := <-read; err != nil && !stderrors.Is(err, syscall.EIO) && !stderrors.Is(err, os.ErrClosed) {
		t.Fatalf("reading the terminal: %v", err)
	}
	keys := alice.keys()
	if len(keys) != 1 || keys[0].Type != hub.UserKey {
		t.Fatalf("keys = %+v, want one user key", keys)
	}
	got := strings.ReplaceAll(screen.String(), "\r\n", "\n")
	for _, want := range []string{"Select the key type (account or user): user\n", // the echo of what was typed
		"KEY", "SECRET", "TYPE", keys[0].Key, keys[0].Secret,
		"Success! Created a new user key and its secret"} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal lacks %q:\n%s", want, got)
		}
	}
}

// waitFor waits until b holds want, or fails the test after a deadline
// generous for a loaded machine.
func waitFor(t *testing.T, b *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear within 30s; got:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
