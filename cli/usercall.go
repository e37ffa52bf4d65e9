package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// Acting as an app user: hub mail always does, hub buck when --key is
// given. The user is an identity (an Ed25519 private key in a file) that
// reaches the hub through an app's user group key; the token the hub
// issues for it is cached in HUB_HOME/tokens.

// identityName is the identity file in HUB_HOME used when --identity is
// not given.
const identityName = "identity"

// tokensDir is the directory in HUB_HOME that caches one user token per
// identity.
const tokensDir = "tokens"

// userFlags are the flags that name an app user: who acts, and through
// which app.
type userFlags struct {
	identity string // --identity: libp2p-marshalled Ed25519 private key file
	key      string // --key: the app's user group key
	secret   string // --secret: its secret; empty for a non-signing key
}

// check fails unless an API key was given. The message names hub mail:
// hub buck acts as a user only when --key is given, so only hub mail gets
// here without one.
func (f *userFlags) check() error {
	if f.key == "" {
		return errors.E(cliOp, errors.Invalid, "hub mail acts through an app's user group key; pass --key and --secret, or set HUB_KEY and HUB_SECRET")
	}
	return nil
}

// userSession is one app user identity's connection to the hub.
type userSession struct {
	priv crypto.PrivKey
	pub  hub.PubKey
	ctx  context.Context // the command's; the clients' connection adds the credentials
	uc   *usersclient.Client
	tc   *threadsclient.Client
	bc   *bucketsclient.Client
}

// identityFile returns the path of the identity file to use.
func (a *app) identityFile(f *userFlags) (string, error) {
	if f.identity != "" {
		return f.identity, nil
	}
	dir, err := configDir(a.env)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, identityName), nil
}

// loadIdentity reads the private key in file.
func loadIdentity(file string) (crypto.PrivKey, error) {
	const op errors.Op = "cli.loadIdentity"
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, errors.Errorf(op, errors.NotExist, "no identity in %s; make one with hub mail setup --new-identity, or point --identity at yours", file)
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	priv, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "%s is not a libp2p-marshalled private key (%v)", file, err)
	}
	if priv.Type() != crypto.Ed25519 {
		return nil, errors.Errorf(op, errors.Invalid, "the key in %s is not Ed25519; mailboxes need an Ed25519 identity", file)
	}
	return priv, nil
}

// cachedToken is a token file in HUB_HOME/tokens. A token is valid only
// with the API key of the app it was issued for, on the hub that issued
// it, so those are kept with it and a mismatch fetches a new one.
type cachedToken struct {
	API   string `json:"api"`
	Key   string `json:"key"`
	Token string `json:"token"`
}

// tokenFile returns where the token of pub is cached.
func (a *app) tokenFile(pub hub.PubKey) (string, error) {
	dir, err := configDir(a.env)
	if err != nil {
		return "", err
	}
	// Public key strings are long; a digest keeps file names short.
	sum := sha256.Sum256([]byte(pub))
	return filepath.Join(dir, tokensDir, hex.EncodeToString(sum[:16])+".json"), nil
}

// readToken returns the cached token of pub for api and key, or "".
func (a *app) readToken(pub hub.PubKey, api, key string) string {
	file, err := a.tokenFile(pub)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var c cachedToken
	if json.Unmarshal(b, &c) != nil || c.API != api || c.Key != key {
		return ""
	}
	return c.Token
}

// writeToken caches a token (mode 0600, as writeJSONFile makes files: it
// is a bearer credential). A failure only costs a GetToken next time, so
// it is not an error.
func (a *app) writeToken(pub hub.PubKey, c cachedToken) {
	if file, err := a.tokenFile(pub); err == nil {
		writeJSONFile(file, c, 0o700)
	}
}

// dropToken forgets pub's cached token.
func (a *app) dropToken(pub hub.PubKey) {
	if file, err := a.tokenFile(pub); err == nil {
		os.Remove(file)
	}
}

// userCall runs fn as an app user: the identity priv or, when priv is
// nil, the one in the flags' identity file. The session's connection
// carries the user's credentials on every call and renews the token by
// itself (threadsclient.UserAuth); the token it gets is cached, and the
// next command starts from it. A cached token the hub refuses for another
// reason than its age (revoked, or from a wiped hub) is dropped and fn
// runs once more: a refused call changed nothing.
func (a *app) userCall(ctx context.Context, f *userFlags, priv crypto.PrivKey, fn func(*userSession) error) error {
	if err := f.check(); err != nil {
		return err
	}
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	if priv == nil {
		file, err := a.identityFile(f)
		if err != nil {
			return err
		}
		if priv, err = loadIdentity(file); err != nil {
			return err
		}
	}
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		return err
	}
	addr := a.addr(cfg)
	auth := threadsclient.NewUserAuth(f.key, f.secret, priv)
	auth.OnToken(func(token string) { a.writeToken(pub, cachedToken{API: addr, Key: f.key, Token: token}) })
	cached := a.readToken(pub, addr, f.key)
	auth.Resume(cached)
	conn, err := client.Dial(ctx, addr, auth.DialOptions()...)
	if err != nil {
		return err
	}
	defer conn.Close()
	u := &userSession{priv: priv, pub: pub, ctx: ctx, uc: usersclient.New(conn), tc: threadsclient.New(conn), bc: bucketsclient.New(conn)}
	err = fn(u)
	if cached != "" && auth.Token() == cached && errors.Is(errors.Unauthenticated, err) {
		a.dropToken(pub)
		auth.Resume("")
		err = fn(u)
	}
	return err
}
