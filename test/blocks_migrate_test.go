package test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/test/testhub"
)

// holdUploads is a proxy to an S3 server that lets the first n uploads
// through, reports on passed once they have all been answered, and holds every upload
// after them until its client goes away.
type holdUploads struct {
	next   http.Handler
	n      int
	passed chan struct{}
	// mu guards puts and done.
	mu   sync.Mutex
	puts int // uploads that arrived
	done int // uploads let through and answered
}

func (p *holdUploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		p.mu.Lock()
		p.puts++
		i := p.puts
		p.mu.Unlock()
		if i > p.n {
			io.Copy(io.Discard, r.Body) // then the server notices the client go
			<-r.Context().Done()
			return
		}
		defer func() {
			p.mu.Lock()
			p.done++
			if p.done == p.n { // the n let through have all been answered
				close(p.passed)
			}
			p.mu.Unlock()
		}()
	}
	p.next.ServeHTTP(w, r)
}

// migrated runs `hubd blocks migrate` with args and returns its counts:
// blocks copied, found there already, verified.
func migrated(t *testing.T, bin string, env []string, args ...string) (copied, present, verified int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"blocks", "migrate"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hubd blocks migrate %v: %v\n%s", args, err, stderr.String())
	}
	var bytes int64
	var to string
	if _, err := fmt.Sscanf(stdout.String(), "copied %d blocks (%d bytes) to %s %d were there already; read back and verified %d.",
		&copied, &bytes, &to, &present, &verified); err != nil {
		t.Fatalf("hubd blocks migrate said %q: %v", stdout.String(), err)
	}
	return copied, present, verified
}

// TestBlocksMigrate moves a hub's blocks from its directory to S3, killed
// (SIGKILL) in the middle of the copy and run again, then back from S3 to
// a directory: each time every block is verified, and a hubd on the new
// location serves every file whole. A damaged block stops a migration.
func TestBlocksMigrate(t *testing.T) {
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "hub")
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	args := hubdArgs(repo)

	p := testhub.StartProcess(t, bin, nil, args...)
	ctx, conn := bucketsDB(t, p, "migrate")
	bc := bucketsclient.New(conn)
	created, err := bc.Create(ctx, "moving", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, root := created.Root.Key, created.Root.Path
	files := map[string][]byte{"big.bin": randomData(12<<20 + 3), "small.txt": []byte("small file")}
	for name, data := range files {
		pushed, err := bc.PushPath(ctx, key, name, bytes.NewReader(data), root)
		if err != nil {
			t.Fatal(err)
		}
		root = pushed.Root.Path
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	pullAll := func(extra ...string) {
		t.Helper()
		p := testhub.StartProcess(t, bin, v.Env(), append(args, extra...)...)
		bc := bucketsclient.New(testhub.Dial(t, p.Addrs.API))
		for name, data := range files {
			var out bytes.Buffer
			if _, err := bc.PullPath(ctx, key, name, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("pull %s with %v: %v (equal %v)", name, extra, err, bytes.Equal(out.Bytes(), data))
			}
		}
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	local := filepath.Join(repo, "blocks")
	blocks := 0 // one file each, in shard directories
	err = filepath.WalkDir(local, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			blocks++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if blocks < 13 {
		t.Fatalf("%d blocks in the repo, want at least the 13 of big.bin", blocks)
	}

	// Local → S3, killed once some uploads went through.
	target, err := url.Parse(v.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	const before = 5
	proxy := &holdUploads{next: httputil.NewSingleHostReverseProxy(target), n: before, passed: make(chan struct{})}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	s3URL := v.BlocksURL("hub", "moved")
	cmd := exec.Command(bin, append([]string{"blocks", "migrate", "--to", strings.Replace(s3URL, v.Endpoint, srv.URL, 1)}, args...)...)
	cmd.Env = append(os.Environ(), v.Env()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-proxy.passed
	cmd.Process.Kill()
	cmd.Wait()
	copied, present, verified := migrated(t, bin, v.Env(), append([]string{"--to", s3URL}, args...)...)
	if present < before || copied+present != blocks || verified != blocks {
		t.Fatalf("resumed migration: copied %d, present %d, verified %d; want the %d blocks, at least %d present from the killed run", copied, present, verified, blocks, before)
	}
	pullAll("--blocks", s3URL)

	// S3 → a directory.
	back := filepath.Join(t.TempDir(), "blocks")
	copied, present, verified = migrated(t, bin, v.Env(), append([]string{"--to", back}, append(args, "--blocks", s3URL)...)...)
	if copied != blocks || present != 0 || verified != blocks {
		t.Fatalf("migration back: copied %d, present %d, verified %d; want all %d copied", copied, present, verified, blocks)
	}
	pullAll("--blocks", back)

	// A damaged block in the source stops the migration, naming it.
	for _, o := range s3Objects(t, v, "hub", "moved/blocks") {
		b, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 1<<20 {
			b[7] ^= 1
			if err := os.WriteFile(o, b, 0o644); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	bad := exec.Command(bin, append([]string{"blocks", "migrate", "--to", filepath.Join(t.TempDir(), "blocks"), "--blocks", s3URL}, args...)...)
	bad.Env = append(os.Environ(), v.Env()...)
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "damaged") {
		t.Fatalf("migration of a damaged block: %v\n%s\nwant a failure saying the block is damaged", err, out)
	}

	// Usage errors.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"blocks"}, "usage: hubd blocks migrate"},
		{append([]string{"blocks", "migrate"}, args...), "--to: say where the blocks go"},
		{append([]string{"blocks", "migrate", "--to", "relative"}, args...), "neither an absolute directory nor an s3:// URL"},
		{append([]string{"blocks", "migrate", "--to", local}, args...), "the blocks are at " + local + " already"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("hubd %v: %v, %s; want a failure saying %q", tc.args, err, out, tc.want)
		}
	}
}
