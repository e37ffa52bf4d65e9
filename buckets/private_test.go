package buckets

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity/identitytest"
)

// marker is a string the tests put in names and contents, to look for in
// the raw blocks.
const marker = "PLAINTEXT-MARKER-7f3a"

func (f fixture) createPrivate(t testing.TB, name string) Bucket {
	t.Helper()
	b, _, err := f.svc.Create(context.Background(), f.p, f.thread, name, true, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	if !b.IsPrivate() {
		t.Fatal("bucket made with private=true is not private")
	}
	return b
}

func (f fixture) push(t testing.TB, p hub.Principal, key, path string, data []byte) Bucket {
	t.Helper()
	res, err := f.svc.PushPath(context.Background(), p, f.thread, key, path, bytes.NewReader(data), "")
	if err != nil {
		t.Fatalf("push %s: %v", path, err)
	}
	return res.Bucket
}

func (f fixture) pull(t testing.TB, p hub.Principal, key, path string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.svc.PullPath(context.Background(), p, f.thread, key, path, &buf); err != nil {
		t.Fatalf("pull %s: %v", path, err)
	}
	return buf.Bytes()
}

// markerData is n bytes of random data with marker in several places.
func markerData(t testing.TB, n int) []byte {
	d := randomBytes(t, n)
	for _, at := range []int{0, n / 2, n - len(marker)} {
		copy(d[at:], marker)
	}
	return d
}

// rawHasMarker reports whether any stored block holds marker.
func rawHasMarker(t testing.TB, f fixture) bool {
	t.Helper()
	ctx := context.Background()
	keys, err := f.svc.blocks.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for k := range keys {
		blk, err := f.svc.blocks.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		found = found || bytes.Contains(blk.RawData(), []byte(marker))
	}
	return found
}

func newUser(t testing.TB, account hub.PubKey) hub.Principal {
	t.Helper()
	_, id := identitytest.New(t)
	return hub.Principal{Kind: hub.UserPrincipal, Account: account, Identity: id}
}

func TestPrivateRoundTripHidesNamesAndContents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "vault")
	small := []byte("hello " + marker)
	big := markerData(t, 3*SegmentSize+4567)
	f.push(t, f.p, b.Key, marker+"/note.txt", small)
	f.push(t, f.p, b.Key, "big.bin", big)
	if got := f.pull(t, f.p, b.Key, marker+"/note.txt"); !bytes.Equal(got, small) {
		t.Fatalf("pulled %q", got)
	}
	if got := f.pull(t, f.p, b.Key, "big.bin"); !bytes.Equal(got, big) {
		t.Fatal("big file pulled back different")
	}
	if rawHasMarker(t, f) {
		t.Fatal("a stored block holds plaintext")
	}

	it, b, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int64{}
	for _, e := range it.Items {
		names[e.Name] = e.Size
	}
	if _, ok := names[marker]; !ok || names["big.bin"] != int64(len(big)) || len(names) != 3 {
		t.Fatalf("ListPath shows %v; want %s, big.bin (%d bytes), %s", names, marker, len(big), SeedName)
	}
	sub, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, marker)
	if err != nil || len(sub.Items) != 1 || sub.Items[0].Name != "note.txt" || sub.Items[0].Size != int64(len(small)) || sub.Items[0].Path != marker+"/note.txt" {
		t.Fatalf("ListPath of the directory = %+v, %v", sub.Items, err)
	}

	// The raw DAG: encrypted names, ciphertext contents.
	raw, err := f.svc.ListIPFSPath(ctx, b.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range raw.Items {
		if !strings.HasPrefix(e.Name, namePrefix) || e.Name == "big.bin" || e.Name == SeedName || strings.Contains(e.Name, marker) {
			t.Fatalf("raw listing shows name %q", e.Name)
		}
	}
	var ct bytes.Buffer
	if err := f.svc.PullIPFSPath(ctx, b.Path+"/"+raw.Items[0].Name, &ct); err != nil && !errors.Is(errors.Invalid, err) {
		t.Fatal(err)
	}
	if bytes.Contains(ct.Bytes(), []byte(marker)) {
		t.Fatal("PullIPFSPath returned plaintext")
	}

	// Paths that are not there name the plaintext path.
	_, err = f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "nope/x", "")
	if !errors.Is(errors.NotExist, err) || !strings.Contains(err.Error(), "/nope/x") {
		t.Fatalf("RemovePath of a missing path: %v", err)
	}
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, marker, io.Discard); !errors.Is(errors.Invalid, err) {
		t.Fatalf("pulling a directory: %v", err)
	}
}

