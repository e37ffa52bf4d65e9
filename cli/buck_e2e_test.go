package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// buckDev is a developer with bucket folders.
type buckDev struct {
	*dev
	h *testhub.Hub
}

// buck runs hub buck with args in the folder dir and returns stdout.
func (d *buckDev) buck(dir string, args ...string) string {
	d.t.Helper()
	return d.ok(append([]string{"buck", "--dir", dir}, args...)...)
}

// buckFails runs hub buck in dir, which must fail; it returns the message.
func (d *buckDev) buckFails(dir string, args ...string) string {
	d.t.Helper()
	return d.errorLine(append([]string{"buck", "--dir", dir}, args...)...)
}

// bucket returns a Go client and a context that act as the developer on
// the DB of the folder dir, to check hub buck against.
func (d *buckDev) bucket(dir string) (context.Context, *bucketsclient.Client, folderConfig) {
	d.t.Helper()
	fd, err := findFolder(dir)
	if err != nil {
		d.t.Fatal(err)
	}
	ctx := client.WithThread(d.ctx(), fd.cfg.Thread)
	return ctx, bucketsclient.New(d.h.Conn), fd.cfg
}

// remoteTree returns every file of the folder's bucket and its contents,
// but the seed.
func (d *buckDev) remoteTree(dir string) map[string]string {
	d.t.Helper()
	out, err := d.tryRemoteTree(dir)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// tryRemoteTree is remoteTree for a bucket that may change while it is
// read: a file removed between the listing and its pull is an error.
func (d *buckDev) tryRemoteTree(dir string) (map[string]string, error) {
	d.t.Helper()
	ctx, bc, cfg := d.bucket(dir)
	out := map[string]string{}
	var walk func(p string) error
	walk = func(p string) error {
		it, _, err := bc.ListPath(ctx, cfg.Key, p)
		if err != nil {
			return err
		}
		for _, sub := range it.Items {
			rel := strings.TrimPrefix(p+"/"+sub.Name, "/")
			if sub.IsDir {
				if err := walk(rel); err != nil {
					return err
				}
				continue
			}
			if rel == seedName {
				continue
			}
			var buf bytes.Buffer
			if _, err := bc.PullPath(ctx, cfg.Key, rel, &buf); err != nil {
				return err
			}
			out[rel] = buf.String()
		}
		return nil
	}
	return out, walk("")
}

// localTree returns every regular file under dir (but .buck) and its
// contents.
func localTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == buckDir {
			return filepath.SkipDir
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeFiles writes files (path: contents) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		file := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

// without returns m without the keys.
func without(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	names := func(m map[string]string) []string {
		var out []string
		for k, v := range m {
			out = append(out, k+"("+itoaLen(v)+")")
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("%s: files %v; want %v", what, names(got), names(want))
}

func itoaLen(s string) string { return strings.TrimSpace(byteSize(int64(len(s)))) }

func TestE2EBuck(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir, dir2 := t.TempDir(), t.TempDir()

	// Outside a bucket folder, commands say what to do.
	if got := ann.buckFails(dir, "status"); !strings.Contains(got, "is not in a bucket folder; run hub buck init there") {
		t.Fatalf("status outside a folder: %q", got)
	}

	// Mistakes hub catches before asking the hub.
	fresh := t.TempDir()
	ann.fails("--name is required when stdin is not a terminal", "buck", "--dir", fresh, "init")
	ann.fails("--existing attaches a bucket as it is; drop --name, --cid and --private", "buck", "--dir", fresh, "init", "--existing", "k51x", "--name", "x")
	if exists(filepath.Join(fresh, buckDir)) {
		t.Fatal("a refused init left .buck behind")
	}
	writeFiles(t, fresh, map[string]string{".buck/config.json": "{}"})
	if got := ann.buckFails(fresh, "status"); !strings.Contains(got, "is not a valid bucket folder config") {
		t.Fatalf("status with a broken config: %q", got)
	}
	writeFiles(t, fresh, map[string]string{".buck/config.json": `{"key":"k","thread":"t"}`, ".buck/state.json": "{"})
	if got := ann.buckFails(fresh, "status"); !strings.Contains(got, "delete it, then hub buck pull --force to start over") {
		t.Fatalf("status with a broken state: %q", got)
	}

	files := map[string]string{
		"a.txt":          "alpha",
		"sub/b.txt":      "bravo",
		"sub/deep/c.bin": randomString(300 << 10),
		"empty":          "",
		"keep.log":       "kept despite *.log",
		"x.log":          "ignored",
		"build/out.o":    "ignored dir",
		"docs/build":     "a file named build is not a dir: pushed",
		".buckignore":    "# test\n*.log\n!keep.log\nbuild/\n",
	}
	writeFiles(t, dir, files)
	var created bucketJSON
	ann.json(&created, "buck", "--dir", dir, "init", "--name", "photos", "--json")
	if created.Key == "" || created.Name != "photos" || created.Thread == "" || !strings.HasPrefix(created.Root, "/ipfs/") {
		t.Fatalf("init --json = %+v", created)
	}
	if got := ann.buckFails(dir, "init", "--name", "again"); !strings.Contains(got, "is a bucket folder already") {
		t.Fatalf("second init: %q", got)
	}

	ann.fails("--batch-bytes must be positive", "buck", "--dir", dir, "push", "--batch-bytes", "0")
	out := ann.buck(dir, "push")
	if !strings.HasPrefix(out, "Pushed 7 files") {
		t.Fatalf("push printed %q", out)
	}
	pushed := without(files, "x.log", "build/out.o")
	sameTree(t, "bucket after the first push", ann.remoteTree(dir), pushed)
	if out := ann.buck(dir, "push"); out != "Everything up to date.\n" {
		t.Fatalf("second push printed %q", out)
	}

	// Local changes show in status and are pushed; deletions removed.
	writeFiles(t, dir, map[string]string{"a.txt": "alpha, edited", "new.txt": "new"})
	if err := os.Remove(filepath.Join(dir, "sub", "b.txt")); err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	ann.json(&st, "buck", "--dir", dir, "status", "--json")
	wantLocal := []change{{Path: "a.txt", Kind: changeModified, Size: 13}, {Path: "new.txt", Kind: changeNew, Size: 3}, {Path: "sub/b.txt", Kind: changeDeleted}}
	if !reflect.DeepEqual(st.Local, wantLocal) || st.Moved || len(st.Remote) != 0 {
		t.Fatalf("status --json = %+v; want local %+v and the bucket unmoved", st, wantLocal)
	}
	ann.buck(dir, "push")
	pushed = without(localTree(t, dir), "x.log", "build/out.o")
	sameTree(t, "bucket after the second push", ann.remoteTree(dir), pushed)
	ann.json(&st, "buck", "--dir", dir, "status", "--json")
	if len(st.Local) != 0 || st.Moved {
		t.Fatalf("status after push = %+v", st)
	}

	// ls, cat, links and root read the bucket.
	if out := ann.buck(dir, "cat", "a.txt"); out != "alpha, edited" {
		t.Fatalf("cat a.txt = %q", out)
	}
	if out := ann.buck(dir, "ls"); !strings.Contains(out, "sub/") || !strings.Contains(out, "a.txt") || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("ls printed %q", out)
	}
	var items []itemJSON
	ann.json(&items, "buck", "--dir", dir, "ls", "sub/deep", "--json")
	if len(items) != 1 || items[0].Path != "sub/deep/c.bin" || items[0].Size != 300<<10 || items[0].Cid == "" {
		t.Fatalf("ls sub/deep --json = %+v", items)
	}
	var links map[string]string
	ann.json(&links, "buck", "--dir", dir, "links", "--json")
	if !strings.HasSuffix(links["url"], "/buckets/"+created.Key) || !strings.HasSuffix(links["ipns"], "/ipns/"+created.Key) {
		t.Fatalf("links --json = %v", links)
	}
	var root bucketJSON
	ann.json(&root, "buck", "--dir", dir, "root", "--json")
	ctx, bc, cfg := ann.bucket(dir)
	if r, err := bc.Root(ctx, cfg.Key); err != nil || root.Root != r.Path || root.Key != created.Key || root.Thread != created.Thread {
		t.Fatalf("root --json = %+v; the hub says %+v (%v)", root, r, err)
	}
	if got := ann.buckFails(dir, "cat", "no/such"); !strings.Contains(got, `no file or directory at "/no"`) {
		t.Fatalf("cat of a missing file: %q", got)
	}

	// A second folder attached to the same bucket pulls it.
	ann.buck(dir2, "init", "--existing", created.Key)
	if got := ann.buckFails(dir2, "init", "--existing", created.Key, "--name", "x"); !strings.Contains(got, "is a bucket folder already") {
		t.Fatalf("init in a folder: %q", got)
	}
	out = ann.buck(dir2, "pull")
	if !strings.HasPrefix(out, fmt.Sprintf("Pulled %d files", len(pushed))) {
		t.Fatalf("pull printed %q", out)
	}
	sameTree(t, "second folder after pull", localTree(t, dir2), pushed)

	// A change pushed from the second folder: the first sees the bucket
	// moved, cannot push over it, and pulls it.
	writeFiles(t, dir2, map[string]string{"from2.txt": "two", "a.txt": "alpha from two"})
	ann.buck(dir2, "push")
	ann.json(&st, "buck", "--dir", dir, "status", "--json")
	wantRemote := []change{{Path: "a.txt", Kind: changeModified, Size: 14}, {Path: "from2.txt", Kind: changeNew, Size: 3}}
	if !st.Moved || !reflect.DeepEqual(st.Remote, wantRemote) {
		t.Fatalf("status after the other folder pushed = %+v; want moved, remote %+v", st, wantRemote)
	}
	writeFiles(t, dir, map[string]string{"mine.txt": "mine"})
	if got := ann.buckFails(dir, "push"); !strings.Contains(got, "pull the current state first") {
		t.Fatalf("a non-fast-forward push: %q", got)
	}
	// A local change to a file the bucket changed too is a conflict.
	writeFiles(t, dir, map[string]string{"a.txt": "alpha, edited again here"})
	if got := ann.buckFails(dir, "pull"); !strings.Contains(got, "pulling would overwrite local changes to a.txt (modified here, changed in the bucket)") {
		t.Fatalf("a conflicting pull: %q", got)
	}
	if got := localTree(t, dir)["from2.txt"]; got != "" {
		t.Fatalf("a refused pull wrote from2.txt")
	}
	ann.buck(dir, "pull", "--force")
	local := localTree(t, dir)
	if local["a.txt"] != "alpha from two" || local["from2.txt"] != "two" || local["mine.txt"] != "mine" {
		t.Fatalf("after pull --force: a.txt %q, from2.txt %q, mine.txt %q", local["a.txt"], local["from2.txt"], local["mine.txt"])
	}
	ann.buck(dir, "push") // mine.txt, now fast-forward
	ann.buck(dir2, "pull")
	if got := localTree(t, dir2)["mine.txt"]; got != "mine" {
		t.Fatalf("the second folder pulled mine.txt as %q", got)
	}

	// Deleted in the bucket: deleted by pull. --hard also deletes what the
	// bucket never had; ignored files stay.
	if err := os.Remove(filepath.Join(dir2, "new.txt")); err != nil {
		t.Fatal(err)
	}
	ann.buck(dir2, "push")
	writeFiles(t, dir, map[string]string{"stray.txt": "never pushed"})
	ann.buck(dir, "pull")
	local = localTree(t, dir)
	if _, ok := local["new.txt"]; ok || local["stray.txt"] == "" || local["x.log"] == "" {
		t.Fatalf("after pull: new.txt present %v, stray.txt %q, x.log %q", ok, local["stray.txt"], local["x.log"])
	}
	ann.buck(dir, "pull", "--hard")
	local = localTree(t, dir)
	if _, ok := local["stray.txt"]; ok || local["x.log"] == "" {
		t.Fatalf("after pull --hard: stray.txt present %v, x.log %q", ok, local["x.log"])
	}
	sameTree(t, "folder after pull --hard", without(local, "x.log", "build/out.o"), ann.remoteTree(dir))

	// roles: grant and list; bad roles are refused by hub itself.
	ann.buck(dir, "roles", "grant", "*", "reader", "sub")
	var roles map[string]string
	ann.json(&roles, "buck", "--dir", dir, "roles", "ls", "sub", "--json")
	if !reflect.DeepEqual(roles, map[string]string{"*": "reader"}) {
		t.Fatalf("roles ls sub = %v", roles)
	}
	ann.fails(`"boss" is not a role; use none, reader, writer or admin`, "buck", "--dir", dir, "roles", "grant", "*", "boss")

	// add CID links a DAG the hub has; status and pull see it.
	ann.json(&items, "buck", "--dir", dir, "ls", "sub/deep", "--json")
	out = ann.buck(dir, "add", items[0].Cid, "copy/c.bin")
	if !strings.HasPrefix(out, "Linked "+items[0].Cid+" at /copy/c.bin") {
		t.Fatalf("add printed %q", out)
	}
	ann.json(&st, "buck", "--dir", dir, "status", "--json")
	if st.Moved || !reflect.DeepEqual(st.Remote, []change{{Path: "copy/c.bin", Kind: changeNew, Size: 300 << 10}}) {
		t.Fatalf("status after add = %+v", st)
	}
	ann.buck(dir, "pull")
	if got := localTree(t, dir)["copy/c.bin"]; got != files["sub/deep/c.bin"] {
		t.Fatalf("pulled copy/c.bin: %d bytes", len(got))
	}
	if got := ann.buckFails(dir, "add", "notacid"); !strings.Contains(got, "notacid") {
		t.Fatalf("add of a bad CID: %q", got)
	}

	// destroy asks unless --yes; without a terminal it refuses.
	ann.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "buck", "--dir", dir, "destroy")
	if out := ann.buck(dir, "destroy", "--yes"); !strings.HasPrefix(out, "Deleted bucket photos") {
		t.Fatalf("destroy printed %q", out)
	}
	if _, err := bc.Root(ctx, cfg.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("Root after destroy: %v; want NotExist", err)
	}
	if localTree(t, dir)["a.txt"] == "" || exists(filepath.Join(dir, buckDir)) {
		t.Fatalf("destroy must keep the files and unlink the folder")
	}
	if got := ann.buckFails(dir2, "pull"); !strings.Contains(got, "not found") {
		t.Fatalf("pull of a destroyed bucket: %q", got)
	}
}

// onLine is stderr for a command that runs then, once, when a line
// containing want is written. The command writes its progress lines in
// the goroutine that sends or receives the data, so then runs at that
// point of the transfer.
type onLine struct {
	lockedBuffer
	want string
	once bool
	then func()
}

func (c *onLine) Write(p []byte) (int, error) {
	n, err := c.lockedBuffer.Write(p)
	if !c.once && strings.Contains(string(p), c.want) {
		c.once = true
		c.then()
	}
	return n, err
}

// runCancel runs hub in-process with ctx and stderr, and returns its error.
func (d *dev) runCancel(ctx context.Context, stderr io.Writer, args ...string) error {
	var out strings.Builder
	cmd := New(nil, &out, stderr, func(k string) string { return d.env[k] })
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// TestE2EBuckInterrupted cancels a push and a pull in the middle of a
// big file, and runs them again: the state records only what the hub
// acknowledged, so the re-run sends or fetches just what is left.
func TestE2EBuckInterrupted(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir, dir2 := t.TempDir(), t.TempDir()
	files := map[string]string{"a1": randomString(200 << 10), "a2": randomString(200 << 10), "a3": randomString(200 << 10),
		"z-big": randomString(24 << 20)}
	writeFiles(t, dir, files)
	ann.buck(dir, "init", "--name", "resume")

	// Batches of 1 MiB: a1-a3, then z-big alone. Cancel when the first
	// progress line of z-big is written (about 8 MiB into it), before
	// the file is all sent, so the hub cannot have committed it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &onLine{want: " left)", then: cancel}
	err := ann.runCancel(ctx, stderr, "buck", "--dir", dir, "push", "--batch-bytes", "1048576")
	if !errors.Is(errors.Canceled, err) {
		t.Fatalf("cancelled push: %v (kind %v); want Canceled\nstderr: %s", err, errors.KindOf(err), stderr.String())
	}
	ann.checkResume(dir, files, "z-big", 3, false)

	// A pull cancelled while z-big is being written leaves no partial
	// file, and the re-run fetches only z-big.
	_, _, cfg := ann.bucket(dir)
	ann.buck(dir2, "init", "--existing", cfg.Key)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	stderr = &onLine{want: " left)", then: cancel}
	err = ann.runCancel(ctx, stderr, "buck", "--dir", dir2, "pull")
	if !errors.Is(errors.Canceled, err) {
		t.Fatalf("cancelled pull: %v (kind %v); want Canceled\nstderr: %s", err, errors.KindOf(err), stderr.String())
	}
	sameTree(t, "folder after the cancelled pull", localTree(t, dir2), without(files, "z-big"))
	if out := ann.buck(dir2, "pull"); !strings.HasPrefix(out, "Pulled 1 file (24.0 MiB)") {
		t.Fatalf("the re-run pull printed %q; want only z-big fetched", out)
	}
	sameTree(t, "folder after the re-run pull", localTree(t, dir2), files)
}

// TestE2EBuckCAR exports a directory of one hub's bucket as a CAR through
// the gateway and imports it with hub buck add --car into a bucket on
// another hub, which had none of its blocks: the CID is the same.
func TestE2EBuckCAR(t *testing.T) {
	h1, h2 := testhub.Start(t, nil), testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h1), h: h1}
	ann.signup("ann")
	bob := &buckDev{dev: newDev(t, h2), h: h2}
	bob.signup("bob")
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{"site/index.html": "<h1>hi</h1>", "site/img/big.bin": randomString(3<<20 + 5), "site/empty": ""}
	writeFiles(t, src, files)
	ann.buck(src, "init", "--name", "site")
	ann.buck(src, "push")
	var items []itemJSON
	ann.json(&items, "buck", "--dir", src, "ls", "--json")
	siteCID := ""
	for _, it := range items {
		if it.Name == "site" {
			siteCID = it.Cid
		}
	}
	resp, err := http.Get("http://" + h1.Addrs.Gateway + "/ipfs/" + siteCID + "?format=car")
	if err != nil {
		t.Fatal(err)
	}
	carBytes, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ?format=car: %d, %v", resp.StatusCode, err)
	}
	carFile := filepath.Join(t.TempDir(), "site.car")
	if err := os.WriteFile(carFile, carBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	bob.buck(dst, "init", "--name", "copy")
	out := bob.buck(dst, "add", "--car", carFile, "mirror")
	if !strings.HasPrefix(out, "Imported "+siteCID+" (") {
		t.Fatalf("add --car printed %q; want the exported CID %s", out, siteCID)
	}
	bob.json(&items, "buck", "--dir", dst, "ls", "--json")
	found := false
	for _, it := range items {
		found = found || it.Name == "mirror" && it.Cid == siteCID
	}
	if !found {
		t.Fatalf("ls after the import = %+v; want mirror at %s", items, siteCID)
	}
	bob.buck(dst, "pull")
	want := map[string]string{}
	for p, c := range files {
		want["mirror/"+strings.TrimPrefix(p, "site/")] = c
	}
	sameTree(t, "folder after pulling the import", localTree(t, dst), want)

	// A corrupt CAR is refused with the hub's message, the bucket unchanged.
	bctx, bc, cfg := bob.bucket(dst)
	before, err := bc.Root(bctx, cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.car")
	if err := os.WriteFile(bad, carBytes[:len(carBytes)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := bob.buckFails(dst, "add", "--car", bad, "broken"); !strings.Contains(got, "the CAR ends in the middle of block") {
		t.Fatalf("add --car of a truncated CAR: %q", got)
	}
	if after, err := bc.Root(bctx, cfg.Key); err != nil || after.Path != before.Path {
		t.Fatalf("bucket at %s after a refused import (%v); want %s", after.Path, err, before.Path)
	}
	if got := bob.buckFails(dst, "add", "--car", filepath.Join(dst, "nope.car")); !strings.Contains(got, "cannot read the CAR") {
		t.Fatalf("add --car of a missing file: %q", got)
	}
}

// TestE2EBuckUser runs hub buck as app users' identities through a user
// group key: one owns a bucket and shares a path with another, who can
// read it but not write.
func TestE2EBuckUser(t *testing.T) {
	h := testhub.Start(t, nil)
	devl := newDev(t, h)
	devl.signup("appdev")
	key, err := devl.hc.CreateKey(devl.ctx(), hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	newUser := func() (*buckDev, string) {
		u := &buckDev{dev: newDev(t, h), h: h}
		u.env["HUB_KEY"], u.env["HUB_SECRET"] = key.Key, key.Secret
		priv, err := newIdentity(filepath.Join(u.home, identityName))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := identity.String(priv.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		return u, string(pub)
	}
	amy, _ := newUser()
	ben, benPub := newUser()
	dir, dir2 := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"shared/s.txt": "for ben", "private.txt": "amy only"})
	var created bucketJSON
	amy.json(&created, "buck", "--dir", dir, "init", "--name", "amys", "--json")
	amy.buck(dir, "push")
	amy.buck(dir, "roles", "grant", benPub, "reader", "shared")

	ben.buck(dir2, "init", "--existing", created.Key, "--thread", created.Thread)
	if out := ben.buck(dir2, "cat", "shared/s.txt"); out != "for ben" {
		t.Fatalf("ben cat shared/s.txt = %q", out)
	}
	if got := ben.buckFails(dir2, "cat", "private.txt"); !strings.Contains(got, "has role None on /private.txt") || !strings.Contains(got, "needs Reader") {
		t.Fatalf("ben cat private.txt: %q", got)
	}
	writeFiles(t, dir2, map[string]string{"shared/from-ben.txt": "hi"})
	if got := ben.buckFails(dir2, "push"); !strings.Contains(got, "has role Reader on /shared/from-ben.txt") || !strings.Contains(got, "needs Writer") {
		t.Fatalf("ben push: %q", got)
	}
}

// TestE2EBuckBinarySIGINT runs hub buck push as a built binary, with
// stderr a pipe (plain progress lines, no bar), and interrupts it with
// SIGINT while the hub is storing a big file: it exits 1 with an Error:
// line, the folder records only the acknowledged batch, and a second run
// sends just what is left.
func TestE2EBuckBinarySIGINT(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hub")
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir := t.TempDir()
	files := map[string]string{"a1": randomString(300 << 10), "a2": randomString(300 << 10), "z-big": randomString(24 << 20)}
	writeFiles(t, dir, files)
	ann.buck(dir, "init", "--name", "sigint")

	cmd := exec.Command(bin, "buck", "--dir", dir, "push", "--batch-bytes", "1048576")
	cmd.Env = []string{"HUB_HOME=" + ann.home, "HUB_API=" + h.Addrs.API}
	lines, err := interruptAt(t, cmd, func(line string) bool { return strings.HasSuffix(line, " left)") }) // about 8 MiB into z-big
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "Error: ") {
		t.Fatalf("interrupted hub buck push: %v, stderr %q; want exit 1 after the first batch's line, ending with an Error: line", err, lines)
	}
	ann.checkResume(dir, files, "z-big", 2, true)
}

// interruptAt starts cmd, reads its stderr by line until at holds for
// one, interrupts it (SIGINT, as Ctrl-C does), and returns every line it
// wrote to stderr and how it ended.
func interruptAt(t *testing.T, cmd *exec.Cmd, at func(line string) bool) ([]string, error) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if at(sc.Text()) {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, cmd.Wait()
}

// checkResume checks the folder dir whose push was interrupted while it
// sent the file big, after a batch of done files: the state records just
// that batch, and the bucket is at the state's root, or, when mayCommit (a
// signal, which the process may see only after the hub has committed big
// and answered), holds every file. A second push then ends with the
// bucket holding every file, sending big only if the hub had not
// committed it.
func (d *buckDev) checkResume(dir string, files map[string]string, big string, done int, mayCommit bool) {
	d.t.Helper()
	fd, err := findFolder(dir)
	if err != nil {
		d.t.Fatal(err)
	}
	bctx, bc, cfg := d.bucket(dir)
	r, err := bc.Root(bctx, cfg.Key)
	if err != nil {
		d.t.Fatal(err)
	}
	remoteRoot := r.Path
	if len(fd.state.Files) != done {
		d.t.Fatalf("after the interrupted push the folder records %d files; want the %d of the acknowledged batch", len(fd.state.Files), done)
	}
	committed := remoteRoot != fd.state.Root
	if committed && !mayCommit {
		d.t.Fatalf("the bucket moved to %s past the folder's %s, though the push was cancelled before %s was all sent", remoteRoot, fd.state.Root, big)
	}
	want, again := without(files, big), "Pushed 1 file (24.0 MiB)"
	if committed {
		d.t.Log("the hub committed the big file before the interruption reached it")
		want, again = files, "Everything up to date."
	}
	sameTree(d.t, "bucket after the interrupted push", d.remoteTree(dir), want)
	if out := d.buck(dir, "push"); !strings.HasPrefix(out, again) {
		d.t.Fatalf("the re-run push printed %q; want %q", out, again)
	}
	sameTree(d.t, "bucket after the re-run", d.remoteTree(dir), files)
	var st statusJSON
	d.json(&st, "buck", "--dir", dir, "status", "--json")
	if st.Moved || len(st.Local) != 0 || len(st.Remote) != 0 {
		d.t.Fatalf("status after the re-run = %+v; want the folder and the bucket in step", st)
	}
}

// TestE2EBuckLostAnswer: the hub committed a push whose answer never
// reached hub (the push was interrupted just then), so the folder's state
// lags the bucket. Done here by pushing the folder's changes with the Go
// client. The next push sees that the bucket holds nothing but the
// folder's own changes (the CIDs hub computes locally match the hub's)
// and carries on; had anyone else changed the bucket, it is refused.
func TestE2EBuckLostAnswer(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"old.txt": "old", "gone.txt": "to be removed"})
	ann.buck(dir, "init", "--name", "lost")
	ann.buck(dir, "push")
	fd, err := findFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	bctx, bc, cfg := ann.bucket(dir)

	// The folder's changes: a new multi-chunk file, an edit, a removal;
	// the hub gets them all, the folder hears of none.
	changes := map[string]string{"new/big.bin": randomString(3<<20 + 1), "old.txt": "old, edited"}
	writeFiles(t, dir, changes)
	if err := os.Remove(filepath.Join(dir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	root := fd.state.Root
	for _, p := range []string{"new/big.bin", "old.txt"} {
		pushed, err := bc.PushPath(bctx, cfg.Key, p, strings.NewReader(changes[p]), root)
		if err != nil {
			t.Fatal(err)
		}
		root = pushed.Root.Path
	}
	if _, err := bc.RemovePath(bctx, cfg.Key, "gone.txt", root); err != nil {
		t.Fatal(err)
	}
	out, errs, code := ann.run(nil, "buck", "--dir", dir, "push")
	if code != 0 || out != "Everything up to date.\n" || !strings.Contains(errs, "The bucket already holds this folder's changes") {
		t.Fatalf("push after a lost answer: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	var st statusJSON
	ann.json(&st, "buck", "--dir", dir, "status", "--json")
	if st.Moved || len(st.Local) != 0 || len(st.Remote) != 0 {
		t.Fatalf("status = %+v; want the folder and the bucket in step", st)
	}

	// Someone else's change is not taken for the folder's own.
	r, err := bc.Root(bctx, cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.PushPath(bctx, cfg.Key, "theirs.txt", strings.NewReader("theirs"), r.Path); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"mine.txt": "mine"})
	if got := ann.buckFails(dir, "push"); !strings.Contains(got, "pull the current state first") {
		t.Fatalf("push over someone else's change: %q", got)
	}
}

// TestE2EBuckPrivate pushes and pulls a private bucket through the bucket
// API, which decrypts for its owner (the encryption itself is the bucket
// service's, tested there).
func TestE2EBuckPrivate(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir, dir2 := t.TempDir(), t.TempDir()
	files := map[string]string{"secret/plan.txt": "attack at dawn", "big.bin": randomString(2<<20 + 3)}
	writeFiles(t, dir, files)
	var created bucketJSON
	ann.json(&created, "buck", "--dir", dir, "init", "--name", "vault", "--private", "--json")
	ann.buck(dir, "push")
	if out := ann.buck(dir, "cat", "secret/plan.txt"); out != "attack at dawn" {
		t.Fatalf("cat of a private file = %q", out)
	}
	ann.buck(dir2, "init", "--existing", created.Key)
	ann.buck(dir2, "pull")
	sameTree(t, "second folder of the private bucket", localTree(t, dir2), files)
	if got := ann.buckFails(dir, "add", "--car", filepath.Join(dir, "big.bin")); !strings.Contains(got, "CAR import is not offered for private buckets") {
		t.Fatalf("add --car into a private bucket: %q", got)
	}
}

// TestE2EBuckOrg makes a bucket as an org: init remembers the org, so
// later commands act as it without -o, and the bucket's DB is the org's.
func TestE2EBuckOrg(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	ann.ok("orgs", "create", "Acme")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"team.txt": "team"})
	var created bucketJSON
	ann.json(&created, "buck", "--dir", dir, "-o", "acme", "init", "--name", "team", "--json")
	ann.buck(dir, "push")
	if out := ann.buck(dir, "cat", "team.txt"); out != "team" {
		t.Fatalf("cat as the org = %q", out)
	}
	var orgDBs, ownDBs []dbJSON
	ann.json(&orgDBs, "threads", "ls", "-o", "acme", "--json")
	ann.json(&ownDBs, "threads", "ls", "--json")
	if ids := dbIDs(orgDBs); len(ids) != 1 || ids[0] != created.Thread || len(ownDBs) != 0 {
		t.Fatalf("the org's DBs %v and ann's %v; want the bucket's DB %s, the org's only", ids, dbIDs(ownDBs), created.Thread)
	}
}

// TestE2EBuckExisting lists the buckets a folder can be linked to: the
// caller's in every DB they own (or the org's with -o), none of anyone
// else's, and a listed one links with init --existing.
func TestE2EBuckExisting(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	bob := &buckDev{dev: newDev(t, h), h: h}
	bob.signup("bob")
	ann.ok("orgs", "create", "Acme")

	if out, errs, code := ann.run(nil, "buck", "existing"); code != 0 || out != "" || errs != "No buckets; make one with hub buck init --name NAME.\n" {
		t.Fatalf("existing with no buckets: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := ann.ok("buck", "existing", "--json"); out != "[]\n" {
		t.Fatalf("existing --json with no buckets = %q", out)
	}

	// Two buckets in ann's "buckets" DB, one in another DB of hers, one
	// of the org's and one of bob's.
	var photos, docs, notes, team, bobs bucketJSON
	ann.json(&photos, "buck", "--dir", t.TempDir(), "init", "--name", "photos", "--json")
	ann.json(&docs, "buck", "--dir", t.TempDir(), "init", "--name", "docs", "--json")
	var other dbJSON
	ann.json(&other, "threads", "create", "--name", "other", "--json")
	ann.json(&notes, "buck", "--dir", t.TempDir(), "init", "--name", "notes", "--thread", other.ID, "--json")
	ann.json(&team, "buck", "--dir", t.TempDir(), "-o", "acme", "init", "--name", "team", "--json")
	bob.json(&bobs, "buck", "--dir", t.TempDir(), "init", "--name", "bobs", "--json")

	var got []bucketJSON
	ann.json(&got, "buck", "existing", "--json")
	if want := []bucketJSON{docs, notes, photos}; !reflect.DeepEqual(got, want) {
		t.Fatalf("existing --json = %+v\nwant (by name) %+v", got, want)
	}
	out := ann.ok("buck", "existing")
	if want := []string{"NAME KEY THREAD PATH",
		"docs " + docs.Key + " " + docs.Thread + " " + docs.Root,
		"notes " + notes.Key + " " + notes.Thread + " " + notes.Root,
		"photos " + photos.Key + " " + photos.Thread + " " + photos.Root}; !sameRows(out, want) {
		t.Errorf("existing printed:\n%s\nwant rows %q", out, want)
	}
	ann.json(&got, "buck", "existing", "--thread", other.ID, "--json")
	if want := []bucketJSON{notes}; !reflect.DeepEqual(got, want) {
		t.Errorf("existing --thread = %+v, want %+v", got, want)
	}
	ann.json(&got, "buck", "existing", "-o", "acme", "--json")
	if want := []bucketJSON{team}; !reflect.DeepEqual(got, want) {
		t.Errorf("existing -o acme = %+v, want %+v", got, want)
	}
	if msg := ann.errorLine("buck", "existing", "--thread", "nonsense"); !strings.Contains(msg, "nonsense") {
		t.Errorf("existing --thread nonsense: error %q; want one naming the bad ID", msg)
	}
	// A DB that is not an ID, or not the caller's, is refused by the hub;
	// hub prints its message.
	bc := bucketsclient.New(h.Conn)
	for _, db := range []string{"nonsense", bobs.Thread} {
		_, err := bc.List(client.WithThread(ann.ctx(), db))
		if !errors.Is(errors.Invalid, err) && !errors.Is(errors.NotExist, err) {
			t.Fatalf("List in DB %q: %v; want Invalid or NotExist", db, err)
		}
		if msg := ann.errorLine("buck", "existing", "--thread", db); msg != errors.Message(err) || !strings.Contains(msg, db) {
			t.Errorf("existing --thread %s: error %q, want the hub's %q", db, msg, errors.Message(err))
		}
	}

	// A listed bucket links a folder and pulls its files.
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"n.txt": "note"})
	ann.buck(src, "init", "--existing", notes.Key, "--thread", notes.Thread)
	ann.buck(src, "push")
	dst := t.TempDir()
	ann.buck(dst, "init", "--existing", notes.Key, "--thread", notes.Thread)
	ann.buck(dst, "pull")
	sameTree(t, "folder linked to a listed bucket", localTree(t, dst), map[string]string{"n.txt": "note"})
}
