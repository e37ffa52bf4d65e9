// Package auth holds Hub's accounts (developers and organizations), their
// sessions, API keys, end-user identities and tokens, and turns the
// credentials a request presents into the one hub.Principal it acts as.
//
// All state lives in the embedded store. Writes that must check and then
// change several records (a unique name, a membership) run under one mutex
// and commit in one synced batch, so a crash never leaves half of them.
package auth

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// Defaults for Config.
const (
	DefaultSigMaxAhead    = 30 * 24 * time.Hour
	DefaultSessionTTL     = 30 * 24 * time.Hour
	DefaultConfirmTimeout = 10 * time.Minute
	DefaultInviteTTL      = 7 * 24 * time.Hour
	// DefaultTokenTTL is how long a user token lasts. A day: a leaked token
	// is useful for at most that long, and renewing costs an app one
	// GetToken with a key it holds, no user action (the JS clients' auth
	// callback renews with the API signature, which expires sooner).
	DefaultTokenTTL = 24 * time.Hour
	// DefaultLinkTTL is how long a private bucket's link reads: a day, as
	// a token, since a link is handed around and lands in browser history.
	DefaultLinkTTL = 24 * time.Hour
	// DefaultMaxNewIdentities new identities per DefaultNewIdentitiesWindow
	// may first sign in to one app: each gets its own quotas, so an app
	// minting identities would multiply them. A hundred an hour (2,400 a
	// day) covers a small app's growth; a launch raises it.
	DefaultMaxNewIdentities    = 100
	DefaultNewIdentitiesWindow = time.Hour
)

// Config holds the settings of the auth service.
type Config struct {
	// Dev skips e-mail confirmation of sign-up and sign-in: for a single
	// developer running their own hub.
	Dev bool
	// SigMaxAhead caps how far in the future a signature may expire.
	SigMaxAhead time.Duration
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL time.Duration
	// TokenTTL is how long a user token lasts; zero means no expiry.
	TokenTTL time.Duration
	// LinkTTL is how long a private bucket link's capability lasts; zero
	// means DefaultLinkTTL.
	LinkTTL time.Duration
	// MaxNewIDs is how many identities one account (app) may see
	// for the first time per NewIDWindow; zero means the defaults.
	MaxNewIDs   int
	NewIDWindow time.Duration
	// ConfirmTimeout is how long Signup and Signin wait for the e-mailed
	// confirmation link to be followed.
	ConfirmTimeout time.Duration
	// InviteTTL is how long an org invitation can be accepted.
	InviteTTL time.Duration
	// LinkBase is the base URL of hubd's HTTP endpoint, used in e-mailed
	// links and reported as an org's host.
	LinkBase string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Mailer sends e-mail; hubd gives SMTP, or the log when no SMTP is set.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Service is the auth service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	db     *store.Store
	mailer Mailer
	tokens *tokenIssuer

	// mu serialises read-check-write sequences on account records, and
	// on an account's budget of new identities.
	mu sync.Mutex

	// pendingMu guards pending.
	pendingMu sync.Mutex
	// pending maps a confirmation token to the channel closed when its link
	// is followed. Kept in memory: the call waiting on it is too.
	pending map[string]chan struct{}

	// revokeMu guards watchers and nextWatcher.
	revokeMu    sync.Mutex
	watchers    map[int]func(Revocation) // by subscription; guarded by revokeMu
	nextWatcher int                      // guarded by revokeMu
}

// New returns the auth service over db. host is the hub's identity, which
// signs user tokens.
func New(cfg Config, db *store.Store, mailer Mailer, host crypto.PrivKey) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	setDefault(&cfg.SigMaxAhead, DefaultSigMaxAhead)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.ConfirmTimeout, DefaultConfirmTimeout)
	setDefault(&cfg.InviteTTL, DefaultInviteTTL)
	setDefault(&cfg.LinkTTL, DefaultLinkTTL)
	setDefault(&cfg.MaxNewIDs, DefaultMaxNewIdentities)
	setDefault(&cfg.NewIDWindow, DefaultNewIdentitiesWindow)
	tokens, err := newTokenIssuer(host, cfg.TokenTTL, cfg.LinkTTL)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, db: db, mailer: mailer, tokens: tokens, pending: map[string]chan struct{}{}, watchers: map[int]func(Revocation){}}, nil
}

