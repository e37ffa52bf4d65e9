package threads

import (
	"bytes"
	"fmt"

	"github.com/selfhub/hub/errors"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	mh "github.com/multiformats/go-multihash"
)

// Block is an IPLD block: its bytes and the CID they hash to. Blocks made
// or returned by this package are dag-cbor with a CIDv1 and a sha2-256
// multihash; blocks handed in are checked before use.
type Block struct {
	Cid  cid.Cid
	Data []byte
}

// cidPrefix is the form of every CID in a thread: CIDv1, dag-cbor, sha2-256.
var cidPrefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: 32}

// newBlock addresses data.
func newBlock(data []byte) (Block, error) {
	c, err := cidPrefix.Sum(data)
	if err != nil {
		return Block{}, err
	}
	return Block{Cid: c, Data: data}, nil
}

// checkCid reports whether c has the one form thread blocks use.
func checkCid(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("CID is undefined")
	}
	p := c.Prefix()
	if p.Version != 1 || p.Codec != cid.DagCBOR || p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		return fmt.Errorf("CID %s is not CIDv1 dag-cbor sha2-256", c)
	}
	return nil
}

// CheckBlock reports whether data is what c addresses, in the one CID form
// thread blocks use. Untrusted blocks (from peers, from a getter) go
// through it before they are decoded or stored.
func CheckBlock(c cid.Cid, data []byte) error {
	if err := checkCid(c); err != nil {
		return err
	}
	sum, err := cidPrefix.Sum(data)
	if err != nil {
		return err
	}
	if !sum.Equals(c) {
		return fmt.Errorf("block %s: bytes hash to %s", c, sum)
	}
	return nil
}

// encodeNode encodes n as dag-cbor (sorted keys).
func encodeNode(n datamodel.Node) ([]byte, error) {
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeCanonical decodes dag-cbor data and refuses anything but its one
// canonical encoding (the bytes it re-encodes to), so that one logical node
// has one CID.
func decodeCanonical(data []byte, allowLinks bool) (datamodel.Node, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	opts := dagcbor.DecodeOptions{
		AllowLinks: allowLinks,
		// The budget is relative to the input: nothing we accept needs more
		// memory than its own size, plus the cost of a handful of entries.
		AllocationBudget: int64(len(data)) + 1024,
		MaxDepth:         4,
	}
	if err := opts.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("not dag-cbor: %v", err)
	}
	n := nb.Build()
	again, err := encodeNode(n)
	if err != nil {
		return nil, fmt.Errorf("not dag-cbor: %v", err)
	}
	if !bytes.Equal(again, data) {
		return nil, fmt.Errorf("not canonical dag-cbor")
	}
	return n, nil
}

// wrap encodes ciphertext as an encrypted block: a dag-cbor byte string.
func wrap(ciphertext []byte) (Block, error) {
	return newBlock(cborWriter(make([]byte, 0, len(ciphertext)+9)).bytes(ciphertext))
}

// unwrap returns the ciphertext inside an encrypted block.
func unwrap(data []byte) ([]byte, error) {
	n, err := decodeCanonical(data, false)
	if err != nil {
		return nil, err
	}
	if n.Kind() != datamodel.Kind_Bytes {
		return nil, fmt.Errorf("encrypted node is a %s, want bytes", n.Kind())
	}
	return n.AsBytes()
}

// mapFields returns the fields of a map node after checking that it has
// every required field and no others.
func mapFields(n datamodel.Node, required []string, optional ...string) (map[string]datamodel.Node, error) {
	if n.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("node is a %s, want a map", n.Kind())
	}
	known := make(map[string]bool, len(required)+len(optional))
	for _, k := range required {
		known[k] = true
	}
	for _, k := range optional {
		known[k] = true
	}
	fields := make(map[string]datamodel.Node, n.Length())
	it := n.MapIterator()
	for !it.Done() {
		k, v, err := it.Next()
		if err != nil {
			return nil, err
		}
		ks, err := k.AsString()
		if err != nil {
			return nil, err
		}
		if !known[ks] {
			return nil, fmt.Errorf("unknown field %q", errors.Clip(ks))
		}
		fields[ks] = v
	}
	for _, k := range required {
		if _, ok := fields[k]; !ok {
			return nil, fmt.Errorf("field %q is missing", k)
		}
	}
	return fields, nil
}

// linkField returns the CID in a link field, checked for the thread form.
func linkField(fields map[string]datamodel.Node, name string) (cid.Cid, error) {
	l, err := fields[name].AsLink()
	if err != nil {
		return cid.Undef, fmt.Errorf("field %q is a %s, want a link", name, fields[name].Kind())
	}
	cl, ok := l.(cidlink.Link)
	if !ok {
		return cid.Undef, fmt.Errorf("field %q is not a CID link", name)
	}
	if err := checkCid(cl.Cid); err != nil {
		return cid.Undef, fmt.Errorf("field %q: %v", name, err)
	}
	return cl.Cid, nil
}

// bytesField returns the bytes in a bytes field.
func bytesField(fields map[string]datamodel.Node, name string) ([]byte, error) {
	b, err := fields[name].AsBytes()
	if err != nil {
		return nil, fmt.Errorf("field %q is a %s, want bytes", name, fields[name].Kind())
	}
	return b, nil
}