func TestPrivatePathOps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "ops")
	one, two := markerData(t, 1000), markerData(t, SegmentSize+1)
	f.push(t, f.p, b.Key, "a/one", one)

	bt, err := f.svc.NewBatch(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{"batch/two": two, "batch/one": one} {
		if _, err := bt.Add(ctx, path, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := bt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.pull(t, f.p, b.Key, "batch/two"), two) {
		t.Fatal("batch file pulled back different")
	}

	cur, _ := f.svc.Get(ctx, f.p, f.thread, b.Key)
	was, err := f.svc.find(ctx, keysOf(cur), mustRoot(cur), []string{"a", "one"})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := f.svc.MovePath(ctx, f.p, f.thread, b.Key, "a", "moved/a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.pull(t, f.p, b.Key, "moved/a/one"), one) {
		t.Fatal("moved file pulled back different")
	}
	// Under the same key a move re-seals names only, not contents.
	if is, err := f.svc.find(ctx, keysOf(moved), mustRoot(moved), []string{"moved", "a", "one"}); err != nil || !is.Cid().Equals(was.Cid()) {
		t.Fatalf("a move re-encrypted file contents (%v)", err)
	}

	// SetPath takes a plaintext DAG and encrypts it for its place.
	plain := []byte("public " + marker)
	nd, err := Import(ctx, f.svc.dag, bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "set/p.txt", nd.Cid()); err != nil {
		t.Fatal(err)
	}
	if got := f.pull(t, f.p, b.Key, "set/p.txt"); !bytes.Equal(got, plain) {
		t.Fatalf("SetPath file pulled back as %q", got)
	}
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "batch/one", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "batch/one", io.Discard); !errors.Is(errors.NotExist, err) {
		t.Fatalf("removed file: %v", err)
	}

	// A private bucket can be bootstrapped from a plaintext directory.
	dir, _, err := f.svc.ListPath(ctx, f.p, f.thread, f.create(t, "plain").Key, "")
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := f.svc.Create(ctx, f.p, f.thread, "boot", true, dir.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if it, _, err := f.svc.ListPath(ctx, f.p, f.thread, pb.Key, ""); err != nil || len(it.Items) != 1 || it.Items[0].Name != SeedName {
		t.Fatalf("bootstrapped private bucket lists %+v, %v", it.Items, err)
	}
}

// TestPrivateKeyRotation: removing a role re-encrypts the path's subtree
// under a fresh key, so the old keys open nothing current; granting one
// changes nothing stored.
func TestPrivateKeyRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "rot")
	other := newUser(t, f.p.Account)
	doc := markerData(t, 2*SegmentSize+10)
	b = f.push(t, f.p, b.Key, "shared/doc", doc)
	f.push(t, f.p, b.Key, "own/x", []byte("x"))

	granted, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "shared", map[string]Role{string(other.Identity): RoleReader})
	if err != nil {
		t.Fatal(err)
	}
	if granted.Path == b.Path {
		// fine: a grant keeps the root
	} else if got, _ := f.svc.Get(ctx, f.p, f.thread, b.Key); got.Path != granted.Path {
		t.Fatal("grant result differs from stored bucket")
	}
	before, _ := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if !bytes.Equal(f.pull(t, other, b.Key, "shared/doc"), doc) {
		t.Fatal("reader pulled different bytes")
	}
	if err := f.svc.PullPath(ctx, other, f.thread, b.Key, "own/x", io.Discard); !errors.Is(errors.Permission, err) {
		t.Fatalf("reader outside its path: %v", err)
	}
	oldKeys := keysOf(before)
	oldDoc, err := f.svc.find(ctx, oldKeys, mustRoot(before), []string{"shared", "doc"})
	if err != nil {
		t.Fatal(err)
	}
	oldOwn, _ := f.svc.find(ctx, oldKeys, mustRoot(before), []string{"own", "x"})

	after, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "shared", map[string]Role{string(other.Identity): RoleNone})
	if err != nil {
		t.Fatal(err)
	}
	if after.Path == before.Path || after.Metadata["shared"].Key == "" || after.Metadata["shared"].Key == before.LinkKey {
		t.Fatal("removing a role did not rotate the path's key and re-encrypt it")
	}
	if err := f.svc.PullPath(ctx, other, f.thread, b.Key, "shared/doc", io.Discard); !errors.Is(errors.Permission, err) {
		t.Fatalf("removed reader: %v", err)
	}
	if !bytes.Equal(f.pull(t, f.p, b.Key, "shared/doc"), doc) {
		t.Fatal("owner pulled different bytes after rotation")
	}
	// The old keys open neither the current names nor the current contents.
	if _, err := f.svc.find(ctx, oldKeys, mustRoot(after), []string{"shared", "doc"}); !errors.Is(errors.NotExist, err) {
		t.Fatalf("old keys found the rotated file by name: %v", err)
	}
	cur, err := f.svc.find(ctx, keysOf(after), mustRoot(after), []string{"shared", "doc"})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Cid().Equals(oldDoc.Cid()) {
		t.Fatal("the rotated file kept its blocks")
	}
	if _, _, err := oldKeys.openFile(ctx, f.svc.dag, cur, []string{"shared", "doc"}); !errors.Is(errors.DataLoss, err) {
		t.Fatalf("old key opened the rotated file: %v", err)
	}
	// Outside the rotated path nothing changed.
	if own, _ := f.svc.find(ctx, keysOf(after), mustRoot(after), []string{"own", "x"}); !own.Cid().Equals(oldOwn.Cid()) {
		t.Fatal("a path outside the rotated one was re-encrypted")
	}
	// A push after rotation uses the new key.
	f.push(t, f.p, b.Key, "shared/new", []byte("new"))
	if string(f.pull(t, f.p, b.Key, "shared/new")) != "new" {
		t.Fatal("push after rotation")
	}

	// Rotating the root changes the bucket key and drops path keys.
	if _, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "", map[string]Role{"*": RoleReader}); err != nil {
		t.Fatal(err)
	}
	root, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "", map[string]Role{"*": RoleNone})
	if err != nil {
		t.Fatal(err)
	}
	if root.LinkKey == before.LinkKey || root.Metadata["shared"].Key != "" {
		t.Fatal("rotating the root kept old keys")
	}
	if !bytes.Equal(f.pull(t, f.p, b.Key, "shared/doc"), doc) {
		t.Fatal("owner pulled different bytes after root rotation")
	}
}

