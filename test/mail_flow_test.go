package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/api/pb/usersdpb"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// mailUser is an app user: an identity with a token from a developer's
// user group key.
type mailUser struct {
	priv crypto.PrivKey
	pub  hub.PubKey
	ctx  context.Context
}

// mailWorld starts a hub with a developer, a secure user group key and
// users of it.
func mailWorld(t *testing.T, edit func(*daemon.Config), n int) (*testhub.Hub, *usersclient.Client, []mailUser) {
	t.Helper()
	h := testhub.Start(t, edit)
	hc := hubclient.New(h.Conn)
	dev, _ := signup(t, hc, "maildev")
	key, err := hc.CreateKey(dev, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	tc := threadsclient.New(h.Conn)
	users := make([]mailUser, n)
	for i := range users {
		ctx, priv := testhub.NewUser(t, tc, key)
		pub, _ := identity.String(priv.GetPublic())
		users[i] = mailUser{priv: priv, pub: pub, ctx: ctx}
	}
	return h, usersclient.New(h.Conn), users
}

func TestMailFlow(t *testing.T) {
	_, uc, us := mailWorld(t, nil, 2)
	alice, bob := us[0], us[1]
	boxA, err := uc.SetupMailbox(alice.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := uc.SetupMailbox(alice.ctx); err != nil || again != boxA {
		t.Fatalf("second SetupMailbox: %s, %v; want %s", again, err, boxA)
	}
	if _, err := uc.SetupMailbox(bob.ctx); err != nil {
		t.Fatal(err)
	}
	th, err := uc.GetThread(alice.ctx, "hubmail")
	if err != nil || th.ID != boxA || !th.IsDB {
		t.Fatalf("GetThread hubmail: %+v, %v; want %s", th, err, boxA)
	}
	list, err := uc.ListThreads(alice.ctx)
	if err != nil || len(list) != 1 || list[0].ID != boxA {
		t.Fatalf("ListThreads: %+v, %v", list, err)
	}

	var sent []usersclient.Message
	for i := range 3 {
		m, err := usersclient.Send(alice.ctx, uc, alice.priv, bob.priv.GetPublic(), fmt.Appendf(nil, "message %d", i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	in, err := uc.ListInboxMessages(bob.ctx, usersclient.ListOptions{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 {
		t.Fatalf("bob's inbox has %d messages, want 3", len(in))
	}
	for i, m := range in {
		plain, err := usersclient.Open(bob.priv, m)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("message %d", i); string(plain) != want || m.ID != sent[i].ID || m.CreatedAt != sent[i].CreatedAt {
			t.Errorf("inbox %d: %q %s %d; want %q %s %d", i, plain, m.ID, m.CreatedAt, want, sent[i].ID, sent[i].CreatedAt)
		}
	}
	out, err := uc.ListSentboxMessages(alice.ctx, usersclient.ListOptions{})
	if err != nil || len(out) != 3 {
		t.Fatalf("alice's sentbox: %d, %v", len(out), err)
	}
	if plain, err := usersclient.Open(alice.priv, out[0]); err != nil || string(plain) != "message 2" {
		t.Errorf("newest sentbox copy: %q, %v", plain, err)
	}
	page, err := uc.ListInboxMessages(bob.ctx, usersclient.ListOptions{Ascending: true, Seek: sent[0].ID, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != sent[1].ID {
		t.Errorf("seek after the first, limit 1: %+v, %v", page, err)
	}

	readAt, err := uc.ReadInboxMessage(bob.ctx, sent[1].ID)
	if err != nil || readAt == 0 {
		t.Fatalf("ReadInboxMessage: %d, %v", readAt, err)
	}
	ids := func(ms []usersclient.Message) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		status usersclient.Status
		want   []usersclient.Message
	}{
		{usersclient.All, sent},
		{usersclient.Read, sent[1:2]},
		{usersclient.Unread, []usersclient.Message{sent[0], sent[2]}},
	} {
		got, err := uc.ListInboxMessages(bob.ctx, usersclient.ListOptions{Ascending: true, Status: c.status})
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != ids(c.want) {
			t.Errorf("status %d: %s, want %s", c.status, ids(got), ids(c.want))
		}
	}

	if err := uc.DeleteInboxMessage(bob.ctx, sent[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := uc.DeleteSentboxMessage(alice.ctx, sent[0].ID); err != nil {
		t.Fatal(err)
	}
	in, _ = uc.ListInboxMessages(bob.ctx, usersclient.ListOptions{Ascending: true})
	out, _ = uc.ListSentboxMessages(alice.ctx, usersclient.ListOptions{Ascending: true})
	if ids(in) != ids(sent[1:]) || ids(out) != ids(sent[1:]) {
		t.Errorf("after deletes: inbox %s, sentbox %s; want %s", ids(in), ids(out), ids(sent[1:]))
	}
}

// mailState is everything in the users' boxes.
func mailState(t *testing.T, uc *usersclient.Client, us ...mailUser) string {
	t.Helper()
	var b strings.Builder
	for _, u := range us {
		in, err := uc.ListInboxMessages(u.ctx, usersclient.ListOptions{Ascending: true})
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", u.pub, errors.KindOf(err))
			continue
		}
		out, _ := uc.ListSentboxMessages(u.ctx, usersclient.ListOptions{Ascending: true})
		for _, m := range in {
			fmt.Fprintf(&b, "in %s %x %d\n", m.ID, m.Body, m.ReadAt)
		}
		for _, m := range out {
			fmt.Fprintf(&b, "out %s %x %d\n", m.ID, m.Body, m.ReadAt)
		}
	}
	return b.String()
}

func TestMailRefusals(t *testing.T) {
	h, uc, us := mailWorld(t, func(c *daemon.Config) { c.MailMaxMessageSize = 4096 }, 4)
	alice, bob, carol, noBox := us[0], us[1], us[2], us[3]
	for _, u := range []mailUser{alice, bob, carol} {
		if _, err := uc.SetupMailbox(u.ctx); err != nil {
			t.Fatal(err)
		}
	}
	m, err := usersclient.Send(alice.ctx, uc, alice.priv, bob.priv.GetPublic(), []byte("hi bob"))
	if err != nil {
		t.Fatal(err)
	}
	before := mailState(t, uc, alice, bob, carol)

	body, _ := usersclient.Encrypt(bob.priv.GetPublic(), []byte("x"))
	sig, _ := alice.priv.Sign(body)
	carolSig, _ := carol.priv.Sign(body)
	big, _ := usersclient.Encrypt(bob.priv.GetPublic(), make([]byte, 4096))
	bigSig, _ := alice.priv.Sign(big)
	raw := usersdpb.NewAPIServiceClient(h.Conn)
	cases := []struct {
		name string
		ctx  context.Context
		req  *usersdpb.SendMessageRequest
		code codes.Code
		hint string
	}{
		{"to signature by another identity", alice.ctx, &usersdpb.SendMessageRequest{To: string(bob.pub), ToBody: body, ToSignature: carolSig, FromBody: body, FromSignature: sig}, codes.InvalidArgument, "to_signature does not verify"},
		{"from signature missing", alice.ctx, &usersdpb.SendMessageRequest{To: string(bob.pub), ToBody: body, ToSignature: sig, FromBody: body}, codes.InvalidArgument, "from_signature does not verify"},
		{"recipient without a mailbox", alice.ctx, &usersdpb.SendMessageRequest{To: string(noBox.pub), ToBody: body, ToSignature: sig, FromBody: body, FromSignature: sig}, codes.FailedPrecondition, "has no mailbox"},
		{"recipient not a key", alice.ctx, &usersdpb.SendMessageRequest{To: "nonsense", ToBody: body, ToSignature: sig, FromBody: body, FromSignature: sig}, codes.InvalidArgument, "recipient"},
		{"oversized body", alice.ctx, &usersdpb.SendMessageRequest{To: string(bob.pub), ToBody: big, ToSignature: bigSig, FromBody: body, FromSignature: sig}, codes.ResourceExhausted, "limit is 4096"},
		{"no token", testhub.WithKey(t, hub.APIKey{}), &usersdpb.SendMessageRequest{To: string(bob.pub)}, codes.Unauthenticated, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := raw.SendMessage(c.ctx, c.req)
			if status.Code(err) != c.code || !strings.Contains(status.Convert(err).Message(), c.hint) {
				t.Errorf("got %v, want %s saying %q", err, c.code, c.hint)
			}
		})
	}
	// Someone else's message ID.
	for name, call := range map[string]func() error{
		"carol reads bob's message": func() error { _, err := uc.ReadInboxMessage(carol.ctx, m.ID); return err },
		"carol deletes it":          func() error { return uc.DeleteInboxMessage(carol.ctx, m.ID) },
		"alice deletes bob's copy":  func() error { return uc.DeleteInboxMessage(alice.ctx, m.ID) },
		"bob deletes alice's copy":  func() error { return uc.DeleteSentboxMessage(bob.ctx, m.ID) },
	} {
		if err := call(); !errors.Is(errors.NotExist, err) {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	for name, opts := range map[string]usersclient.ListOptions{
		"bad seek":     {Seek: "no-such-message"},
		"others' seek": {Seek: m.ID},
		"huge limit":   {Limit: 10001},
	} {
		if _, err := uc.ListInboxMessages(carol.ctx, opts); !errors.Is(errors.Invalid, err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := uc.ListInboxMessages(noBox.ctx, usersclient.ListOptions{}); !errors.Is(errors.FailedPrecondition, err) {
		t.Errorf("listing without a mailbox: %v, want FailedPrecondition", err)
	}
	for _, call := range []func() error{
		func() error { _, err := raw.ArchivesLs(alice.ctx, &usersdpb.ArchivesLsRequest{}); return err },
	} {
		if err := call(); status.Code(err) != codes.Unimplemented || status.Convert(err).Message() == "" {
			t.Errorf("got %v, want Unimplemented with a reason", err)
		}
	}
	if after := mailState(t, uc, alice, bob, carol); after != before {
		t.Errorf("refused calls changed the mailboxes:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestMailRateLimitOverTheWire(t *testing.T) {
	_, uc, us := mailWorld(t, func(c *daemon.Config) { c.MailRate, c.MailBurst = 1, 2 }, 2)
	for _, u := range us {
		if _, err := uc.SetupMailbox(u.ctx); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	for range 3 {
		if _, err = usersclient.Send(us[0].ctx, uc, us[0].priv, us[1].priv.GetPublic(), []byte("x")); err != nil {
			break
		}
	}
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(errors.Message(err), "retry after") {
		t.Fatalf("third message with a burst of 2: %v; want ResourceExhausted with a retry hint", err)
	}
}

// A burst of messages while a Listen on the inbox runs: the listener sees
// every one, in order.
func TestMailBurstWhileWatching(t *testing.T) {
	const n = 1000
	h, uc, us := mailWorld(t, func(c *daemon.Config) { c.MailBurst = 10 * n }, 2)
	alice, bob := us[0], us[1]
	if _, err := uc.SetupMailbox(alice.ctx); err != nil {
		t.Fatal(err)
	}
	box, err := uc.SetupMailbox(bob.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bob.ctx, 2*time.Minute)
	defer cancel()
	stream, err := threadspb.NewAPIClient(h.Conn).Listen(ctx, &threadspb.ListenRequest{
		DbID:    box.Bytes(),
		Filters: []*threadspb.ListenRequest_Filter{{CollectionName: "inbox"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) string {
		m, err := usersclient.Send(alice.ctx, uc, alice.priv, bob.priv.GetPublic(), []byte(body))
		if err != nil {
			t.Error(err)
			return ""
		}
		return m.ID
	}
	events := make(chan *threadspb.ListenReply, 2*n)
	recvErr := make(chan error, 1)
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			events <- ev
		}
	}()
	// The call returns before the server has taken its listen position, so
	// send markers until one arrives: from then on nothing can be missed.
	markers := map[string]bool{}
	for placed := false; !placed; {
		markers[send("marker")] = true
		select {
		case ev := <-events:
			if !markers[ev.InstanceID] {
				t.Fatalf("unexpected event %v", ev)
			}
			placed = true
		case err := <-recvErr:
			t.Fatal(err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	var (
		mu   sync.Mutex
		sent = map[string]bool{}
		wg   sync.WaitGroup
	)
	for w := range 10 {
		wg.Go(func() {
			for i := range n / 10 {
				if id := send(fmt.Sprintf("%d-%d", w, i)); id != "" {
					mu.Lock()
					sent[id] = true
					mu.Unlock()
				}
			}
		})
	}
	seen := map[string]bool{}
	for len(seen) < n {
		var ev *threadspb.ListenReply
		select {
		case ev = <-events:
		case err := <-recvErr:
			t.Fatalf("after %d events: %v", len(seen), err)
		}
		if markers[ev.InstanceID] {
			continue // a marker sent while placing the listener
		}
		if ev.Action != threadspb.ListenReply_CREATE || ev.CollectionName != "inbox" {
			t.Fatalf("unexpected event %v", ev)
		}
		var inst struct {
			ID   string `json:"_id"`
			From string `json:"from"`
			Body []byte `json:"body"`
		}
		if err := json.Unmarshal(ev.Instance, &inst); err != nil || inst.ID != ev.InstanceID || inst.From != string(alice.pub) {
			t.Fatalf("event instance %s: %v", ev.Instance, err)
		}
		if seen[ev.InstanceID] {
			t.Fatalf("event for %s twice", ev.InstanceID)
		}
		seen[ev.InstanceID] = true
	}
	wg.Wait()
	for id := range sent {
		if !seen[id] {
			t.Errorf("message %s was sent but never seen", id)
		}
	}
	if len(sent) != n {
		t.Errorf("%d of %d sends succeeded", len(sent), n)
	}
	in, err := uc.ListInboxMessages(bob.ctx, usersclient.ListOptions{Limit: 10000})
	if err != nil || len(in) != n+len(markers) {
		t.Errorf("inbox holds %d messages, %v; want %d", len(in), err, n+len(markers))
	}
}
