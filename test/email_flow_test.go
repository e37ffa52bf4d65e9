package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
)

// confirmed runs a Signup or Signin that waits for its e-mailed link, reads
// the mail from mailpit, follows the link and returns the call's result.
func confirmed(t *testing.T, mp *testhub.Mailpit, to string, call func() (hubclient.Session, error)) hubclient.Session {
	t.Helper()
	type result struct {
		s   hubclient.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := call()
		done <- result{s, err}
	}()
	msg := mp.Next(to)
	if code, body := testhub.Follow(t, testhub.Link(t, msg.Text)); code != 200 {
		t.Fatalf("confirmation link answered %d: %s", code, body)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("call after confirmation: %v", r.err)
		}
		return r.s
	case <-time.After(2 * time.Minute):
		t.Fatal("the call did not return after its link was followed")
	}
	return hubclient.Session{}
}

// TestEmailFlow signs up, signs in and invites through a real SMTP server:
// every step is released by following the link in the e-mail.
func TestEmailFlow(t *testing.T) {
	mp := testhub.StartMailpit(t)
	h := testhub.Start(t, func(c *daemon.Config) {
		c.Dev = false
		c.SMTPAddr = mp.SMTPAddr
		c.SMTPFrom = "hub@hub.test"
	})
	hc := hubclient.New(h.Conn)
	bg := context.Background()

	alice := confirmed(t, mp, "alice@example.com", func() (hubclient.Session, error) {
		return hc.Signup(bg, "alice", "alice@example.com")
	})
	again := confirmed(t, mp, "alice@example.com", func() (hubclient.Session, error) {
		return hc.Signin(bg, "alice")
	})
	if again.Key != alice.Key || again.ID == alice.ID {
		t.Fatalf("sign-in gave %+v after sign-up %+v", again, alice)
	}
	actx := client.WithSession(bg, alice.ID)
	org, err := hc.CreateOrg(actx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	octx := client.WithOrg(actx, org.Slug)

	// An invitation to an e-mail with no account applies at sign-up.
	if err := hc.InviteToOrg(octx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	inv := mp.Next("bob@example.com")
	if !strings.Contains(inv.Subject, "Acme") {
		t.Fatalf("invitation subject %q does not name the org", inv.Subject)
	}
	if code, body := testhub.Follow(t, testhub.Link(t, inv.Text)); code != 200 || !strings.Contains(body, "Sign up") {
		t.Fatalf("consent link for a new e-mail: %d %s", code, body)
	}
	bob := confirmed(t, mp, "bob@example.com", func() (hubclient.Session, error) {
		return hc.Signup(bg, "bob", "bob@example.com")
	})
	assertMember(t, hc, client.WithSession(bg, bob.ID), org.Slug)

	// An invitation to an existing account joins it when followed.
	carol := confirmed(t, mp, "carol@example.com", func() (hubclient.Session, error) {
		return hc.Signup(bg, "carol", "carol@example.com")
	})
	if err := hc.InviteToOrg(octx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	link := testhub.Link(t, mp.Next("carol@example.com").Text)
	if code, body := testhub.Follow(t, link); code != 200 || !strings.Contains(body, "member of Acme") {
		t.Fatalf("consent link for an account: %d %s", code, body)
	}
	assertMember(t, hc, client.WithSession(bg, carol.ID), org.Slug)
	if code, _ := testhub.Follow(t, link); code != 404 {
		t.Fatalf("a used invitation answered %d; want 404", code)
	}
	if code, _ := testhub.Follow(t, "http://"+h.Addrs.Gateway+"/confirm/bogus"); code != 404 {
		t.Fatalf("an unknown confirmation link answered %d; want 404", code)
	}
}

func assertMember(t *testing.T, hc *hubclient.Client, ctx context.Context, slug string) {
	t.Helper()
	orgs, err := hc.ListOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 1 || orgs[0].Slug != slug {
		t.Fatalf("orgs = %+v; want just %s", orgs, slug)
	}
	got, err := hc.GetOrg(client.WithOrg(ctx, slug))
	if err != nil {
		t.Fatalf("member cannot act as %s: %v", slug, err)
	}
	if len(got.Members) < 2 {
		t.Fatalf("members of %s: %+v", slug, got.Members)
	}
}

// TestUnconfirmedSignupTimesOut checks that a sign-up whose link is never
// followed fails with DeadlineExceeded and creates nothing.
func TestUnconfirmedSignupTimesOut(t *testing.T) {
	mp := testhub.StartMailpit(t)
	h := testhub.Start(t, func(c *daemon.Config) {
		c.Dev = false
		c.SMTPAddr = mp.SMTPAddr
		c.ConfirmTimeout = 300 * time.Millisecond
	})
	hc := hubclient.New(h.Conn)
	_, err := hc.Signup(context.Background(), "dave", "dave@example.com")
	errorstest.WantKind(t, err, errors.DeadlineExceeded, "not followed")
	mp.Next("dave@example.com") // the mail was sent
	if err := hc.IsUsernameAvailable(context.Background(), "dave"); err != nil {
		t.Fatalf("a timed-out sign-up took the name: %v", err)
	}
}

// TestLinkInLogWithoutSMTP runs hubd as a process with neither --dev nor
// SMTP: the confirmation link is written to its log, and following it
// completes the sign-up.
func TestLinkInLogWithoutSMTP(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	p := testhub.StartProcess(t, bin, nil, "--repo", t.TempDir(), "--api-addr", "127.0.0.1:0",
		"--web-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0")
	conn, err := client.Dial(context.Background(), p.Addrs.API)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := hubclient.New(conn)
	done := make(chan error, 1)
	go func() { _, err := hc.Signup(context.Background(), "erin", "erin@example.com"); done <- err }()
	timeout := time.After(2 * time.Minute)
	for found := false; !found; {
		select {
		case rec := <-p.Logs:
			if rec["to"] != "erin@example.com" {
				continue
			}
			body, _ := rec["body"].(string)
			if code, page := testhub.Follow(t, testhub.Link(t, body)); code != 200 {
				t.Fatalf("logged link answered %d: %s", code, page)
			}
			found = true
		case <-timeout:
			t.Fatal("hubd logged no confirmation e-mail within 2 minutes")
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sign-up after following the logged link: %v", err)
	}
}
