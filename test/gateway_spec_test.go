package test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multibase"
	mh "github.com/multiformats/go-multihash"
)

// The tests here hold hubd's gateway to what the IPFS gateway specs (and
// the ipfs/gateway-conformance suite, see make conformance) ask of it, as
// kubo's gateway does.

// headerList splits a comma-separated header into its trimmed values.
func headerList(resp *http.Response, name string) []string {
	var out []string
	for _, v := range resp.Header.Values(name) {
		for _, s := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// TestGatewayCORS: every gateway response lets any origin read it, as
// kubo's does, and an OPTIONS preflight is answered, so browser apps can
// fetch content from hubd.
func TestGatewayCORS(t *testing.T) {
	w := newGatewayWorld(t)
	urls := map[string]string{
		"ipfs":    w.base + "/ipfs/" + w.bigCID,
		"thread":  w.bucketURL("/docs/a.txt"),
		"ipns":    w.base + "/ipns/" + w.key + "/docs/",
		"missing": w.bucketURL("/nope.txt"),
	}
	for name, url := range urls {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
			t.Run(name+" "+method, func(t *testing.T) {
				resp, _ := do(t, method, url, "Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range")
				if method == http.MethodOptions && resp.StatusCode != http.StatusOK {
					t.Fatalf("preflight status %s; want 200", resp.Status)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
					t.Errorf("Access-Control-Allow-Origin %q; want *", got)
				}
				methods := headerList(resp, "Access-Control-Allow-Methods")
				for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
					if !slices.Contains(methods, m) {
						t.Errorf("Access-Control-Allow-Methods %v lacks %s", methods, m)
					}
				}
				exposed := headerList(resp, "Access-Control-Expose-Headers")
				for _, h := range []string{"Content-Range", "Content-Length", "X-Ipfs-Roots"} {
					if !slices.Contains(exposed, h) {
						t.Errorf("Access-Control-Expose-Headers %v lacks %s", exposed, h)
					}
				}
				allowed := headerList(resp, "Access-Control-Allow-Headers")
				for _, h := range []string{"Range", "Authorization"} {
					if !slices.Contains(allowed, h) {
						t.Errorf("Access-Control-Allow-Headers %v lacks %s", allowed, h)
					}
				}
			})
		}
	}
}

// TestGatewayMethods: the gateway only reads. Any method but GET, HEAD
// and OPTIONS is 405 with an Allow header, on every content path, and
// changes nothing.
func TestGatewayMethods(t *testing.T) {
	w := newGatewayWorld(t)
	for _, url := range []string{w.base + "/ipfs/" + w.bigCID, w.bucketURL("/docs/a.txt"), w.base + "/ipns/" + w.key + "/docs/a.txt"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			resp, body := do(t, method, url)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %s (%s); want 405", method, url, resp.Status, body)
				continue
			}
			if allow := headerList(resp, "Allow"); !slices.Equal(allow, []string{"GET", "HEAD", "OPTIONS"}) {
				t.Errorf("%s %s: Allow %v; want GET, HEAD, OPTIONS", method, url, allow)
			}
			if !strings.Contains(string(body), "only reads") {
				t.Errorf("%s %s: body %q does not say the gateway only reads", method, url, body)
			}
		}
	}
	if resp, body := do(t, http.MethodGet, w.bucketURL("/docs/a.txt")); resp.StatusCode != http.StatusOK || string(body) != "first" {
		t.Fatalf("after the refused writes: status %s, body %q; want the file as pushed", resp.Status, body)
	}
}

// TestGatewayIdentityCID: an identity CID carries its block in itself, so
// the gateway serves it though no store holds it.
func TestGatewayIdentityCID(t *testing.T) {
	w := newGatewayWorld(t)
	const data = "held in the CID"
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.IDENTITY, MhLength: -1}.Sum([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?format=raw"} {
		resp, body := do(t, http.MethodGet, w.base+"/ipfs/"+c.String()+q)
		if resp.StatusCode != http.StatusOK || string(body) != data {
			t.Errorf("/ipfs/<identity CID>%s: status %s, body %q; want 200 and %q", q, resp.Status, body, data)
		}
	}
}

// TestGatewayOnlyIfCached: Cache-Control: only-if-cached asks for content
// only if the gateway holds it: 412 for a block it lacks, 200 for one it
// has.
func TestGatewayOnlyIfCached(t *testing.T) {
	w := newGatewayWorld(t)
	absent, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("not on this hub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, url string
		want              int
	}{
		{"absent GET", http.MethodGet, w.base + "/ipfs/" + absent.String(), http.StatusPreconditionFailed},
		{"absent HEAD", http.MethodHead, w.base + "/ipfs/" + absent.String(), http.StatusPreconditionFailed},
		{"absent CAR", http.MethodGet, w.base + "/ipfs/" + absent.String() + "?format=car", http.StatusPreconditionFailed},
		{"held GET", http.MethodGet, w.base + "/ipfs/" + w.bigCID, http.StatusOK},
		{"held HEAD", http.MethodHead, w.base + "/ipfs/" + w.bigCID, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := do(t, tc.method, tc.url, "Cache-Control", "only-if-cached"); resp.StatusCode != tc.want {
				t.Fatalf("status %s (%s); want %d", resp.Status, body, tc.want)
			}
		})
	}
}

// TestGatewayCanonicalIPNS: an IPNS name in another form than base36
// CIDv1 (a base58 peer ID, the CIDv0-like Qm… of an RSA key, another
// base) is redirected to that form, with the rest of the path and the
// query; a bucket's key so, and anyone else's name too.
func TestGatewayCanonicalIPNS(t *testing.T) {
	w := newGatewayWorld(t)
	key, err := cid.Decode(w.key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.FromCid(key)
	if err != nil {
		t.Fatal(err)
	}
	base32, err := key.StringOfBase(multibase.Base32)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"peer ID", "/ipns/" + id.String() + "/docs/a.txt?x=1", "/ipns/" + w.key + "/docs/a.txt?x=1"},
		{"base32", "/ipns/" + base32 + "/docs/", "/ipns/" + w.key + "/docs/"},
		{"thread path", "/thread/" + w.thread + "/buckets/" + id.String() + "/docs/a.txt", "/thread/" + w.thread + "/buckets/" + w.key + "/docs/a.txt"},
		// The suite's RSA key: not on this hub, and still redirected, as kubo does.
		{"CIDv0-like RSA key", "/ipns/QmcJM7PRfkSbcM5cf1QugM5R37TLRKyJGgBEhXjLTB8uA2/root2/", "/ipns/k2k4r8ol4m8kkcqz509c1rcjwunebj02gcnm5excpx842u736nja8ger/root2/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, w.base+tc.path)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %s (%s); want 302", resp.Status, body)
			}
			if loc := resp.Header.Get("Location"); loc != tc.want {
				t.Fatalf("Location %q; want %q", loc, tc.want)
			}
		})
	}
	// Followed, the redirect reads the bucket.
	resp, _ := do(t, http.MethodGet, w.base+"/ipns/"+id.String()+"/docs/a.txt")
	if resp, body := do(t, http.MethodGet, w.base+resp.Header.Get("Location")); resp.StatusCode != http.StatusOK || string(body) != "first" {
		t.Fatalf("following the redirect: status %s, body %q; want the file", resp.Status, body)
	}
}
