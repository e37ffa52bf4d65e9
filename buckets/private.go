package buckets

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"strings"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mbase "github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

// Private buckets.
//
// The hub encrypts a private bucket's contents itself (server-side, as
// the original hub did): file contents as authenticated streams
// (crypt_stream.go) and directory entry names (crypt_names.go), with keys
// that never leave the hub. Blocks stay ordinary UnixFS blocks, so they
// replicate and are collected like any others, but hold only ciphertext:
// ListIPFSPath, PullIPFSPath and the /ipfs gateway return ciphertext and
// encrypted names; the bucket API and the gateway's bucket paths decrypt
// for callers with a role.
//
// Keys. The bucket key (the instance's "key") is the path key of the root.
// A path may carry a path key of its own in the bucket's metadata
// (path → {key}); every file and directory uses the path key of its
// nearest ancestor-or-self that has one. A file's content key is derived
// from that path key and a random per-file salt; a directory's entry names
// are sealed with a key derived from the path key that governs the
// directory. When an identity loses a role on a path (SetPathRoles), the
// path gets a fresh key, the keys of the paths below it are dropped, and
// the subtree is re-encrypted under the new key before the root moves
// (private_rekey.go), so the old keys open nothing that is current.
type keyring struct {
	b Bucket
	// names caches name ciphers by encoded path key.
	names map[string]nameCipher
}

// pathKeySize is the size of bucket and path keys.
const pathKeySize = 32

// newPathKey returns a fresh random key in its stored form.
func newPathKey() (string, error) {
	k := make([]byte, pathKeySize)
	if _, err := rand.Read(k); err != nil {
		return "", errors.E(errors.Internal, err)
	}
	return mbase.Encode(mbase.Base32, k)
}

// keysOf returns the keyring of b, or nil for a public bucket: the nil
// keyring passes names and contents through unchanged.
func keysOf(b Bucket) *keyring {
	if b.LinkKey == "" {
		return nil
	}
	return &keyring{b: b, names: map[string]nameCipher{}}
}

// IsPrivate reports whether the bucket's contents are encrypted.
func (b Bucket) IsPrivate() bool { return b.LinkKey != "" }

// KeyID is a public fingerprint of a stored key: what the API shows
// instead of key material.
func KeyID(key string) string {
	h := sha256.Sum256([]byte(key))
	s, _ := mbase.Encode(mbase.Base32, h[:16])
	return s
}

// pathKey returns the stored form of the path key that governs segs.
func (k *keyring) pathKey(segs []string) string {
	for i := len(segs); i > 0; i-- {
		if m, ok := k.b.Metadata[join(segs[:i])]; ok && m.Key != "" {
			return m.Key
		}
	}
	if m, ok := k.b.Metadata[""]; ok && m.Key != "" {
		return m.Key
	}
	return k.b.LinkKey
}

// rawKey decodes a stored key.
func rawKey(stored string) ([]byte, error) {
	const op errors.Op = "buckets.rawKey"
	_, k, err := mbase.Decode(stored)
	if err != nil || len(k) != pathKeySize {
		return nil, errors.E(op, errors.Internal, "a key of this private bucket is malformed in its metadata; restore the bucket's instance")
	}
	return k, nil
}

// nameCipher returns the cipher of the entry names of directory dir.
func (k *keyring) nameCipher(dir []string) (nameCipher, error) {
	stored := k.pathKey(dir)
	if c, ok := k.names[stored]; ok {
		return c, nil
	}
	raw, err := rawKey(stored)
	if err != nil {
		return nameCipher{}, err
	}
	c, err := newNameCipher(raw)
	if err != nil {
		return nameCipher{}, errors.E(errors.Internal, err)
	}
	k.names[stored] = c
	return c, nil
}

// sealPath returns the link names of the path segs.
func (k *keyring) sealPath(segs []string) ([]string, error) {
	if k == nil {
		return segs, nil
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		c, err := k.nameCipher(segs[:i])
		if err != nil {
			return nil, err
		}
		out[i] = c.seal(join(segs[:i]), s)
	}
	return out, nil
}

// sealName returns the link name of the entry name of directory dir.
func (k *keyring) sealName(dir []string, name string) (string, error) {
	if k == nil {
		return name, nil
	}
	c, err := k.nameCipher(dir)
	if err != nil {
		return "", err
	}
	return c.seal(join(dir), name), nil
}

