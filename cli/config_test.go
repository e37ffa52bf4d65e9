package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/selfhub/hub/errors"
)

func TestConfigRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", ".hub")
	want := config{API: "127.0.0.1:3006", Session: "sess", Username: "alice", Email: "alice@example.com", Key: "bkey"}
	if err := writeConfig(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("read %+v, want %+v", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, configName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("config mode = %v, want 0600: it holds a session", perm)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	// Overwriting leaves exactly one file behind, with the new content.
	want.Session = ""
	if err := writeConfig(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err := readConfig(dir); err != nil || got != want {
		t.Errorf("after rewrite read %+v, %v; want %+v", got, err, want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("config dir holds %d files, want 1 (temporary files must not be left)", len(ents))
	}
}

func TestReadConfig(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" means no file
		want    config
		kind    errors.Kind
	}{
		{name: "missing file is empty", want: config{}},
		{name: "known keys", content: `{"session":"s","username":"u"}`, want: config{Session: "s", Username: "u"}},
		{name: "unknown key is refused", content: `{"sesion":"s"}`, kind: errors.Invalid},
		{name: "not JSON", content: `session: s`, kind: errors.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				if err := os.WriteFile(filepath.Join(dir, configName), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readConfig(dir)
			if tt.kind != errors.Other {
				if !errors.Is(tt.kind, err) {
					t.Fatalf("got %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestConfigDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
		fail bool
	}{
		{"HUB_HOME wins", map[string]string{"HUB_HOME": "/x/hub", "HOME": "/home/a"}, "/x/hub", false},
		{"home directory", map[string]string{"HOME": "/home/a"}, filepath.Join("/home/a", ".hub"), false},
		{"Windows profile", map[string]string{"USERPROFILE": `C:\Users\a`}, filepath.Join(`C:\Users\a`, ".hub"), false},
		{"nowhere", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configDir(func(k string) string { return tt.env[k] })
			if tt.fail {
				if !errors.Is(errors.FailedPrecondition, err) {
					t.Errorf("got %q, %v; want a FailedPrecondition error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
