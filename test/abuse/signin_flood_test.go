package abuse

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
)

// TestSignInFlood: anyone holding app A's public user group key starts
// sign-ins (GetToken) for A and never answers their challenges, from
// 127.0.0.2 over gRPC and from 127.0.0.3 over gRPC-Web websockets. They
// hold more than A's developer may open streams (--max-streams-per-principal
// 2) and more than A's account may (--max-streams-per-account 4), because
// a sign-in counts against no app's streams; past its address's share
// (--max-signins-per-ip 6) each gets ResourceExhausted naming the flag.
// Meanwhile a real user of A signs in and is served, A's developer and
// that user open every stream their caps allow, and another app is
// served. Past the hub's cap (--max-signins 13) a third address gets
// ResourceExhausted naming it. Once the attacker ends its calls, they
// cost nothing: every slot is free again.
func TestSignInFlood(t *testing.T) {
	const perIP = 6
	h := startHub(t, "--max-streams-per-principal", "2", "--max-streams-per-account", "4",
		"--max-signins-per-ip", "6", "--max-signins", "13")
	appA, other := newTenant(t, h, "alice"), newTenant(t, h, "bob")
	appKey := testhub.WithKey(t, appA.AppKey)
	attacker, cancelAttack := context.WithCancel(appKey)
	defer cancelAttack()

	// Over gRPC: a share of unanswered challenges, then a refusal.
	fromTwo := threadspb.NewAPIClient(dialFrom(t, net.IPv4(127, 0, 0, 2), h.Addrs.API))
	for i := range perIP {
		if err := signingIn(t, fromTwo, attacker); err != nil {
			t.Fatalf("unanswered sign-in %d from 127.0.0.2: %v; want it held (sign-ins count against no app's streams)", i, err)
		}
	}
	if err := signingIn(t, fromTwo, attacker); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-signins-per-ip") {
		t.Fatalf("a sign-in past 127.0.0.2's share: %v; want ResourceExhausted naming --max-signins-per-ip", err)
	}

	// Over websockets, as the JavaScript clients sign in.
	var sockets []net.Conn
	defer func() {
		for _, c := range sockets {
			c.Close()
		}
	}()
	fromThree := func() string {
		c := dialWebsocketFrom(t, net.IPv4(127, 0, 0, 3), h.Addrs.Web, threadspb.API_GetToken_FullMethodName)
		if c == nil {
			t.FailNow()
		}
		sockets = append(sockets, c)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		for _, m := range [][]byte{webHeaders(appKey), webMessage(t, keyRequest(t))} {
			if err := writeFrame(c, m); err != nil {
				t.Fatal(err)
			}
		}
		return webAnswer(t, c)
	}
	for i := range perIP {
		if got := fromThree(); got != "" {
			t.Fatalf("unanswered websocket sign-in %d from 127.0.0.3 ended: %q; want it held", i, got)
		}
	}
	if got := fromThree(); !strings.Contains(got, "grpc-status: 8") || !strings.Contains(got, "--max-signins-per-ip") {
		t.Fatalf("a websocket sign-in past 127.0.0.3's share was answered %q; want ResourceExhausted (8) naming --max-signins-per-ip", got)
	}

	// A real user of app A signs in and is served, streams included.
	appA.User, _ = appA.newUser(t)
	appA.mustBeServed(t)
	// App A's developer, then that user, open every stream their caps
	// allow, which fills the account's: the sign-ins took none of them.
	devDB, userDB := notesDB(t, appA.Threads, appA.Dev), notesDB(t, appA.Threads, appA.User)
	streams, endStreams := context.WithCancel(context.Background())
	var ended []<-chan error
	for _, c := range []struct {
		who context.Context
		db  threadsclient.ID
	}{{appA.Dev, devDB}, {appA.Dev, devDB}, {appA.User, userDB}, {appA.User, userDB}} {
		ctx, stop := context.WithCancel(c.who)
		context.AfterFunc(streams, stop)
		ended = append(ended, listening(t, appA.Threads, ctx, c.db, func() {
			if _, err := appA.Threads.Create(c.who, c.db, "notes", []byte(`{"n":1}`)); err != nil {
				t.Fatalf("Create: %v", err)
			}
		}))
	}
	endStreams()
	for _, e := range ended {
		<-e
	}
	other.mustBeServed(t)

	// The hub's cap: a third address gets what is left, then a refusal.
	fromFour := threadspb.NewAPIClient(dialFrom(t, net.IPv4(127, 0, 0, 4), h.Addrs.API))
	if err := signingIn(t, fromFour, attacker); err != nil {
		t.Fatalf("the last sign-in the hub allows: %v", err)
	}
	if err := signingIn(t, fromFour, attacker); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-signins") {
		t.Fatalf("a sign-in past the hub's cap: %v; want ResourceExhausted naming --max-signins", err)
	}

	// The attacker gives up: its unanswered sign-ins leave nothing held.
	cancelAttack()
	for _, c := range sockets {
		c.Close()
	}
	fromThreeGRPC := threadspb.NewAPIClient(dialFrom(t, net.IPv4(127, 0, 0, 3), h.Addrs.API))
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithCancel(appKey)
		var err error
		for _, from := range []threadspb.APIClient{fromTwo, fromTwo, fromTwo, fromTwo, fromTwo, fromTwo,
			fromThreeGRPC, fromThreeGRPC, fromThreeGRPC, fromThreeGRPC, fromThreeGRPC, fromThreeGRPC, fromFour} {
			if err = signingIn(t, from, ctx); err != nil {
				break
			}
		}
		cancel()
		if err == nil {
			break // every one of the hub's 13 is free
		}
		if !errors.Is(errors.Exhausted, err) || time.Now().After(deadline) {
			t.Fatalf("after the attacker ended its sign-ins, a sign-in from 127.0.0.2: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	appA.mustBeServed(t)
	h.alive(t)
}

// TestSignInTimeout: a sign-in that sends nothing, and one that names its
// identity and never answers the challenge, each end with
// DeadlineExceeded naming --signin-timeout; the first costs nothing once
// it ended, as the second, from the same address with a share of one,
// is let in. The developer is served and hubd is up.
func TestSignInTimeout(t *testing.T) {
	h := startHub(t, "--signin-timeout", "1s", "--max-signins-per-ip", "1")
	conn := testhub.Dial(t, h.Addrs.API)
	hc := hubclient.New(conn)
	sess, err := hc.Signup(context.Background(), "alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	dev := client.WithSession(context.Background(), sess.ID)
	key, err := hc.CreateKey(dev, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	api := threadspb.NewAPIClient(conn)
	for _, sendKey := range []bool{false, true} {
		stream, err := api.GetToken(testhub.WithKey(t, key))
		if err != nil {
			t.Fatal(err)
		}
		if sendKey {
			if err := stream.Send(keyRequest(t)); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		for err == nil {
			_, err = stream.Recv() // the challenge, if it comes in time, then the end
		}
		err = rpcerr.FromStatus("", err)
		if !errors.Is(errors.DeadlineExceeded, err) || !strings.Contains(err.Error(), "--signin-timeout") {
			t.Fatalf("an unfinished sign-in (identity sent: %v) ended with %v; want DeadlineExceeded naming --signin-timeout", sendKey, err)
		}
	}
	if _, err := threadsclient.New(conn).NewDB(dev, "", threadsclient.DBOptions{}); err != nil {
		t.Fatalf("the developer is not served: %v", err)
	}
	h.alive(t)
}

// signingIn starts a sign-in to the app whose key ctx carries, for a fresh
// identity, and waits for its challenge, which it never answers: the call
// stays open until ctx ends. It returns why hubd refused it, if it did.
func signingIn(t *testing.T, api threadspb.APIClient, ctx context.Context) error {
	t.Helper()
	stream, err := api.GetToken(ctx)
	if err != nil {
		return rpcerr.FromStatus("", err)
	}
	if err := stream.Send(keyRequest(t)); err != nil && err != io.EOF {
		return rpcerr.FromStatus("", err)
	}
	reply, err := stream.Recv()
	if err != nil {
		return rpcerr.FromStatus("", err)
	}
	if reply.GetChallenge() == nil {
		t.Fatalf("hubd answered a sign-in's identity with %v; want a challenge", reply)
	}
	return nil
}

// keyRequest is the first message of a sign-in: a fresh identity's
// public key.
func keyRequest(t testing.TB) *threadspb.GetTokenRequest {
	_, pub := identitytest.New(t)
	return &threadspb.GetTokenRequest{Payload: &threadspb.GetTokenRequest_Key{Key: string(pub)}}
}

// dialFrom connects to a gRPC address from the loopback address src, so
// that hubd sees the calls come from another machine.
func dialFrom(t *testing.T, src net.IP, addr string) *grpc.ClientConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
	conn, err := client.Dial(context.Background(), addr, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", a)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// webAnswer reads hubd's websocket frames for a call until it sends a
// message or ends the call. It returns "" for a message, and the frame
// with the call's status otherwise.
func webAnswer(t *testing.T, c net.Conn) string {
	t.Helper()
	br := bufio.NewReader(c)
	for {
		payload, err := readFrame(br)
		if err != nil {
			t.Fatalf("hubd sent no message and no status: %v", err)
		}
		switch {
		case strings.Contains(string(payload), "grpc-status"):
			return string(payload)
		case len(payload) >= 5 && payload[0] == 0: // a gRPC data message
			return ""
		}
	}
}
