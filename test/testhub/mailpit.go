package testhub

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

// Mailpit is a real SMTP server (github.com/axllent/mailpit, pinned in
// go.mod as a tool) whose HTTP API lets tests read what hubd sent.
type Mailpit struct {
	SMTPAddr string // host:port for hubd's --smtp-addr
	API      string // base URL of the HTTP API
	t        testing.TB
	mu       sync.Mutex
	seen     []string // guarded by mu: IDs already returned by Next
}

// StartMailpit builds and starts mailpit on free loopback ports; it is
// stopped when the test ends.
func StartMailpit(t testing.TB) *Mailpit {
	t.Helper()
	bin := Build(t, "github.com/axllent/mailpit")
	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr,
		"--database", filepath.Join(t.TempDir(), "mail.db"), "--disable-version-check")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	m := &Mailpit{SMTPAddr: smtpAddr, API: "http://" + httpAddr, t: t}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(m.API + "/livez")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not answer on %s within 2 minutes: %v", httpAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Message is an e-mail as mailpit received it.
type Message struct {
	ID      string
	Subject string
	Text    string
}

// Next waits for a message to addr that Next has not returned before, and
// returns it. It waits up to 2 minutes, which only a lost message reaches.
func (m *Mailpit) Next(addr string) Message {
	m.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var list struct {
			Messages []struct {
				ID string
				To []struct{ Address string }
			}
		}
		m.getJSON("/api/v1/messages", &list)
		for i := len(list.Messages) - 1; i >= 0; i-- { // oldest first
			msg := list.Messages[i]
			if !slices.ContainsFunc(msg.To, func(a struct{ Address string }) bool { return a.Address == addr }) {
				continue
			}
			m.mu.Lock()
			seen := slices.Contains(m.seen, msg.ID)
			if !seen {
				m.seen = append(m.seen, msg.ID)
			}
			m.mu.Unlock()
			if seen {
				continue
			}
			var full Message
			m.getJSON("/api/v1/message/"+msg.ID, &full)
			return full
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.t.Fatalf("no new e-mail to %s within 2 minutes", addr)
	return Message{}
}

func (m *Mailpit) getJSON(path string, v any) {
	m.t.Helper()
	resp, err := http.Get(m.API + path)
	if err != nil {
		m.t.Fatalf("mailpit %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		m.t.Fatalf("mailpit %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		m.t.Fatalf("mailpit %s: %v", path, err)
	}
}

var linkRe = regexp.MustCompile(`https?://\S+/(?:confirm|consent)/\S+`)

// Link returns the first confirmation or invitation link in text.
func Link(t testing.TB, text string) string {
	t.Helper()
	l := linkRe.FindString(text)
	if l == "" {
		t.Fatalf("no link in e-mail text:\n%s", text)
	}
	return l
}

// Follow GETs url as a person's browser would and returns the status code
// and body.
func Follow(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("follow %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("follow %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for programs that cannot be told to pick one.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
