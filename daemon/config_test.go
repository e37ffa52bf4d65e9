package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hubd.json")
	os.WriteFile(file, []byte(`{"api-addr": "127.0.0.1:1", "web-addr": "127.0.0.1:2", "gateway-addr": "127.0.0.1:3",
		"p2p-addr": ["/ip4/127.0.0.1/tcp/4"], "dev": true, "session-ttl": "1h"}`), 0o600)
	cfg, err := LoadConfig([]string{"--config", file, "--api-addr", "127.0.0.1:9"},
		env(map[string]string{"HUBD_API_ADDR": "127.0.0.1:8", "HUBD_WEB_ADDR": "127.0.0.1:7"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"flag beats env and file", cfg.APIAddr, "127.0.0.1:9"},
		{"env beats file", cfg.WebAddr, "127.0.0.1:7"},
		{"file beats default", cfg.GatewayAddr, "127.0.0.1:3"},
		{"list from file", strings.Join(cfg.P2PAddr, ","), "/ip4/127.0.0.1/tcp/4"},
		{"duration from file", cfg.SessionTTL.String(), time.Hour.String()},
		{"default kept", cfg.LogLevel, "info"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !cfg.Dev {
		t.Error("bool from file not applied")
	}
}

func TestLoadConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(`{"api_addr": "127.0.0.1:1"}`), 0o600)
	notJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(notJSON, []byte(`api-addr = 1`), 0o600)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown file key", []string{"--config", unknown}, nil, `unknown key "api_addr"`},
		{"file not JSON", []string{"--config", notJSON}, nil, "not a JSON object"},
		{"unknown flag", []string{"--nope"}, nil, "not defined"},
		{"positional argument", []string{"serve"}, nil, "takes only flags"},
		{"address without port", []string{"--api-addr", "localhost"}, nil, "not host:port"},
		{"bad multiaddr", []string{"--p2p-addr", "tcp/4006"}, nil, "not a multiaddr"},
		{"bad duration in env", nil, map[string]string{"HUBD_SESSION_TTL": "forever"}, "HUBD_SESSION_TTL"},
		{"bad bool", []string{"--dev=maybe"}, nil, "true or false"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"zero signature cap", []string{"--sig-max-ahead", "0s"}, nil, "must be positive"},
		{"zero link lifetime", []string{"--link-ttl", "0s"}, nil, "link-ttl: must be positive"},
		{"no new identities", []string{"--max-new-identities-per-app", "0"}, nil, "max-new-identities-per-app: must be positive"},
		{"zero new-identity window", nil, map[string]string{"HUBD_NEW_IDENTITIES_WINDOW": "0s"}, "new-identities-window: must be positive"},
		{"unknown bucket profile", []string{"--bucket-profile", "unixfs-v9"}, nil, "bucket-profile"},
		{"negative quota", []string{"--bucket-quota", "-1"}, nil, "must not be negative"},
		{"negative dir cache", []string{"--dir-cache-size", "-1"}, nil, "must not be negative"},
		{"negative GC interval", []string{"--gc-interval", "-1m"}, nil, "must not be negative"},
		{"no script share", []string{"--script-cpu-share", "0"}, nil, "script-cpu-share: must be a percentage from 1 to 100"},
		{"script share past the machine", []string{"--script-cpu-share", "101"}, nil, "script-cpu-share: must be a percentage from 1 to 100"},
		{"zero script window", []string{"--script-cpu-window", "0s"}, nil, "script-cpu-window: must be positive"},
		{"script threads raised over hubd", []string{"--script-nice", "-1"}, nil, "script-nice: must be a nice value from 0 to 19, not -1"},
		{"script nice past the scale", []string{"--script-nice", "20"}, nil, "script-nice: must be a nice value from 0 to 19, not 20"},
		{"negative running scripts", []string{"--script-max-running", "-1"}, nil, "script-max-running not negative"},
		{"no listen cache", []string{"--listen-cache-size", "0"}, nil, "listen-cache-size: must be positive"},
		{"relative blocks directory", []string{"--blocks", "blocks"}, nil, "neither an absolute directory nor an s3:// URL"},
		{"blocks URL of another scheme", []string{"--blocks", "https://s3.example.com/b"}, nil, "is not s3://BUCKET/PREFIX"},
		{"unknown blocks URL parameter", []string{"--blocks", "s3://b/p?colour=red"}, nil, `unknown parameter "colour"`},
		{"no block uploads", []string{"--blocks-uploads", "0"}, nil, "blocks-uploads: must be positive"},
		{"cache of a blocks directory", []string{"--blocks-cache", "/tmp/cache"}, nil, "only an s3:// blocks store has a cache"},
		{"relative cache directory", []string{"--blocks", "s3://b/p", "--blocks-cache", "cache"}, nil, `"cache" is not an absolute directory`},
		{"no cache size", []string{"--blocks-cache-size", "0"}, nil, "blocks-cache-size: must be positive"},
		{"replication memory below a frame", []string{"--repl-max-frame", "1024", "--repl-max-memory", "1023"}, nil, "repl-max-memory: must hold one frame of repl-max-frame (1024 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(c.args, env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want an error saying %q", err, c.want)
			}
		})
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	u := Usage()
	for _, want := range []string{"--api-addr (HUBD_API_ADDR)", "--dev (HUBD_DEV)", "--smtp-addr (HUBD_SMTP_ADDR)", "[default 127.0.0.1:3006]"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %q:\n%s", want, u)
		}
	}
}
