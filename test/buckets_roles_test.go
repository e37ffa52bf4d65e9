package test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/buckets/bucketstest"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
)

// TestBucketsPushPaths pushes several files in one stream: all land in one
// change of the root, a stale root is refused with nothing stored, and a
// file cut off by the end of the stream is refused.
func TestBucketsPushPaths(t *testing.T) {
	w := newBucketsWorld(t, "pushpaths")
	ctx, bc := w.ctx, w.bc
	made, err := bc.Create(ctx, "many", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, stale := made.Root.Key, made.Root.Path
	big := randomData(3<<20 + 17)
	files := []bucketsclient.File{
		{Path: "a.txt", Data: strings.NewReader("alpha")},
		{Path: "dir/b.bin", Data: bytes.NewReader(big)},
		{Path: "dir/empty", Data: strings.NewReader("")},
	}
	got, root, err := bc.PushFiles(ctx, key, stale, files)
	if err != nil {
		t.Fatalf("PushPaths: %v", err)
	}
	byPath := map[string]bucketsclient.Pushed{}
	for _, f := range got {
		byPath[f.Path] = f
	}
	if b := byPath["dir/b.bin"]; len(got) != 3 || b.Size != int64(len(big)) || b.Cid != bucketstest.ReferenceCID(t, big) {
		t.Fatalf("PushPaths returned %+v", got)
	}
	if root.Path == stale {
		t.Fatal("the root did not move")
	}
	for path, want := range map[string][]byte{"a.txt": []byte("alpha"), "dir/b.bin": big, "dir/empty": nil} {
		var buf bytes.Buffer
		if _, err := bc.PullPath(ctx, key, path, &buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("pull %s: %d bytes, %v", path, buf.Len(), err)
		}
	}
	// Against the old root: refused, and the bucket is where it was.
	_, _, err = bc.PushFiles(ctx, key, stale, []bucketsclient.File{{Path: "late.txt", Data: strings.NewReader("late")}})
	errorstest.WantKind(t, err, errors.FailedPrecondition, "pull the current state")
	if r, err := bc.Root(ctx, key); err != nil || r.Path != root.Path {
		t.Fatalf("after a refused push the root is %q (%v), want %q", r.Path, err, root.Path)
	}
	// A stream that ends inside a file (no closing empty chunk).
	s, err := pb.NewAPIServiceClient(w.h.Conn).PushPaths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Header_{Header: &pb.PushPathsRequest_Header{Key: key}}})
	s.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: "cut.txt", Data: []byte("half")}}})
	s.CloseSend()
	_, err = s.Recv()
	errorstest.WantKind(t, rpcerr.FromStatus("", err), errors.Invalid, "ended before the file")
	if r, err := bc.Root(ctx, key); err != nil || r.Path != root.Path {
		t.Fatalf("after a truncated push the root is %q (%v), want %q", r.Path, err, root.Path)
	}
}

// appUser is an end user of a developer's app: a user group key and a
// token for a fresh identity.
type appUser struct {
	ctx context.Context // credentials, no thread
	pub string          // public-key string
}

func newAppUser(t *testing.T, h *testhub.Hub, key hub.APIKey) appUser {
	t.Helper()
	ctx, priv := testhub.NewUser(t, threadsclient.New(h.Conn), key)
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return appUser{ctx: ctx, pub: string(pub)}
}