func TestPrivateTamperedBlocks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "tamper")
	data := markerData(t, 2*SegmentSize)
	b = f.push(t, f.p, b.Key, "f", data)
	var ct bytes.Buffer
	link, _ := keysOf(b).sealPath([]string{"f"})
	if err := f.svc.PullIPFSPath(ctx, b.Path+"/"+link[0], &ct); err != nil {
		t.Fatal(err)
	}
	bad := ct.Bytes()
	bad[headerSize+sealedSize+5] ^= 0x80 // in the second segment
	nd, err := Import(ctx, f.svc.dag, bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.updateKeyed(ctx, "test", f.p, f.thread, b.Key, "", RoleWriter, nil, func(_ Bucket, cur ipld.Node) (ipld.Node, error) {
		return put(ctx, f.svc.dag, f.svc.sizes, cur, link, nd)
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = f.svc.PullPath(ctx, f.p, f.thread, b.Key, "f", &out)
	if !errors.Is(errors.DataLoss, err) || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("pulling a tampered file: %v", err)
	}
	if out.Len() > SegmentSize || !bytes.Equal(out.Bytes(), data[:out.Len()]) {
		t.Fatalf("pulled %d bytes of a tampered file, beyond its intact first segment", out.Len())
	}
}

func TestPrivateRefusesPlainChanges(t *testing.T) {
	const op errors.Op = "buckets.ImportCAR"
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "plainchange")
	_, err := f.svc.update(ctx, op, f.p, f.thread, b.Key, "", RoleWriter, nil, func(cur ipld.Node) (ipld.Node, error) {
		t.Fatal("a change that knows nothing of encryption ran on a private bucket")
		return cur, nil
	})
	if !errors.Is(errors.Unimplemented, err) {
		t.Fatalf("err = %v, want Unimplemented", err)
	}
}

// TestPrivatePushAcrossRotation: a file sealed before its path's key
// rotated is refused at commit rather than linked under keys that cannot
// open it.
func TestPrivatePushAcrossRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "race")
	other := newUser(t, f.p.Account)
	if _, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "", map[string]Role{string(other.Identity): RoleReader}); err != nil {
		t.Fatal(err)
	}
	bt, err := f.svc.NewBatch(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Discard()
	if _, err := bt.Add(ctx, "late.txt", strings.NewReader("sealed under the old key")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "", map[string]Role{string(other.Identity): RoleNone}); err != nil {
		t.Fatal(err)
	}
	_, _, err = bt.Commit(ctx)
	if !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "push it again") {
		t.Fatalf("commit across a rotation: %v", err)
	}
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "late.txt", io.Discard); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the refused file is there: %v", err)
	}
}

// TestPrivateLinksAndGateway: a private bucket's links all name the path
// they were asked for (the link they carry reads only under it), and the
// gateway's reads are for principals of the app that holds the DB.
func TestPrivateLinksAndGateway(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.createPrivate(t, "vault")
	f.push(t, f.p, b.Key, "a/b/f.txt", []byte(marker))
	l, err := f.svc.Links(ctx, f.p, f.thread, b.Key, "/a/b/")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Private || l.Path != "a/b" || !strings.HasSuffix(l.URL, "/"+b.Key+"/a/b") || !strings.HasSuffix(l.IPNS, "/ipns/"+b.Key+"/a/b") || !strings.HasSuffix(l.WWW, ".buckets.example/a/b") {
		t.Fatalf("links of a private path = %+v; want all three naming a/b", l)
	}
	pub := f.create(t, "public")
	if l, err = f.svc.Links(ctx, f.p, f.thread, pub.Key, "a"); err != nil || l.Private || strings.HasSuffix(l.IPNS, "/a") {
		t.Fatalf("links of a public path = %+v (%v); want the IPNS link at the root, as before", l, err)
	}
	e, err := f.svc.GatewayPrivate(ctx, f.p, f.thread, b.Key, "a/b/f.txt")
	if err != nil || e.Size != int64(len(marker)) {
		t.Fatalf("the owner through the gateway: %+v, %v", e.Item, err)
	}
	stranger := hub.Principal{Kind: hub.UserPrincipal, Account: "banother", Identity: f.p.Account}
	if _, err := f.svc.GatewayPrivate(ctx, stranger, f.thread, b.Key, "a/b/f.txt"); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the owner's identity as a user of another app: %v; want NotExist", err)
	}
}
