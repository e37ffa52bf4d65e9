package usersclient

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/curve25519"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	alice, bob := newKey(t), newKey(t)
	for _, msg := range [][]byte{{}, []byte("hello"), bytes.Repeat([]byte{0xA5}, 1<<16)} {
		ct, err := Encrypt(bob.GetPublic(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != len(msg)+overhead {
			t.Errorf("ciphertext of %d bytes is %d bytes, want %d", len(msg), len(ct), len(msg)+overhead)
		}
		got, err := Decrypt(bob, ct)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("round trip of %d bytes changed the message", len(msg))
		}
		if _, err := Decrypt(alice, ct); !errors.Is(errors.Invalid, err) {
			t.Errorf("someone else decrypted: %v", err)
		}
		ct[len(ct)-1] ^= 1
		if _, err := Decrypt(bob, ct); !errors.Is(errors.Invalid, err) {
			t.Errorf("an altered ciphertext opened: %v", err)
		}
	}
	// Two encryptions of one message differ (fresh nonce and ephemeral key).
	a, _ := Encrypt(bob.GetPublic(), []byte("x"))
	b, _ := Encrypt(bob.GetPublic(), []byte("x"))
	if bytes.Equal(a[:nonceSize+ephemeralSize], b[:nonceSize+ephemeralSize]) {
		t.Error("two encryptions share a nonce and ephemeral key")
	}
	if _, err := Decrypt(bob, make([]byte, overhead-1)); !errors.Is(errors.Invalid, err) {
		t.Errorf("short ciphertext: %v", err)
	}
}

// The converted keys are one key pair: the Curve25519 public key derived
// from the Ed25519 public key is the base point times the Curve25519
// scalar derived from the private key.
func TestCurveConversionAgrees(t *testing.T) {
	for range 50 {
		k := newKey(t)
		raw, _ := k.Raw()
		pubRaw, _ := k.GetPublic().Raw()
		want, err := curve25519.X25519(curvePrivate(raw)[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		got, err := curvePublic(pubRaw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:], want) {
			t.Fatalf("converted public key %x, want %x", got, want)
		}
	}
	if _, err := curvePublic(make([]byte, 31)); err == nil {
		t.Error("31-byte key converted")
	}
	// y = 1 is the identity point.
	one := make([]byte, 32)
	one[0] = 1
	if _, err := curvePublic(one); err == nil {
		t.Error("the identity point converted")
	}
	// y = 2 is not on the curve (x² is not a square); ed2curve refuses it too.
	two := make([]byte, 32)
	two[0] = 2
	if _, err := curvePublic(two); err == nil {
		t.Error("an off-curve point converted")
	}
}

// node runs script with Node from compat/js, where the pinned @textile
// packages are installed, and decodes its JSON output. The test fails, not
// skips, when Node or the packages are missing: interop is the point.
func node(t *testing.T, script string, env map[string]string) map[string]string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "compat", "js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (%v); install Node 20 and run `make compat-deps`", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@textile", "crypto", "package.json")); err != nil {
		t.Fatalf("@textile/crypto is not installed in compat/js (%v); run `make compat-deps`", err)
	}
	cmd := exec.Command("node", "-e", script)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node printed %q: %v\n%s", out, err, stderr.String())
	}
	return res
}

// jsEncrypt makes a JS identity, encrypts a message to the Go key GO_PUB
// and signs the ciphertext, as Users.sendMessage does.
const jsEncrypt = `
const { PrivateKey, PublicKey } = require('@textile/crypto');
(async () => {
  const id = PrivateKey.fromRandom();
  const msg = new TextEncoder().encode(process.env.MSG);
  const ct = await PublicKey.fromString(process.env.GO_PUB).encrypt(msg);
  const sig = await id.sign(ct);
  console.log(JSON.stringify({
    priv: id.toString(), pub: id.public.toString(),
    ct: Buffer.from(ct).toString('base64'), sig: Buffer.from(sig).toString('base64'),
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`

// jsDecrypt opens CT with the JS key JS_PRIV and checks SIG over it by GO_PUB.
const jsDecrypt = `
const { PrivateKey, PublicKey } = require('@textile/crypto');
(async () => {
  const ct = new Uint8Array(Buffer.from(process.env.CT, 'base64'));
  const sig = new Uint8Array(Buffer.from(process.env.SIG, 'base64'));
  const verified = await PublicKey.fromString(process.env.GO_PUB).verify(ct, sig);
  const msg = await PrivateKey.fromString(process.env.JS_PRIV).decrypt(ct);
  console.log(JSON.stringify({ msg: new TextDecoder().decode(msg), verified: String(verified) }));
})().catch((e) => { console.error(e); process.exit(1); });
`

func TestInteropWithTextileCrypto(t *testing.T) {
	goKey := newKey(t)
	goPub, err := identity.String(goKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	const fromJS, fromGo = "hello from JavaScript ✓", "hello from Go ✓"

	// JS → Go.
	js := node(t, jsEncrypt, map[string]string{"GO_PUB": string(goPub), "MSG": fromJS})
	ct, _ := base64.StdEncoding.DecodeString(js["ct"])
	sig, _ := base64.StdEncoding.DecodeString(js["sig"])
	got, err := Open(goKey, Message{ID: "js", From: hub.PubKey(js["pub"]), Body: ct, Signature: sig})
	if err != nil {
		t.Fatalf("Go cannot open a message from @textile/crypto: %v", err)
	}
	if string(got) != fromJS {
		t.Errorf("JS → Go: %q, want %q", got, fromJS)
	}

	// Go → JS.
	jsPub, err := identity.Parse(hub.PubKey(js["pub"]))
	if err != nil {
		t.Fatal(err)
	}
	ct, err = Encrypt(jsPub, []byte(fromGo))
	if err != nil {
		t.Fatal(err)
	}
	sig, err = goKey.Sign(ct)
	if err != nil {
		t.Fatal(err)
	}
	res := node(t, jsDecrypt, map[string]string{
		"GO_PUB": string(goPub), "JS_PRIV": js["priv"],
		"CT": base64.StdEncoding.EncodeToString(ct), "SIG": base64.StdEncoding.EncodeToString(sig),
	})
	if res["msg"] != fromGo {
		t.Errorf("Go → JS: %q, want %q", res["msg"], fromGo)
	}
	if res["verified"] != "true" {
		t.Errorf("@textile/crypto does not verify the Go signature: %q", res["verified"])
	}
	if !strings.HasPrefix(js["pub"], "b") {
		t.Errorf("JS public key string %q is not multibase base32", js["pub"])
	}
}
