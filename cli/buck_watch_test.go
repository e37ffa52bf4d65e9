package cli

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/test/testhub"
)

// watchDeadline bounds every wait for a watch to act: generous, for a
// loaded machine; the waits poll, so a fast machine does not wait it.
const watchDeadline = 60 * time.Second

// startWatch runs hub buck watch on dir in-process with args until the
// returned stop is called; stop checks that it then ends cleanly. It
// returns once the watch has made its first sync.
func (d *buckDev) startWatch(dir string, args ...string) (stderr *lockedBuffer, stop func()) {
	d.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	stderr = &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		cmd := New(nil, &out, stderr, func(k string) string { return d.env[k] })
		cmd.SetArgs(append([]string{"buck", "--dir", dir, "watch"}, args...))
		done <- cmd.ExecuteContext(ctx)
	}()
	d.eventually("the watch to start", func() bool {
		select {
		case err := <-done:
			d.t.Fatalf("watch ended early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		return strings.Contains(stderr.String(), "Watching "+dir)
	})
	return stderr, func() {
		d.t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil || !strings.HasSuffix(stderr.String(), "Stopped watching.\n") {
				d.t.Errorf("an interrupted watch returned %v, stderr %q; want nil, ending Stopped watching.", err, stderr.String())
			}
		case <-time.After(watchDeadline):
			d.t.Fatal("watch did not stop when its context ended")
		}
	}
}

// eventually polls cond until it holds, failing the test after
// watchDeadline with what it waited for.
func (d *buckDev) eventually(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("waited %v for %s", watchDeadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EBuckWatch keeps a folder in step with its bucket while another
// folder of the same bucket (another machine) pushes to it: each side's
// changes (new files in new directories, edits, deletions) reach the
// other without a command, and a change made on both sides stops the
// watch with pull's error.
func TestE2EBuckWatch(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	here, there := t.TempDir(), t.TempDir()
	writeFiles(t, here, map[string]string{"a.txt": "one", "docs/b.txt": "two"})
	var created bucketJSON
	ann.json(&created, "buck", "--dir", here, "init", "--name", "synced", "--json")
	ann.buck(there, "init", "--existing", created.Key)

	// The first sync pushes what the folder has.
	stderr, stop := ann.startWatch(here, "--settle", "50ms")
	sameTree(t, "bucket after the watch's first sync", ann.remoteTree(here), map[string]string{"a.txt": "one", "docs/b.txt": "two"})

	// The bucket's changes come down. The watch listens from when its
	// Listen reaches the hub, which it cannot report, so push markers
	// from the other folder until one arrives; from then on, nothing is
	// missed.
	ann.buck(there, "pull")
	for i := 0; !exists(ann.pathIn(here, "marker")); i++ {
		if i == int(watchDeadline/(50*time.Millisecond)) {
			t.Fatalf("no marker pushed from the other folder came down; stderr:\n%s", stderr.String())
		}
		writeFiles(t, there, map[string]string{"marker": strconv.Itoa(i)})
		ann.buck(there, "push")
		time.Sleep(50 * time.Millisecond) // pace the markers, not a wait for state
	}
	writeFiles(t, there, map[string]string{"from-there/c.txt": "three", "a.txt": "one, edited there"})
	ann.buck(there, "push")
	ann.eventually("the other folder's push to come down", func() bool {
		return localTree(t, here)["from-there/c.txt"] == "three" && localTree(t, here)["a.txt"] == "one, edited there"
	})

	// The folder's changes go up once they settle: a file in a new
	// directory (watched as it appears), an edit, a deletion.
	writeFiles(t, here, map[string]string{"new/deep/d.txt": "four", "docs/b.txt": "two, edited here"})
	if err := os.Remove(ann.pathIn(here, "marker")); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.txt": "one, edited there", "docs/b.txt": "two, edited here", "from-there/c.txt": "three", "new/deep/d.txt": "four"}
	ann.eventually("the folder's changes to go up", func() bool { return ann.remoteIs(here, want) })
	sameTree(t, "folder after the watch pushed", localTree(t, here), want)

	// A deletion in the bucket comes down.
	ann.buck(there, "pull")
	if err := os.Remove(ann.pathIn(there, "from-there/c.txt")); err != nil {
		t.Fatal(err)
	}
	ann.buck(there, "push")
	delete(want, "from-there/c.txt")
	ann.eventually("the bucket's deletion to come down", func() bool { return sameFiles(localTree(t, here), want) })
	stop()

	// A file changed on both sides while no watch ran: the next watch
	// stops at its first sync with pull's error, and writes nothing.
	ann.buck(there, "pull")
	writeFiles(t, there, map[string]string{"a.txt": "edited there again"})
	ann.buck(there, "push")
	writeFiles(t, here, map[string]string{"a.txt": "edited here meanwhile"})
	msg := ann.buckFails(here, "watch")
	if !strings.HasPrefix(msg, "pulling would overwrite local changes to a.txt (modified here, changed in the bucket)") {
		t.Fatalf("watch over a conflict: error %q", msg)
	}
	if got := localTree(t, here)["a.txt"]; got != "edited here meanwhile" {
		t.Fatalf("the refused watch changed a.txt to %q", got)
	}

	// Settled by hand, a watch that scans (--poll) pushes too.
	ann.buck(here, "pull", "--force")
	_, stop = ann.startWatch(here, "--poll", "50ms", "--settle", "100ms")
	writeFiles(t, here, map[string]string{"polled.txt": "five"})
	want = localTree(t, here)
	if want["polled.txt"] != "five" || want["a.txt"] != "edited there again" {
		t.Fatalf("folder after pull --force: %v", want)
	}
	ann.eventually("a change found by polling to go up", func() bool { return ann.remoteIs(here, want) })
	stop()

	ann.fails("--settle must be positive", "buck", "--dir", here, "watch", "--settle", "0s")
	ann.fails("--poll must not be negative", "buck", "--dir", here, "watch", "--poll", "-1s")
}

// remoteIs reports whether the bucket of the folder dir holds just the
// files want; a bucket changing as it is read does not yet.
func (d *buckDev) remoteIs(dir string, want map[string]string) bool {
	d.t.Helper()
	got, err := d.tryRemoteTree(dir)
	return err == nil && sameFiles(got, want)
}

// pathIn returns the local name of the slash-separated path in dir.
func (d *buckDev) pathIn(dir, p string) string {
	return (&folder{dir: dir}).path(p)
}

// sameFiles reports whether two trees hold the same files and contents.
func sameFiles(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for p, c := range want {
		if g, ok := got[p]; !ok || g != c {
			return false
		}
	}
	return true
}

// TestE2EBuckWatchBinarySIGINT runs hub buck watch as a built binary and
// interrupts it as Ctrl-C would: it stops at once, with exit status 0.
func TestE2EBuckWatchBinarySIGINT(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hub")
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "one"})
	ann.buck(dir, "init", "--name", "sigint")

	cmd := exec.Command(bin, "buck", "--dir", dir, "watch")
	cmd.Env = []string{"HUB_HOME=" + ann.home, "HUB_API=" + h.Addrs.API}
	lines, err := interruptAt(t, cmd, func(line string) bool { return strings.HasPrefix(line, "Watching ") })
	if err != nil || lines[len(lines)-1] != "Stopped watching." {
		t.Fatalf("interrupted hub buck watch: %v, stderr %q; want exit 0 after Stopped watching.", err, lines)
	}
	if got := ann.remoteTree(dir); got["a.txt"] != "one" {
		t.Errorf("the watch's first sync did not push a.txt: %v", got)
	}
}
