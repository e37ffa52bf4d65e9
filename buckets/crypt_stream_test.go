package buckets

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/selfhub/hub/errors"
)

// seal encrypts plain under key in memory.
func seal(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	r, err := newEncryptReader(key, bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// open decrypts sealed under key in memory.
func open(key, sealed []byte) ([]byte, error) {
	d, err := newDecryptReader(key, bytes.NewReader(sealed), int64(len(sealed)))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(d)
}

func TestStreamRoundTripSizes(t *testing.T) {
	key := randomBytes(t, pathKeySize)
	for _, n := range []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3 * SegmentSize, 3*SegmentSize + 7} {
		plain := randomBytes(t, n)
		sealed := seal(t, key, plain)
		segs := max(1, (n+SegmentSize-1)/SegmentSize)
		if want := headerSize + n + segs*tagSize; len(sealed) != want {
			t.Fatalf("n=%d: sealed %d bytes; want a header, the plaintext and a tag for each of %d segments, %d", n, len(sealed), segs, want)
		}
		if got, err := PlaintextSize(int64(len(sealed))); err != nil || got != int64(n) {
			t.Fatalf("n=%d: PlaintextSize = %d, %v", n, got, err)
		}
		got, err := open(key, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: round trip: %v (equal %v)", n, err, bytes.Equal(got, plain))
		}
	}
}

func TestStreamRanges(t *testing.T) {
	key := randomBytes(t, pathKeySize)
	plain := randomBytes(t, 5*SegmentSize+123)
	sealed := seal(t, key, plain)
	d, err := newDecryptReader(key, bytes.NewReader(sealed), int64(len(sealed)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range [][2]int{{0, 10}, {SegmentSize - 5, 10}, {2*SegmentSize + 1, SegmentSize * 2}, {len(plain) - 3, 3}, {len(plain), 0}} {
		if _, err := d.Seek(int64(rg[0]), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, rg[1])
		if _, err := io.ReadFull(d, got); err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		if !bytes.Equal(got, plain[rg[0]:rg[0]+rg[1]]) {
			t.Fatalf("range %v: wrong bytes", rg)
		}
	}
	if _, err := d.Seek(-1, io.SeekStart); errors.KindOf(err) != errors.Invalid {
		t.Fatalf("seek before start: %v", err)
	}
}

func TestStreamDetectsTampering(t *testing.T) {
	key := randomBytes(t, pathKeySize)
	plain := randomBytes(t, 3*SegmentSize+50)
	sealed := seal(t, key, plain)
	seg := func(i int) []byte { return sealed[headerSize+i*sealedSize : headerSize+(i+1)*sealedSize] }
	flip := func(i int) []byte { c := bytes.Clone(sealed); c[i] ^= 1; return c }
	swapped := bytes.Clone(sealed)
	copy(swapped[headerSize:], seg(1))
	copy(swapped[headerSize+sealedSize:], seg(0))
	other := seal(t, key, plain) // same key and bytes, another salt
	spliced := bytes.Clone(sealed)
	copy(spliced[headerSize+sealedSize:], other[headerSize+sealedSize:headerSize+2*sealedSize])
	cases := []struct {
		name   string
		key    []byte
		sealed []byte
	}{
		{"wrong key", randomBytes(t, pathKeySize), sealed},
		{"flipped header salt", key, flip(len(streamMagic))},
		{"flipped nonce prefix", key, flip(headerSize - 1)},
		{"flipped first segment", key, flip(headerSize + 10)},
		{"flipped last tag", key, flip(len(sealed) - 1)},
		{"reordered segments", key, swapped},
		{"spliced from another file", key, spliced},
		{"truncated at a segment boundary", key, sealed[:headerSize+3*sealedSize]},
		{"truncated mid-segment", key, sealed[:len(sealed)-7]},
		{"last segment dropped and tag kept", key, sealed[:headerSize+2*sealedSize]},
		{"bad magic", key, append([]byte("xxxx"), sealed[4:]...)},
		{"too short", key, sealed[:headerSize+3]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := open(c.key, c.sealed)
			if errors.KindOf(err) != errors.DataLoss {
				t.Fatalf("err = %v, want DataLoss", err)
			}
			// Nothing of a failed segment comes out: at most the segments
			// before it, which authenticated.
			if len(got) > 0 && !bytes.Equal(got, plain[:len(got)]) {
				t.Fatal("returned bytes that are not the plaintext")
			}
		})
	}
}

func FuzzDecryptSegments(f *testing.F) {
	key := bytes.Repeat([]byte{7}, pathKeySize)
	f.Add(seal(f, key, nil))
	f.Add(seal(f, key, []byte("hello")))
	f.Add(seal(f, key, bytes.Repeat([]byte("x"), SegmentSize+3)))
	f.Fuzz(func(t *testing.T, sealed []byte) {
		d, err := newDecryptReader(key, bytes.NewReader(sealed), int64(len(sealed)))
		if err != nil {
			return
		}
		for _, off := range []int64{0, SegmentSize, d.Size() / 2} {
			if _, err := d.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(d); err != nil && errors.KindOf(err) != errors.DataLoss {
				t.Fatalf("error of kind %v: %v", errors.KindOf(err), err)
			}
		}
	})
}

func TestNamesRoundTripAndHide(t *testing.T) {
	c, err := newNameCipher(randomBytes(t, pathKeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newNameCipher(randomBytes(t, pathKeySize))
	for _, name := range []string{"a", "secret-report.pdf", string(bytes.Repeat([]byte("n"), MaxNameLen))} {
		link := c.seal("docs", name)
		if link != c.seal("docs", name) {
			t.Fatal("sealing is not deterministic: lookups would fail")
		}
		if link == c.seal("docs/x", name) || link == c.seal("", name) {
			t.Fatal("equal names in different directories give equal link names")
		}
		if len(name) > 1 && bytes.Contains([]byte(link), []byte(name)) {
			t.Fatalf("link name %q shows the name", link)
		}
		if got, err := c.open("docs", link); err != nil || got != name {
			t.Fatalf("open = %q, %v", got, err)
		}
		if _, err := c.open("other", link); errors.KindOf(err) != errors.DataLoss {
			t.Fatalf("a link name opened in another directory: %v", err)
		}
		if _, err := other.open("docs", link); errors.KindOf(err) != errors.DataLoss {
			t.Fatalf("another key opened a name: %v", err)
		}
	}
	for _, bad := range []string{"plain.txt", "~!!", "~" + nameEncoding.EncodeToString([]byte("short"))} {
		if _, err := c.open("", bad); errors.KindOf(err) != errors.DataLoss {
			t.Fatalf("open(%q) = %v, want DataLoss", bad, err)
		}
	}
}

// FuzzTamperedStream alters one byte of a valid encrypted file and maybe
// cuts it short: either the file still opens to exactly the plaintext
// (nothing changed) or the read fails with DataLoss, having returned only
// a prefix of the plaintext.
func FuzzTamperedStream(f *testing.F) {
	key := bytes.Repeat([]byte{9}, pathKeySize)
	plain := bytes.Repeat([]byte("0123456789abcdef"), (2*SegmentSize+100)/16)
	sealed := seal(f, key, plain)
	f.Add(uint32(0), byte(1), uint32(0))
	f.Add(uint32(headerSize+sealedSize+3), byte(0x80), uint32(0))
	f.Add(uint32(0), byte(0), uint32(sealedSize))
	f.Fuzz(func(t *testing.T, pos uint32, flip byte, cut uint32) {
		c := bytes.Clone(sealed)
		c[int(pos)%len(c)] ^= flip
		c = c[:len(c)-int(cut)%len(c)]
		got, err := open(key, c)
		switch {
		case err == nil && !bytes.Equal(got, plain):
			t.Fatal("an altered file opened to other bytes")
		case err == nil && (flip != 0 || len(c) != len(sealed)):
			t.Fatal("an altered file opened")
		case err != nil && errors.KindOf(err) != errors.DataLoss:
			t.Fatalf("error of kind %v: %v", errors.KindOf(err), err)
		case err != nil && !bytes.Equal(got, plain[:len(got)]):
			t.Fatal("returned bytes that are not the plaintext")
		}
	})
}

func TestStreamRefusesTruncatedSource(t *testing.T) {
	src := io.MultiReader(bytes.NewReader(make([]byte, SegmentSize+10)), iotest.ErrReader(io.ErrUnexpectedEOF))
	r, err := newEncryptReader(randomBytes(t, pathKeySize), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("a source cut short was encrypted as a whole file")
	}
}