// setDefault sets *v to def when it is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Record keys, under the prefixes the store lists for this package. Each
// holds one kind of record; the ones marked index hold empty values and
// exist to list by their first part.
const (
	pAccount     = store.AuthAccounts        // acct/<pubkey> → accountRecord
	pName        = store.AuthNames           // name/<lower name> → pubkey of the developer or org
	pEmail       = store.AuthEmails          // email/<lower e-mail> → pubkey of the developer
	pSession     = store.AuthSessions        // sess/<id> → hub.Session
	pAcctSession = store.AuthAccountSessions // acctsess/<pubkey>/<id> index
	pKey         = store.AuthKeys            // key/<key> → hub.APIKey
	pAcctKey     = store.AuthAccountKeys     // acctkey/<pubkey>/<key> index
	pMember      = store.AuthMembers         // member/<developer>/<org> index
	pUser        = store.AuthUsers           // user/<account>/<identity> → userRecord
	pNewIDs      = store.AuthNewIDs          // newids/<account> → newIDBudget
	pInvite      = store.AuthInvites         // invite/<token> → inviteRecord
	pInvitee     = store.AuthInvitees        // invitee/<lower e-mail>/<token> index of accepted invites awaiting sign-up
)

// accountRecord is an account with its identity's private key.
type accountRecord struct {
	hub.Account
	PrivKey []byte // libp2p-marshalled Ed25519 private key
}

// userRecord is an end-user identity first seen through an account's user
// group key. It belongs to the account, not to the key.
type userRecord struct {
	Identity  hub.PubKey
	Account   hub.PubKey
	CreatedAt time.Time
}

// inviteRecord is an invitation to join an org.
type inviteRecord struct {
	Token     string
	Org       hub.PubKey
	OrgName   string
	From      hub.PubKey
	Email     string
	Accepted  bool
	ExpiresAt time.Time
}

type empty struct{}

func (s *Service) now() time.Time { return s.cfg.Now() }

// account loads an account by its key.
func (s *Service) account(op errors.Op, key hub.PubKey) (*accountRecord, error) {
	var a accountRecord
	if err := s.db.Get(store.Key(pAccount, string(key)), &a); err != nil {
		if errors.Is(errors.NotExist, err) {
			return nil, errors.Errorf(op, errors.NotExist, "account %s not found", key)
		}
		return nil, errors.E(op, err)
	}
	return &a, nil
}

// accountByName loads a developer or org by username or slug.
func (s *Service) accountByName(op errors.Op, name string) (*accountRecord, error) {
	var key hub.PubKey
	if err := s.db.Get(store.Key(pName, nameKey(name)), &key); err != nil {
		if errors.Is(errors.NotExist, err) {
			return nil, errors.Errorf(op, errors.NotExist, "no account named %q", errors.Clip(name))
		}
		return nil, errors.E(op, err)
	}
	return s.account(op, key)
}

// accountByEmail loads a developer by e-mail address.
func (s *Service) accountByEmail(op errors.Op, email string) (*accountRecord, error) {
	var key hub.PubKey
	if err := s.db.Get(store.Key(pEmail, nameKey(email)), &key); err != nil {
		if errors.Is(errors.NotExist, err) {
			return nil, errors.Errorf(op, errors.NotExist, "no account with e-mail %q", errors.Clip(email))
		}
		return nil, errors.E(op, err)
	}
	return s.account(op, key)
}

// nameTaken reports whether a username or org slug is in use.
func (s *Service) nameTaken(name string) (bool, error) {
	return s.db.Has(store.Key(pName, nameKey(name)))
}

// lastPart returns the part of a record key after its last '/'.
func lastPart(key []byte) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return string(key[i+1:])
		}
	}
	return string(key)
}

// commit commits b, naming op in the error.
func commit(op errors.Op, b *store.Batch) error {
	if err := b.Commit(); err != nil {
		return errors.E(op, err)
	}
	return nil
}