// TestBucketsRoles: a second identity of the same app reaches the owner's
// bucket only as far as its roles go (inherited downward, "*" for
// everyone); only an admin changes roles; another app's user never sees
// the bucket; the owner stays Admin everywhere.
func TestBucketsRoles(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	sctx, _ := signup(t, hc, "rolesdev")
	appKey, err := hc.CreateKey(sctx, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	sctx2, _ := signup(t, hc, "otherdev")
	otherKey, err := hc.CreateKey(sctx2, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	owner, friend, stranger := newAppUser(t, h, appKey), newAppUser(t, h, appKey), newAppUser(t, h, otherKey)
	db, err := threadsclient.New(h.Conn).NewDB(owner.ctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		t.Fatal(err)
	}
	in := func(u appUser) context.Context { return client.WithThread(u.ctx, db.String()) }
	bc := bucketsclient.New(h.Conn)
	made, err := bc.Create(in(owner), "shared", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := made.Root.Key
	for _, p := range []string{"docs/a.txt", "private/b.txt"} {
		if _, err := bc.PushPath(in(owner), key, p, strings.NewReader(p), ""); err != nil {
			t.Fatal(err)
		}
	}
	pull := func(u appUser, path string) error {
		_, err := bc.PullPath(in(u), key, path, new(bytes.Buffer))
		return err
	}
	push := func(u appUser, path string) error {
		_, err := bc.PushPath(in(u), key, path, strings.NewReader("x"), "")
		return err
	}

	// No role: nothing.
	errorstest.WantKind(t, pull(friend, "docs/a.txt"), errors.Permission, "PushPathAccessRoles")
	if _, err := bc.Root(in(friend), key); !errors.Is(errors.Permission, err) {
		t.Fatalf("Root without a role: %v", err)
	}
	if list, err := bc.List(in(friend)); err != nil || len(list) != 0 {
		t.Fatalf("List without a role: %v, %v", list, err)
	}
	// Another app's user: the DB is not there at all.
	errorstest.WantKind(t, pull(stranger, "docs/a.txt"), errors.NotExist, "")

	// Reader on docs: reads docs and below, nothing else, writes nothing.
	if err := bc.SetPathRoles(in(owner), key, "docs", map[string]hub.PathRole{friend.pub: 1}); err != nil {
		t.Fatal(err)
	}
	if roles, err := bc.PathRoles(in(owner), key, "docs"); err != nil || roles[friend.pub] != 1 {
		t.Fatalf("PullPathAccessRoles: %v, %v", roles, err)
	}
	if err := pull(friend, "docs/a.txt"); err != nil {
		t.Fatalf("reader pulls docs/a.txt: %v", err)
	}
	errorstest.WantKind(t, pull(friend, "private/b.txt"), errors.Permission, "needs Reader")
	errorstest.WantKind(t, push(friend, "docs/new.txt"), errors.Permission, "needs Writer")
	if list, err := bc.List(in(friend)); err != nil || len(list) != 1 {
		t.Fatalf("List with a role: %v, %v", list, err)
	}

	// Writer on docs: writes there, not elsewhere; may not change roles
	// nor remove the bucket.
	if err := bc.SetPathRoles(in(owner), key, "docs", map[string]hub.PathRole{friend.pub: 2}); err != nil {
		t.Fatal(err)
	}
	if err := push(friend, "docs/new.txt"); err != nil {
		t.Fatalf("writer pushes docs/new.txt: %v", err)
	}
	if _, _, err := bc.PushFiles(in(friend), key, "", []bucketsclient.File{{Path: "docs/p.txt", Data: strings.NewReader("p")}}); err != nil {
		t.Fatalf("writer PushPaths into docs: %v", err)
	}
	errorstest.WantKind(t, push(friend, "top.txt"), errors.Permission, "needs Writer")
	errorstest.WantKind(t, bc.MovePath(in(friend), key, "docs/new.txt", "private/new.txt"), errors.Permission, "needs Writer")
	errorstest.WantKind(t, bc.SetPathRoles(in(friend), key, "docs", map[string]hub.PathRole{"*": 3}), errors.Permission, "needs Admin")
	errorstest.WantKind(t, bc.Remove(in(friend), key), errors.Permission, "needs Admin")
	var buf bytes.Buffer
	if _, err := bc.PullPath(in(owner), key, "docs/new.txt", &buf); err != nil || buf.String() != "x" {
		t.Fatalf("owner reads the writer's file: %q, %v", buf.String(), err)
	}

	// "*" Reader at the root: everyone of the app reads everything.
	if err := bc.SetPathRoles(in(owner), key, "", map[string]hub.PathRole{"*": 1}); err != nil {
		t.Fatal(err)
	}
	if err := pull(friend, "private/b.txt"); err != nil {
		t.Fatalf("\"*\" reader pulls private/b.txt: %v", err)
	}
	// Removing a role: None deletes it; docs falls back to "*" Reader.
	if err := bc.SetPathRoles(in(owner), key, "docs", map[string]hub.PathRole{friend.pub: 0}); err != nil {
		t.Fatal(err)
	}
	errorstest.WantKind(t, push(friend, "docs/again.txt"), errors.Permission, "needs Writer")

	// Bad roles.
	errorstest.WantKind(t, bc.SetPathRoles(in(owner), key, "docs", map[string]hub.PathRole{"nobody": 1}), errors.Invalid, "public-key string")
	errorstest.WantKind(t, bc.SetPathRoles(in(owner), key, "docs", map[string]hub.PathRole{"*": 7}), errors.Invalid, "None 0")

	// The owner is Admin everywhere, and removes the bucket.
	if err := bc.Remove(in(owner), key); err != nil {
		t.Fatal(err)
	}
}
