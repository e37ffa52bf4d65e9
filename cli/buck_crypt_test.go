package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/selfhub/hub/test/testhub"
)

// cryptRun runs hub buck encrypt or decrypt in-process with stdin and
// returns stdout, stderr and the exit status. They need no hub.
func cryptRun(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	d := newDevAt(t, "127.0.0.1:1", nil) // nothing listens there: no call may be made
	return d.run(stdin, append([]string{"buck"}, args...)...)
}

// cryptOK is cryptRun that must succeed; it returns stdout.
func cryptOK(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errs, code := cryptRun(t, stdin, args...)
	if code != 0 {
		t.Fatalf("hub buck %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
	}
	return out
}

// cryptFails is cryptRun that must fail with exactly "Error: want".
func cryptFails(t *testing.T, want string, stdin io.Reader, args ...string) {
	t.Helper()
	out, errs, code := cryptRun(t, stdin, args...)
	if code != 1 || !strings.HasSuffix(errs, "Error: "+want+"\n") {
		t.Errorf("hub buck %s: exit %d, stdout %d bytes, stderr %q; want exit 1 and Error: %s", strings.Join(args, " "), code, len(out), errs, want)
	}
}

func TestBuckEncrypt(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	plain := randomString(3<<20 + 5) // 49 chunks, the last one short
	writeFiles(t, dir, map[string]string{"plain": plain, "empty": "", "notes.txt": "not encrypted"})

	// To a file and back, through stdout. Work factor 10 keeps each
	// password check here to a millisecond; TestE2EBuckEncryptLarge uses
	// the default.
	const wf = "--work-factor=10"
	if out := cryptOK(t, nil, "encrypt", in("plain"), "correct horse", "--out", in("enc"), wf); out != "" {
		t.Errorf("encrypt --out printed %q", out)
	}
	enc := readFile(t, in("enc"))
	if !strings.HasPrefix(enc, "age-encryption.org/v1\n-> scrypt ") || !strings.Contains(enc, " 10\n") || strings.Contains(enc, plain[:64]) {
		t.Fatalf("the encrypted file starts %q; want an age v1 file with a scrypt recipient", enc[:min(len(enc), 60)])
	}
	if out := cryptOK(t, nil, "decrypt", in("enc"), "correct horse"); out != plain {
		t.Fatalf("decrypt gave %d bytes, not the %d encrypted", len(out), len(plain))
	}
	// It is a plain age file: age itself opens it with the password.
	id, err := age.NewScryptIdentity("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(strings.NewReader(enc), id)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != plain {
		t.Fatalf("age.Decrypt: %d bytes, %v", len(b), err)
	}

	// Stdin to stdout, and an empty file.
	enc2 := cryptOK(t, strings.NewReader(plain), "encrypt", "-", "pw", wf)
	if enc2 == enc {
		t.Error("two encryptions of one file are equal; each needs a fresh salt and key")
	}
	if out := cryptOK(t, strings.NewReader(enc2), "decrypt", "-", "pw"); out != plain {
		t.Errorf("decrypt - gave %d bytes, want %d", len(out), len(plain))
	}
	cryptOK(t, nil, "encrypt", in("empty"), "pw", "--out", in("empty.enc"), wf)
	if out := cryptOK(t, nil, "decrypt", in("empty.enc"), "pw"); out != "" {
		t.Errorf("decrypt of an empty file = %q", out)
	}

	// A wrong password, an altered chunk, a file cut short, a hostile work
	// factor and a file that is not encrypted: clear errors, and --out
	// leaves no file.
	cryptFails(t, "wrong password for "+in("enc"), nil, "decrypt", in("enc"), "Correct horse", "--out", in("out"))
	mid := len(enc) / 2
	writeFiles(t, dir, map[string]string{
		"tampered":  enc[:mid] + string(enc[mid]^1) + enc[mid+1:],
		"truncated": enc[:len(enc)-100],
		"slow":      strings.Replace(enc, " 10\n", " 21\n", 1),
	})
	// The payload starts after the header's last line and a 16-byte
	// nonce; chunks are 64 KiB of plaintext and a 16-byte tag. Every
	// chunk before the altered one is authentic.
	payload := strings.Index(enc, "\n---") + 1
	payload += strings.IndexByte(enc[payload:], '\n') + 1 + 16
	good := (mid - payload) / (64<<10 + 16) * (64 << 10)
	cryptFails(t, fmt.Sprintf("%s is damaged, altered or cut short: only its first %d bytes are authentic", in("tampered"), good),
		nil, "decrypt", in("tampered"), "correct horse", "--out", in("out"))
	// Cut 100 bytes, the last chunk (21 bytes) and the end of the one
	// before: every full chunk but that one is authentic.
	cryptFails(t, fmt.Sprintf("%s is damaged, altered or cut short: only its first %d bytes are authentic", in("truncated"), (len(plain)/(64<<10)-1)*(64<<10)),
		nil, "decrypt", in("truncated"), "correct horse", "--out", in("out"))
	cryptFails(t, in("slow")+" is damaged or was altered: scrypt work factor too large: 21", nil, "decrypt", in("slow"), "correct horse")
	cryptFails(t, in("notes.txt")+" is not a file hub buck encrypt made: it does not start with an age header", nil, "decrypt", in("notes.txt"), "pw")
	if exists(in("out")) {
		t.Error("a failed decrypt --out left its file")
	}
	if names, _ := filepath.Glob(in(".out.tmp-*")); len(names) != 0 {
		t.Errorf("a failed decrypt --out left %v", names)
	}
	cryptFails(t, "open "+in("nosuch")+": no such file or directory", nil, "encrypt", in("nosuch"), "pw")

	// Without PASSWORD, a person is asked (twice to encrypt, until both
	// agree); a script, or stdin that is the file, must pass it.
	_, errs, code := cryptRun(t, strings.NewReader("one\ntwo\nsecret\nsecret\n"), "encrypt", in("plain"), "--out", in("asked"), wf)
	if code != 0 || strings.Count(errs, "Password: ") != 2 || !strings.Contains(errs, "The passwords differ; try again.\n") {
		t.Fatalf("encrypt asking the password: exit %d, stderr %q", code, errs)
	}
	if out := cryptOK(t, strings.NewReader("secret\n"), "decrypt", in("asked")); out != plain {
		t.Error("decrypt with the password asked did not give the file back")
	}
	cryptFails(t, "PASSWORD is required when stdin is not a terminal (or is the file)", nil, "decrypt", in("asked"))
	cryptFails(t, "PASSWORD is required when stdin is not a terminal (or is the file)", strings.NewReader(plain), "encrypt", "-")
	cryptFails(t, "the password is empty; choose one", nil, "encrypt", in("plain"), "")
	cryptFails(t, "--work-factor is 9; use 10 to 20", nil, "encrypt", in("plain"), "pw", "--work-factor=9")
	cryptFails(t, "--work-factor is 21; use 10 to 20", nil, "encrypt", in("plain"), "pw", "--work-factor=21")
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestE2EBuckEncryptLarge encrypts and decrypts a 256 MiB file in a
// child process (the test binary as hub, see TestMain) and checks that
// memory does not grow with the file: the peak resident size is within
// 32 MiB of a 1 KiB file's (scrypt alone takes 256 MiB, the same for
// both, at the default work factor used here).
func TestE2EBuckEncryptLarge(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	const size = 256 << 20
	want := writePattern(t, in("big"), size)
	writePattern(t, in("small"), 1<<10)

	// run runs hub buck with args in a child and returns its peak
	// resident size in bytes.
	run := func(args ...string) int64 {
		t.Helper()
		cmd := exec.Command(os.Args[0], append([]string{"buck"}, args...)...)
		cmd.Env = []string{runCLIEnv + "=1", "HUB_HOME=" + t.TempDir()}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("hub buck %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		var hwm int64
		if _, err := fmt.Sscanf(errb.String(), "VmHWM %d\n", &hwm); err != nil {
			t.Fatalf("hub buck %s: stderr %q; want only the VmHWM line", strings.Join(args, " "), errb.String())
		}
		return hwm
	}
	const slack = 32 << 20
	for _, dir := range [][2][]string{
		{{"encrypt", in("small"), "pw", "--out", in("small.enc")}, {"encrypt", in("big"), "pw", "--out", in("big.enc")}},
		{{"decrypt", in("small.enc"), "pw", "--out", in("small.out")}, {"decrypt", in("big.enc"), "pw", "--out", in("big.out")}},
	} {
		small, big := run(dir[0]...), run(dir[1]...)
		t.Logf("%s: peak RSS %d MiB for 1 KiB, %d MiB for 256 MiB", dir[0][0], small>>20, big>>20)
		if big-small > slack {
			t.Errorf("%s of 256 MiB took %d MiB more memory than of 1 KiB; want under %d MiB more", dir[0][0], (big-small)>>20, slack>>20)
		}
	}
	if got := fileSum(t, in("big.out")); got != want {
		t.Error("the decrypted 256 MiB file differs from the original")
	}
}

// writePattern writes size pseudo-random bytes to file and returns their
// SHA-256.
func writePattern(t *testing.T, file string, size int64) [32]byte {
	t.Helper()
	f, err := os.Create(file)
	if err == nil {
		_, err = io.Copy(f, io.LimitReader(mrand.NewChaCha8([32]byte{1}), size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return fileSum(t, file)
}

// fileSum returns the SHA-256 of file's contents.
func fileSum(t *testing.T, file string) [32]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestE2EBuckEncryptedFile pushes an encrypted file to a bucket and reads
// it back as the README shows: hub buck cat PATH | hub buck decrypt -.
func TestE2EBuckEncryptedFile(t *testing.T) {
	h := testhub.Start(t, nil)
	ann := &buckDev{dev: newDev(t, h), h: h}
	ann.signup("ann")
	dir, plainDir := t.TempDir(), t.TempDir()
	plain := randomString(200<<10 + 1)
	writeFiles(t, plainDir, map[string]string{"report.pdf": plain})
	ann.buck(dir, "init", "--name", "public")
	ann.ok("buck", "encrypt", filepath.Join(plainDir, "report.pdf"), "s3cret", "--out", filepath.Join(dir, "report.pdf.age"), "--work-factor=10")
	ann.buck(dir, "push")
	if got := ann.remoteTree(dir); len(got) != 1 || strings.Contains(got["report.pdf.age"], plain[:64]) {
		t.Fatalf("the bucket holds %d files; want report.pdf.age, encrypted", len(got))
	}
	enc := ann.buck(dir, "cat", "report.pdf.age")
	if out, errs, code := ann.run(strings.NewReader(enc), "buck", "decrypt", "-", "s3cret"); code != 0 || out != plain {
		t.Fatalf("decrypt of the bucket's file: exit %d, %d bytes, stderr %q", code, len(out), errs)
	}
}
