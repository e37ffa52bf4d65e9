package usersclient

import (
	"crypto/rand"
	"crypto/sha512"
	"math/big"

	"github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/nacl/box"

	"github.com/selfhub/hub/errors"
)

// The layout of a ciphertext, as @textile/crypto's encrypt makes it:
// nonce(24) || ephemeral Curve25519 public key(32) || NaCl box.
const (
	nonceSize     = 24
	ephemeralSize = 32
	overhead      = nonceSize + ephemeralSize + box.Overhead
)

// Encrypt encrypts msg to the Ed25519 identity to, as @textile/crypto's
// PublicKey.encrypt does: the key is converted to Curve25519 (the ed2curve
// conversion), a fresh ephemeral key and nonce box the message, and the
// result is nonce(24) || ephemeral public key(32) || box. Only the holder
// of to's private key can open it (Decrypt); the sender cannot.
func Encrypt(to crypto.PubKey, msg []byte) ([]byte, error) {
	const op errors.Op = "users.Encrypt"
	if to == nil || to.Type() != crypto.Ed25519 {
		return nil, errors.E(op, errors.Invalid, "encryption needs an Ed25519 public key")
	}
	raw, err := to.Raw()
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	peer, err := curvePublic(raw)
	if err != nil {
		return nil, errors.E(op, err)
	}
	ephPub, ephPriv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	out := make([]byte, 0, overhead+len(msg))
	out = append(out, nonce[:]...)
	out = append(out, ephPub[:]...)
	return box.Seal(out, msg, &nonce, peer, ephPriv), nil
}

// Decrypt opens a ciphertext made by Encrypt (or by @textile/crypto) for
// priv's identity.
func Decrypt(priv crypto.PrivKey, ciphertext []byte) ([]byte, error) {
	const op errors.Op = "users.Decrypt"
	if priv == nil || priv.Type() != crypto.Ed25519 {
		return nil, errors.E(op, errors.Invalid, "decryption needs an Ed25519 private key")
	}
	if len(ciphertext) < overhead {
		return nil, errors.Errorf(op, errors.Invalid, "ciphertext is %d bytes; the nonce, ephemeral key and box take at least %d", len(ciphertext), overhead)
	}
	raw, err := priv.Raw()
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	sk := curvePrivate(raw)
	var nonce [nonceSize]byte
	var eph [ephemeralSize]byte
	copy(nonce[:], ciphertext[:nonceSize])
	copy(eph[:], ciphertext[nonceSize:nonceSize+ephemeralSize])
	msg, ok := box.Open(nil, ciphertext[nonceSize+ephemeralSize:], &nonce, &eph, sk)
	if !ok {
		return nil, errors.E(op, errors.Invalid, "the ciphertext does not open with this key: it was encrypted to someone else, or altered")
	}
	return msg, nil
}

// curvePrivate converts an Ed25519 private key (the 32-byte seed, or the
// 64-byte seed || public key) to its Curve25519 scalar: the first half of
// SHA-512(seed), clamped, as ed2curve's convertSecretKey does.
func curvePrivate(ed []byte) *[32]byte {
	h := sha512.Sum512(ed[:32])
	var sk [32]byte
	copy(sk[:], h[:32])
	sk[0] &= 248
	sk[31] &= 127
	sk[31] |= 64
	return &sk
}

var (
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// edD is the Edwards curve constant d = -121665/121666 mod p.
	edD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, fieldP)
	}()
)

// curvePublic converts an Ed25519 public key to the Curve25519 public key
// of the same secret: u = (1 + y) / (1 - y) mod p, as ed2curve's
// convertPublicKey does. Like it, it refuses bytes that are not a point on
// the curve.
func curvePublic(ed []byte) (*[32]byte, error) {
	if len(ed) != 32 {
		return nil, errors.Errorf("", errors.Invalid, "an Ed25519 public key is 32 bytes, not %d", len(ed))
	}
	le := make([]byte, 32)
	copy(le, ed)
	le[31] &= 0x7f // the top bit is the sign of x
	y := new(big.Int).SetBytes(reverse(le))
	if y.Cmp(fieldP) >= 0 {
		return nil, errors.E(errors.Invalid, "the Ed25519 public key is not a point on the curve")
	}
	// A point exists when x² = (y² - 1) / (d·y² + 1) has a root.
	y2 := new(big.Int).Mul(y, y)
	num := new(big.Int).Sub(y2, big.NewInt(1))
	den := new(big.Int).Mul(edD, y2)
	den.Add(den, big.NewInt(1)).Mod(den, fieldP)
	x2 := new(big.Int).Mul(num, new(big.Int).ModInverse(den, fieldP))
	x2.Mod(x2, fieldP)
	if x2.Sign() != 0 && big.Jacobi(x2, fieldP) != 1 {
		return nil, errors.E(errors.Invalid, "the Ed25519 public key is not a point on the curve")
	}
	oneMinus := new(big.Int).Sub(big.NewInt(1), y)
	oneMinus.Mod(oneMinus, fieldP)
	if oneMinus.Sign() == 0 {
		return nil, errors.E(errors.Invalid, "the Ed25519 public key is the identity point, which has no Curve25519 form")
	}
	u := new(big.Int).Add(big.NewInt(1), y)
	u.Mul(u, new(big.Int).ModInverse(oneMinus, fieldP))
	u.Mod(u, fieldP)
	var out [32]byte
	b := u.FillBytes(make([]byte, 32))
	copy(out[:], reverse(b))
	return &out, nil
}

func reverse(b []byte) []byte {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}
