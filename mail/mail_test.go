package mail

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// person is an identity using the app of account "bdev".
type person struct {
	priv crypto.PrivKey
	p    hub.Principal
}

func newPerson(t testing.TB, account hub.PubKey) person {
	t.Helper()
	priv, pub := identitytest.New(t)
	return person{priv: priv, p: hub.Principal{Kind: hub.UserPrincipal, Account: account, Identity: pub}}
}

func (x person) key() hub.PubKey { return x.p.Identity }

func (x person) sign(t testing.TB, b []byte) []byte {
	t.Helper()
	sig, err := x.priv.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// newService returns a Service over a fresh store.
func newService(t testing.TB, cfg Config) (*Service, *db.Manager) {
	t.Helper()
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := db.NewManager(db.Config{}, st, logstore.NewStore(st))
	return New(m, cfg), m
}

func setup(t testing.TB, s *Service, people ...person) {
	t.Helper()
	for _, x := range people {
		if _, err := s.SetupMailbox(context.Background(), x.p); err != nil {
			t.Fatal(err)
		}
	}
}

// send sends body (a stand-in for ciphertext: the service never opens it)
// from one person to another, signed properly.
func send(t testing.TB, s *Service, from, to person, body string) (Message, error) {
	t.Helper()
	tb, fb := []byte("to:"+body), []byte("from:"+body)
	return s.SendMessage(context.Background(), from.p, to.key(), tb, from.sign(t, tb), fb, from.sign(t, fb))
}

func mustSend(t testing.TB, s *Service, from, to person, body string) Message {
	t.Helper()
	m, err := send(t, s, from, to, body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inbox(t testing.TB, s *Service, x person, opts ListOptions) []Message {
	t.Helper()
	ms, err := s.ListInboxMessages(context.Background(), x.p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func sentbox(t testing.TB, s *Service, x person, opts ListOptions) []Message {
	t.Helper()
	ms, err := s.ListSentboxMessages(context.Background(), x.p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func bodies(ms []Message) string {
	var b []string
	for _, m := range ms {
		b = append(b, string(m.Body))
	}
	return strings.Join(b, ",")
}

func TestSetupMailboxIsIdempotent(t *testing.T) {
	s, m := newService(t, Config{})
	ctx := context.Background()
	alice := newPerson(t, "bdev")
	id1, err := s.SetupMailbox(ctx, alice.p)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.SetupMailbox(ctx, alice.p)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Fatalf("second setup made another DB: %s, then %s", id1, id2)
	}
	d, err := m.DB(ctx, alice.p, id1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Info().Name != DBName {
		t.Errorf("DB name %q, want %q", d.Info().Name, DBName)
	}
	for _, c := range []string{InboxCollection, SentboxCollection} {
		if _, err := d.CollectionInfo(ctx, c); err != nil {
			t.Errorf("collection %s: %v", c, err)
		}
	}
	// A fresh service (a restarted hub) finds the same mailbox.
	if id3, err := New(m, Config{}).SetupMailbox(ctx, alice.p); err != nil || id3 != id1 {
		t.Errorf("after restart: %s, %v; want %s", id3, err, id1)
	}
	// Concurrent setups of one identity make one DB.
	bob := newPerson(t, "bdev")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			id, err := s.SetupMailbox(ctx, bob.p)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id.String()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent setups gave different DBs: %v", ids)
		}
	}
}

func TestSetupMailboxCompletesAHubmailDBWithoutCollections(t *testing.T) {
	s, m := newService(t, Config{})
	ctx := context.Background()
	alice := newPerson(t, "bdev")
	id, err := s.SetupMailbox(ctx, alice.p)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := m.DB(ctx, alice.p, id)
	if err := d.DeleteCollection(ctx, alice.p, SentboxCollection); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetupMailbox(ctx, alice.p); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CollectionInfo(ctx, SentboxCollection); err != nil {
		t.Errorf("sentbox not restored: %v", err)
	}
}

func TestSendPutsOneMessageInBothBoxes(t *testing.T) {
	s, _ := newService(t, Config{})
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	sent := mustSend(t, s, alice, bob, "hello")

	in := inbox(t, s, bob, ListOptions{})
	out := sentbox(t, s, alice, ListOptions{})
	if len(in) != 1 || len(out) != 1 {
		t.Fatalf("inbox %d, sentbox %d messages; want 1 each", len(in), len(out))
	}
	if in[0].ID != sent.ID || out[0].ID != sent.ID {
		t.Errorf("IDs: sent %s, inbox %s, sentbox %s; want one ID", sent.ID, in[0].ID, out[0].ID)
	}
	if in[0].CreatedAt != sent.CreatedAt || out[0].CreatedAt != sent.CreatedAt || sent.CreatedAt == 0 {
		t.Errorf("created_at: sent %d, inbox %d, sentbox %d", sent.CreatedAt, in[0].CreatedAt, out[0].CreatedAt)
	}
	if string(in[0].Body) != "to:hello" || string(out[0].Body) != "from:hello" {
		t.Errorf("bodies: inbox %q, sentbox %q", in[0].Body, out[0].Body)
	}
	if in[0].From != alice.key() || in[0].To != bob.key() || out[0].From != alice.key() || out[0].To != bob.key() {
		t.Errorf("from/to wrong: inbox %+v, sentbox %+v", in[0], out[0])
	}
	pub := alice.priv.GetPublic()
	if ok, _ := pub.Verify(in[0].Body, in[0].Signature); !ok {
		t.Error("inbox copy's signature does not verify")
	}
	if in[0].ReadAt != 0 {
		t.Errorf("new message read_at = %d", in[0].ReadAt)
	}
	// Nothing in the other boxes.
	if n := len(inbox(t, s, alice, ListOptions{})) + len(sentbox(t, s, bob, ListOptions{})); n != 0 {
		t.Errorf("%d messages in alice's inbox and bob's sentbox", n)
	}
}

func TestListPagesInOrder(t *testing.T) {
	s, _ := newService(t, Config{})
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	var ids []string
	for i := range 7 {
		ids = append(ids, mustSend(t, s, alice, bob, fmt.Sprint(i)).ID)
	}
	if got := bodies(inbox(t, s, bob, ListOptions{})); got != "to:6,to:5,to:4,to:3,to:2,to:1,to:0" {
		t.Errorf("default order (newest first): %s", got)
	}
	if got := bodies(inbox(t, s, bob, ListOptions{Ascending: true, Limit: 3})); got != "to:0,to:1,to:2" {
		t.Errorf("ascending, limit 3: %s", got)
	}
	if got := bodies(inbox(t, s, bob, ListOptions{Ascending: true, Limit: 3, Seek: ids[2]})); got != "to:3,to:4,to:5" {
		t.Errorf("ascending after 2: %s", got)
	}
	if got := bodies(inbox(t, s, bob, ListOptions{Limit: 2, Seek: ids[2]})); got != "to:1,to:0" {
		t.Errorf("descending after 2: %s", got)
	}
	if got := bodies(sentbox(t, s, alice, ListOptions{Ascending: true, Seek: ids[5]})); got != "from:6" {
		t.Errorf("sentbox ascending after 5: %s", got)
	}
	// Paging through everything, two at a time, sees each once.
	var all []Message
	seek := ""
	for {
		page := inbox(t, s, bob, ListOptions{Ascending: true, Limit: 2, Seek: seek})
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		seek = page[len(page)-1].ID
	}
	if len(all) != 7 {
		t.Errorf("paging saw %d messages, want 7", len(all))
	}
}

func TestStatusFiltersAndRead(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newService(t, Config{Now: clock})
	ctx := context.Background()
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	m0 := mustSend(t, s, alice, bob, "0")
	mustSend(t, s, alice, bob, "1")
	m2 := mustSend(t, s, alice, bob, "2")

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	readAt, err := s.ReadInboxMessage(ctx, bob.p, m0.ID)
	if err != nil {
		t.Fatal(err)
	}
	if readAt != exact(now.UnixNano()) {
		t.Errorf("read_at %d, want %d", readAt, now.UnixNano())
	}
	if _, err := s.ReadInboxMessage(ctx, bob.p, m2.ID); err != nil {
		t.Fatal(err)
	}
	// Reading again keeps the first time.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if again, err := s.ReadInboxMessage(ctx, bob.p, m0.ID); err != nil || again != readAt {
		t.Errorf("second read: %d, %v; want the first time %d", again, err, readAt)
	}

	for _, c := range []struct {
		status Status
		want   string
	}{{All, "to:0,to:1,to:2"}, {Read, "to:0,to:2"}, {Unread, "to:1"}} {
		if got := bodies(inbox(t, s, bob, ListOptions{Ascending: true, Status: c.status})); got != c.want {
			t.Errorf("status %d: %s, want %s", c.status, got, c.want)
		}
	}
	// A seek message that the status filter leaves out still positions the page.
	if got := bodies(inbox(t, s, bob, ListOptions{Ascending: true, Status: Read, Seek: m0.ID})); got != "to:2" {
		t.Errorf("read after 0: %s", got)
	}
	if got := bodies(inbox(t, s, bob, ListOptions{Ascending: true, Status: Unread, Seek: m0.ID})); got != "to:1" {
		t.Errorf("unread after 0 (0 is read): %s", got)
	}
	in := inbox(t, s, bob, ListOptions{Ascending: true})
	if in[0].ReadAt != readAt || in[1].ReadAt != 0 {
		t.Errorf("stored read_at: %d, %d", in[0].ReadAt, in[1].ReadAt)
	}
	// The sender's copy is not marked read.
	if out := sentbox(t, s, alice, ListOptions{}); out[0].ReadAt != 0 || out[2].ReadAt != 0 {
		t.Errorf("sentbox read_at changed: %+v", out)
	}
}

func TestDelete(t *testing.T) {
	s, _ := newService(t, Config{})
	ctx := context.Background()
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	m := mustSend(t, s, alice, bob, "x")
	if err := s.DeleteInboxMessage(ctx, bob.p, m.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(inbox(t, s, bob, ListOptions{})); n != 0 {
		t.Errorf("inbox has %d messages after delete", n)
	}
	if n := len(sentbox(t, s, alice, ListOptions{})); n != 1 {
		t.Errorf("deleting the inbox copy changed the sentbox: %d messages", n)
	}
	if err := s.DeleteSentboxMessage(ctx, alice.p, m.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(sentbox(t, s, alice, ListOptions{})); n != 0 {
		t.Errorf("sentbox has %d messages after delete", n)
	}
	if err := s.DeleteInboxMessage(ctx, bob.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("deleting twice: %v, want NotExist", err)
	}
}

// state is everything in a set of mailboxes, to show a refused call changed
// nothing.
func state(t testing.TB, s *Service, people ...person) string {
	var b strings.Builder
	for _, x := range people {
		if _, err := s.mailbox(context.Background(), x.p); err != nil {
			fmt.Fprintf(&b, "%s: none\n", x.key())
			continue
		}
		for _, m := range inbox(t, s, x, ListOptions{Ascending: true}) {
			fmt.Fprintf(&b, "in %s %s %d\n", m.ID, m.Body, m.ReadAt)
		}
		for _, m := range sentbox(t, s, x, ListOptions{Ascending: true}) {
			fmt.Fprintf(&b, "out %s %s %d\n", m.ID, m.Body, m.ReadAt)
		}
	}
	return b.String()
}

func TestSendRefusals(t *testing.T) {
	s, _ := newService(t, Config{MaxMessageSize: 1000})
	ctx := context.Background()
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	noBox := newPerson(t, "bdev")
	otherApp := newPerson(t, "bother")
	setup(t, s, alice, bob, otherApp)
	mustSend(t, s, alice, bob, "before")
	mallory := newPerson(t, "bdev")

	body := []byte("ciphertext")
	sig := alice.sign(t, body)
	big := make([]byte, 1001)
	bigSig := alice.sign(t, big)
	cases := []struct {
		name     string
		p        hub.Principal
		to       hub.PubKey
		tb, ts   []byte
		fb, fs   []byte
		kind     errors.Kind
		contains string
	}{
		{"no identity", hub.Principal{}, bob.key(), body, sig, body, sig, errors.Unauthenticated, "identity"},
		{"to signature by someone else", alice.p, bob.key(), body, mallory.sign(t, body), body, sig, errors.Invalid, "to_signature does not verify"},
		{"from signature by someone else", alice.p, bob.key(), body, sig, body, mallory.sign(t, body), errors.Invalid, "from_signature does not verify"},
		{"signature over another body", alice.p, bob.key(), []byte("other"), sig, body, sig, errors.Invalid, "to_signature does not verify"},
		{"empty signature", alice.p, bob.key(), body, nil, body, sig, errors.Invalid, "to_signature does not verify"},
		{"empty body", alice.p, bob.key(), nil, sig, body, sig, errors.Invalid, "to_body is empty"},
		{"oversized to body", alice.p, bob.key(), big, bigSig, body, sig, errors.Exhausted, "to_body is 1001 bytes; this hub's limit is 1000"},
		{"oversized from body", alice.p, bob.key(), body, sig, big, bigSig, errors.Exhausted, "from_body is 1001 bytes"},
		{"recipient is not a key", alice.p, "bnotakey", body, sig, body, sig, errors.Invalid, "recipient"},
		{"recipient without a mailbox", alice.p, noBox.key(), body, sig, body, sig, errors.FailedPrecondition, "has no mailbox"},
		{"recipient in another app", alice.p, otherApp.key(), body, sig, body, sig, errors.FailedPrecondition, "has no mailbox"},
		{"sender without a mailbox", noBox.p, bob.key(), body, noBox.sign(t, body), body, noBox.sign(t, body), errors.FailedPrecondition, "call SetupMailbox"},
		{"to oneself", alice.p, alice.key(), body, sig, body, sig, errors.Invalid, "yourself"},
	}
	before := state(t, s, alice, bob, noBox, otherApp)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.SendMessage(ctx, c.p, c.to, c.tb, c.ts, c.fb, c.fs)
			if !errors.Is(c.kind, err) {
				t.Fatalf("got %v (%s), want %s", err, errors.KindOf(err), c.kind)
			}
			if !strings.Contains(errors.Message(err), c.contains) {
				t.Errorf("message %q does not say %q", errors.Message(err), c.contains)
			}
		})
	}
	if after := state(t, s, alice, bob, noBox, otherApp); after != before {
		t.Errorf("refused sends changed the mailboxes:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNobodyTouchesAnotherMailbox(t *testing.T) {
	s, _ := newService(t, Config{})
	ctx := context.Background()
	alice, bob, carol := newPerson(t, "bdev"), newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob, carol)
	m := mustSend(t, s, alice, bob, "for bob")
	before := state(t, s, alice, bob, carol)

	// Carol knows the message ID; her own boxes do not hold it.
	if _, err := s.ReadInboxMessage(ctx, carol.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("carol reads bob's message: %v, want NotExist", err)
	}
	if err := s.DeleteInboxMessage(ctx, carol.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("carol deletes bob's message: %v, want NotExist", err)
	}
	if err := s.DeleteSentboxMessage(ctx, carol.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("carol deletes alice's sent message: %v, want NotExist", err)
	}
	// The sender cannot reach the recipient's copy, nor the recipient the sender's.
	if err := s.DeleteInboxMessage(ctx, alice.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("alice deletes bob's inbox copy: %v, want NotExist", err)
	}
	if err := s.DeleteSentboxMessage(ctx, bob.p, m.ID); !errors.Is(errors.NotExist, err) {
		t.Errorf("bob deletes alice's sentbox copy: %v, want NotExist", err)
	}
	if _, err := s.ListInboxMessages(ctx, carol.p, ListOptions{Seek: m.ID}); !errors.Is(errors.Invalid, err) {
		t.Errorf("carol seeks to bob's message: %v, want Invalid", err)
	}
	if after := state(t, s, alice, bob, carol); after != before {
		t.Errorf("mailboxes changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestListRefusals(t *testing.T) {
	s, _ := newService(t, Config{})
	ctx := context.Background()
	alice, noBox := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice)
	cases := []struct {
		name string
		p    hub.Principal
		opts ListOptions
		kind errors.Kind
	}{
		{"limit over the maximum", alice.p, ListOptions{Limit: MaxLimit + 1}, errors.Invalid},
		{"negative limit", alice.p, ListOptions{Limit: -1}, errors.Invalid},
		{"unknown seek", alice.p, ListOptions{Seek: "nope"}, errors.Invalid},
		{"unknown status", alice.p, ListOptions{Status: 7}, errors.Invalid},
		{"no mailbox", noBox.p, ListOptions{}, errors.FailedPrecondition},
		{"no identity", hub.Principal{}, ListOptions{}, errors.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.ListInboxMessages(ctx, c.p, c.opts); !errors.Is(c.kind, err) {
				t.Errorf("got %v, want %s", err, c.kind)
			}
		})
	}
	if _, err := s.ListSentboxMessages(ctx, alice.p, ListOptions{Status: Unread}); !errors.Is(errors.Invalid, err) {
		t.Errorf("sentbox with a status: %v, want Invalid", err)
	}
	if _, err := s.ListInboxMessages(ctx, alice.p, ListOptions{Limit: MaxLimit}); err != nil {
		t.Errorf("limit of exactly the maximum: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newService(t, Config{Rate: 2, Burst: 3, Now: clock})
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	for i := range 3 {
		mustSend(t, s, alice, bob, fmt.Sprint(i))
	}
	_, err := send(t, s, alice, bob, "too many")
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(errors.Message(err), "retry after 500ms") {
		t.Fatalf("fourth message in a burst of 3: %v; want Exhausted, retry after 500ms", err)
	}
	// Another sender has its own allowance.
	mustSend(t, s, bob, alice, "bob's")
	mu.Lock()
	now = now.Add(500 * time.Millisecond)
	mu.Unlock()
	mustSend(t, s, alice, bob, "after waiting")
	if n := len(inbox(t, s, bob, ListOptions{})); n != 4 {
		t.Errorf("bob's inbox has %d messages, want 4", n)
	}
}

func TestCrossingSendsDoNotDeadlock(t *testing.T) {
	s, _ := newService(t, Config{})
	alice, bob := newPerson(t, "bdev"), newPerson(t, "bdev")
	setup(t, s, alice, bob)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { mustSend(t, s, alice, bob, fmt.Sprint(i)) })
		wg.Go(func() { mustSend(t, s, bob, alice, fmt.Sprint(i)) })
	}
	wg.Wait()
	for _, x := range []person{alice, bob} {
		in, out := inbox(t, s, x, ListOptions{}), sentbox(t, s, x, ListOptions{})
		if len(in) != n || len(out) != n {
			t.Errorf("inbox %d, sentbox %d; want %d each", len(in), len(out), n)
		}
		for i := 1; i < len(in); i++ {
			if in[i].CreatedAt >= in[i-1].CreatedAt {
				t.Fatalf("created_at not strictly decreasing at %d: %d then %d", i, in[i-1].CreatedAt, in[i].CreatedAt)
			}
		}
	}
}

func TestStampIsExactAndIncreasing(t *testing.T) {
	fixed := time.Unix(1_700_000_000, 123_456_789)
	s := New(nil, Config{Now: func() time.Time { return fixed }})
	prev := int64(0)
	for range 1000 {
		v := s.stamp()
		if v <= prev {
			t.Fatalf("stamp %d after %d", v, prev)
		}
		if int64(float64(v)) != v {
			t.Fatalf("stamp %d is not float64-exact", v)
		}
		prev = v
	}
}