// openName returns the entry name behind link in directory dir.
func (k *keyring) openName(dir []string, link string) (string, error) {
	if k == nil {
		return link, nil
	}
	c, err := k.nameCipher(dir)
	if err != nil {
		return "", err
	}
	return c.open(join(dir), link)
}

// sealFile returns the reader of what to store for the file at segs whose
// contents r reads.
func (k *keyring) sealFile(segs []string, r io.Reader) (io.Reader, error) {
	if k == nil {
		return r, nil
	}
	raw, err := rawKey(k.pathKey(segs))
	if err != nil {
		return nil, err
	}
	return newEncryptReader(raw, r)
}

// plainReader is a file's contents, seekable, with their size.
type plainReader interface {
	io.ReadSeeker
	io.WriterTo
}

// openFile returns the contents of the file at nd (the path segs) and
// their size.
func (k *keyring) openFile(ctx context.Context, dag ipld.DAGService, nd ipld.Node, segs []string) (plainReader, int64, error) {
	const op errors.Op = "buckets.openFile"
	dr, err := uio.NewDagReader(ctx, nd, dag)
	if err == uio.ErrIsDir {
		return nil, 0, errors.Errorf(op, errors.Invalid, "%q is a directory; pull a file, or list the directory", "/"+join(segs))
	}
	if err != nil {
		return nil, 0, errors.E(op, errors.Internal, err)
	}
	if k == nil {
		return dr, int64(dr.Size()), nil
	}
	raw, err := rawKey(k.pathKey(segs))
	if err != nil {
		return nil, 0, err
	}
	d, err := newDecryptReader(raw, dr, int64(dr.Size()))
	if err != nil {
		return nil, 0, errors.E(op, err)
	}
	return d, d.Size(), nil
}

// plainSize is the size of the contents of a file stored as n bytes.
func (k *keyring) plainSize(n int64) (int64, error) {
	if k == nil {
		return n, nil
	}
	return PlaintextSize(n)
}

// isUnder reports whether path p (joined) is q or below it.
func isUnder(p, q string) bool {
	return q == "" || p == q || strings.HasPrefix(p, q+"/")
}

// keyID names the path key that governs segs ("" for a public bucket), to
// tell whether keys changed between sealing a file and linking it.
func (k *keyring) keyID(segs []string) string {
	if k == nil {
		return ""
	}
	return k.pathKey(segs)
}

// find returns the node at the path segs from root, looking up sealed
// names in a private bucket; errors name the plaintext path.
func (s *Service) find(ctx context.Context, k *keyring, root cid.Cid, segs []string) (ipld.Node, error) {
	links, err := k.sealPath(segs)
	if err != nil {
		return nil, err
	}
	nd, err := resolve(ctx, s.dag, root, links)
	return nd, k.plainErr(segs, err)
}

// plainErr rewrites an error about sealed path segs to name the plaintext
// path instead.
func (k *keyring) plainErr(segs []string, err error) error {
	if k == nil || err == nil {
		return err
	}
	switch errors.KindOf(err) {
	case errors.NotExist:
		return errors.Errorf("", errors.NotExist, "no file or directory at %q", "/"+join(segs))
	case errors.Invalid:
		return errors.Errorf("", errors.Invalid, "a parent of %q is a file, not a directory", "/"+join(segs))
	}
	return err
}

// link links node at segs (sealed for a private bucket) into cur and
// returns the new root; used is the key the node was sealed with.
func (s *Service) link(ctx context.Context, b Bucket, cur ipld.Node, segs []string, used string, node ipld.Node) (ipld.Node, error) {
	return s.linkAll(ctx, b, cur, []batchFile{{segs: segs, nd: node, used: used}})
}

// linkAll links many files into cur in one pass, writing each changed
// directory once (see dirTree). A file sealed with a key that is no longer
// its path's (roles changed since) is FailedPrecondition.
func (s *Service) linkAll(ctx context.Context, b Bucket, cur ipld.Node, files []batchFile) (ipld.Node, error) {
	k := keysOf(b)
	t, err := newDirTree(ctx, s.dag, s.sizes, cur)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if k.keyID(f.segs) != f.used {
			return nil, errors.Errorf("", errors.FailedPrecondition, "the keys of /%s changed while the file was pushed (its roles changed); push it again", join(f.segs))
		}
		links, err := k.sealPath(f.segs)
		if err != nil {
			return nil, err
		}
		if err := t.put(ctx, links, f.nd); err != nil {
			return nil, k.plainErr(f.segs, err)
		}
	}
	return t.node(ctx)
}
