package abuse

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/selfhub/hub/api/pb/threadspb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestStreamsPerConn: hubd tells every gRPC connection it takes at most
// --max-streams-per-conn calls at once (4 here). A raw HTTP/2 client that
// opens a fifth has it refused (RST_STREAM REFUSED_STREAM) while the four
// stay open; once it ends one, the connection serves a call again. A
// gRPC client on one connection queues its fifth call, which is served
// when one of the four ends. The attacker's other connections and another
// tenant are served throughout.
func TestStreamsPerConn(t *testing.T) {
	const perConn = 4
	h := startHub(t, "--max-streams-per-conn", "4")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	listen := "/" + threadspb.API_ServiceDesc.ServiceName + "/Listen"
	listDBs := "/" + threadspb.API_ServiceDesc.ServiceName + "/ListDBs"

	raw := dialH2(t, h.Addrs.API)
	deadline := time.Now().Add(time.Minute)
	// Calls waiting for their request, each holding a stream.
	for i := range perConn + 1 {
		raw.call(uint32(2*i+1), listen, attacker.User, nil)
	}
	refused := uint32(2*perConn + 1)
	for {
		f, err := raw.next(deadline)
		if err != nil {
			t.Fatalf("the connection ended: %v", err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			if rst.StreamID != refused || rst.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("hubd reset stream %d with %v; want stream %d refused", rst.StreamID, rst.ErrCode, refused)
			}
			break
		}
	}
	if raw.maxStreams != perConn {
		t.Fatalf("hubd announced %d concurrent streams; want %d", raw.maxStreams, perConn)
	}
	attacker.mustBeServed(t)
	other.mustBeServed(t)

	// The client ends its first call: the connection serves again.
	if err := raw.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	next := refused + 2
	raw.call(next, listDBs, attacker.User, []byte{})
	for served := false; !served; {
		f, err := raw.next(deadline)
		if err != nil {
			t.Fatalf("the connection ended: %v", err)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Fatalf("hubd reset stream %d (%v) after a stream ended", f.StreamID, f.ErrCode)
		case *http2.MetaHeadersFrame:
			if f.StreamID == next && f.StreamEnded() {
				if got := field(f, "grpc-status"); got != "0" {
					t.Fatalf("ListDBs on the freed stream ended with grpc-status %s (%s)", got, field(f, "grpc-message"))
				}
				served = true
			}
		}
	}

	// A gRPC client respects the cap: its fifth call waits for a stream.
	conn, err := grpc.NewClient(h.Addrs.API, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := threadsclient.New(conn)
	db := attacker.notesDB(t)
	var cancels []context.CancelFunc
	for range perConn {
		ctx, cancel := context.WithCancel(attacker.User)
		cancels = append(cancels, cancel)
		listening(t, tc, ctx, db, func() {
			if _, err := attacker.Threads.Create(attacker.User, db, "notes", []byte(`{"n":1}`)); err != nil {
				t.Fatal(err)
			}
		})
	}
	fifth := make(chan error, 1)
	go func() {
		_, err := tc.ListDBs(attacker.User)
		fifth <- err
	}()
	cancels[0]()
	select {
	case err := <-fifth:
		if err != nil {
			t.Fatalf("the fifth call: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the fifth call was not served a minute after a stream ended")
	}
	for _, cancel := range cancels {
		cancel()
	}
	other.mustBeServed(t)
	h.alive(t)
}

// TestStreamsPerAccount: the users of one app, each under
// --max-streams-per-principal (2 here), together reach
// --max-streams-per-account (6 here): the next stream of any of them is
// refused with ResourceExhausted naming the flag, while another user of
// the app still signs in (a sign-in is no stream of the app's; see
// TestSignInFlood) and is served unary calls; a user of another app
// (another account) is still served, streams included.
func TestStreamsPerAccount(t *testing.T) {
	h := startHub(t, "--max-streams-per-principal", "2", "--max-streams-per-account", "6")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	for i := range 3 {
		user, _ := attacker.newUser(t)
		db := notesDB(t, attacker.Threads, user)
		for range 2 {
			listening(t, attacker.Threads, user, db, func() {
				if _, err := attacker.Threads.Create(user, db, "notes", []byte(`{"n":1}`)); err != nil {
					t.Fatalf("user %d: Create: %v", i, err)
				}
			})
		}
	}
	user, _ := attacker.newUser(t)
	db := notesDB(t, attacker.Threads, user)
	err := attacker.Threads.Listen(user, db, nil, 0, func(threadsclient.ListenEvent) error { return nil })
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-streams-per-account") {
		t.Fatalf("a stream past the account's cap: %v; want ResourceExhausted naming --max-streams-per-account", err)
	}
	// Unary calls are not streams: the app's users are still served them.
	if _, err := attacker.Threads.ListDBs(user); err != nil {
		t.Fatalf("a unary call of the app's user: %v", err)
	}
	other.mustBeServed(t)
	h.alive(t)
}

// field returns the value of the header field name in f, or "".
func field(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
