package threads

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

func TestIDRoundTrip(t *testing.T) {
	for _, v := range []Variant{Raw, AccessControlled} {
		t.Run(v.String(), func(t *testing.T) {
			id, err := NewID(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := id.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(id.Bytes()) != 2+32 || id.Version() != IDVersion || id.Variant() != v {
				t.Fatalf("id %x: version %d variant %v", id.Bytes(), id.Version(), id.Variant())
			}
			s := id.String()
			if !strings.HasPrefix(s, "b") || strings.ToLower(s) != s {
				t.Fatalf("%s is not lower-case multibase base32", s)
			}
			if back, err := Decode(s); err != nil || back != id {
				t.Fatalf("Decode(%s) = %x, %v", s, back, err)
			}
			if back, err := Cast(id.Bytes()); err != nil || back != id {
				t.Fatalf("Cast = %x, %v", back, err)
			}
			b58, _ := multibase.Encode(multibase.Base58BTC, id.Bytes())
			if back, err := Decode(b58); err != nil || back != id {
				t.Fatalf("Decode(%s) = %x, %v", b58, back, err)
			}
		})
	}
	if a, _ := NewID(Raw); a == func() ID { b, _ := NewID(Raw); return b }() {
		t.Fatal("two new IDs are equal")
	}
}

// TestIDFromJS parses IDs made by @textile/threads-id 0.6.1
// (ThreadID.fromRandom(variant, 32).toString(), and toString("base58btc")).
func TestIDFromJS(t *testing.T) {
	for _, tc := range []struct {
		name, in, hex, base32 string
		variant               Variant
	}{
		{"raw", "bafkxvgog4gb3pkp3ugeqrgsy6ylvtuqrnuh3mmo6jcv3kcytfc53jwi",
			"01557a99c6e183b7a9fba189089a58f61759d2116d0fb631de48abb50b1328bbb4d9",
			"bafkxvgog4gb3pkp3ugeqrgsy6ylvtuqrnuh3mmo6jcv3kcytfc53jwi", Raw},
		{"access controlled", "bafylj4phseotrszqf3iuwetypc55ibc6x4c6svdskupvhe26kbecn2y",
			"0170b4f1e7911d38cb302ed14b127878bbd4045ebf05e95472551f53935e504826eb",
			"bafylj4phseotrszqf3iuwetypc55ibc6x4c6svdskupvhe26kbecn2y", AccessControlled},
		{"raw in base58btc", "z2kSYb8Bwv8tD41tV6KN6QWyXnWpj9KYiXXf8iobhZN2KNQ",
			"01557a99c6e183b7a9fba189089a58f61759d2116d0fb631de48abb50b1328bbb4d9",
			"bafkxvgog4gb3pkp3ugeqrgsy6ylvtuqrnuh3mmo6jcv3kcytfc53jwi", Raw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := Decode(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(id.Bytes()); got != tc.hex {
				t.Fatalf("bytes %s, want %s", got, tc.hex)
			}
			if id.Variant() != tc.variant || id.String() != tc.base32 {
				t.Fatalf("variant %v string %s", id.Variant(), id)
			}
		})
	}
}

func TestIDRefused(t *testing.T) {
	random := strings.Repeat("\x07", 32)
	for _, tc := range []struct {
		name, raw, why string
	}{
		{"empty", "", "empty"},
		{"version 2", "\x02\x55" + random, "unknown version 2"},
		{"unknown variant", "\x01\x56" + random, "unknown variant 0x56"},
		{"truncated varint", "\x01\x80", "bad variant varint"},
		{"non-minimal version", "\x81\x00\x55" + random, "bad version varint"},
		{"random part too short", "\x01\x55" + random[:15], "random part is 15 bytes"},
		{"random part too long", "\x01\x70" + strings.Repeat(random, 3), "random part is 96 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Cast([]byte(tc.raw))
			check(t, err, errors.Invalid, tc.why)
			if err := ID(tc.raw).Validate(); err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.why)
			}
			if tc.raw != "" {
				s, _ := multibase.Encode(multibase.Base32, []byte(tc.raw))
				_, err = Decode(s)
				check(t, err, errors.Invalid, tc.why)
			}
		})
	}
	_, err := Decode("!notmultibase")
	check(t, err, errors.Invalid, "not a multibase string")
	_, err = Decode("")
	check(t, err, errors.Invalid, "empty")
	_, err = NewID(0x42)
	check(t, err, errors.Invalid, "unknown thread variant 0x42")
}

// TestJSParsesOurs hands an ID and keys made here to @textile/threads-id
// and @textile/security. It needs node and compat/js/node_modules (make
// compat-deps), and fails without them.
func TestJSParsesOurs(t *testing.T) {
	modules, _ := filepath.Abs("../compat/js/node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@textile/threads-id")); err != nil {
		t.Fatal("compat/js/node_modules is not installed: run `make compat-deps`")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: install Node 20, then run `make compat-deps`")
	}
	id, _ := NewID(AccessControlled)
	full, _ := NewKey()
	script := `
const {ThreadID} = require("@textile/threads-id");
const {ThreadKey} = require("@textile/security");
const [id, full, service] = process.argv.slice(1);
const t = ThreadID.fromString(id);
const k = ThreadKey.fromString(full), s = ThreadKey.fromString(service);
console.log(t.variant(), t.version(), t.toString(), k.canRead(), k.toString(), s.canRead(), s.toString());`
	cmd := exec.Command(node, "-e", script, id.String(), full.String(), full.ServiceOnly().String())
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := strings.Join([]string{"112", "1", id.String(), "true", full.String(), "false", full.ServiceOnly().String()}, " ")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("JavaScript read\n%s\nwant\n%s", got, want)
	}
}

// check fails t unless err has kind and its text contains want.
func check(t *testing.T, err error, kind errors.Kind, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v containing %q", kind, want)
	}
	if !errors.Is(kind, err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q (%v); want %v containing %q", err, errors.KindOf(err), kind, want)
	}
}
