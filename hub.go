// Package hub holds the vocabulary shared by every part of Hub: the named
// types for identities, accounts, API keys and the principal a request acts
// as, and the contracts of the services (Buckets, Threads, Mail), each with
// the error kinds its methods return. Implementations live beside it: the
// hub's services (buckets, threads/db, mail), which a *Server interface
// binds to the caller a request acts as, and the Go clients (client/...),
// bound by their credentials. It imports nothing else from the project, so
// any package may use it.
package hub

import "time"

// PubKey is an identity's public key in its string form: multibase base32 of
// the libp2p protobuf-marshalled Ed25519 public key (what @textile/crypto's
// PublicKey.toString produces).
type PubKey string

// AccountType says whether an account is a developer or an organization.
type AccountType int

// Account types.
const (
	Developer AccountType = iota + 1
	Organization
)

func (t AccountType) String() string {
	switch t {
	case Developer:
		return "developer"
	case Organization:
		return "org"
	}
	return "unknown"
}

// Role is a member's role in an organization.
type Role string

// Organization roles.
const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// Member is a developer's membership of an organization.
type Member struct {
	Key      PubKey
	Username string
	Role     Role
}

// Account is a developer or an organization. Each has its own Ed25519
// identity; Key is its public key and the account's stable ID.
type Account struct {
	Key       PubKey
	Type      AccountType
	Name      string // username of a developer, display name of an org
	Slug      string // URL-safe unique name: the username, or the org's slug
	Email     string // developers only
	Members   []Member
	CreatedAt time.Time
}

// KeyType is the kind of an API key. The values are the wire values.
type KeyType int

// API key types.
const (
	AccountKey KeyType = 1 // acts as the owning developer or org
	UserKey    KeyType = 2 // acts as an end-user identity holding a token
)

func (t KeyType) String() string {
	switch t {
	case AccountKey:
		return "account"
	case UserKey:
		return "user"
	}
	return "unknown"
}

// APIKey is an API key and its settings. Secret is shown to its owner only.
type APIKey struct {
	Key    string
	Secret string
	Owner  PubKey // the account that created it
	// Creator is, for an org's account key, the member who created it:
	// the key acts as the org only while its creator is a member, so a
	// member who leaves takes no working key of the org along.
	Creator   PubKey
	Type      KeyType
	Secure    bool // requests must carry a valid signature
	Valid     bool // false once invalidated
	CreatedAt time.Time
}

// Session is a developer's signed-in session.
type Session struct {
	ID        string
	Account   PubKey
	ExpiresAt time.Time
}

// PrincipalKind says what a request acts as.
type PrincipalKind int

// Principal kinds.
const (
	Anonymous PrincipalKind = iota
	DeveloperPrincipal
	OrgPrincipal
	UserPrincipal
)

func (k PrincipalKind) String() string {
	switch k {
	case DeveloperPrincipal:
		return "developer"
	case OrgPrincipal:
		return "org"
	case UserPrincipal:
		return "user"
	}
	return "anonymous"
}

// Principal is who a request acts as, settled once when the request is
// authenticated. Services record ownership against Owner and bill Account,
// never against the API key, so replacing a key keeps access.
type Principal struct {
	Kind PrincipalKind
	// Account is the developer or org whose resources the call reaches, or
	// for a user the account whose user group key admitted it.
	Account PubKey
	// Member is the developer acting through a session (for an org, the
	// member acting as it). Empty for API keys.
	Member PubKey
	// Identity is the end-user identity proven by a token, if any.
	Identity PubKey
	// APIKey is the key the request used, if any.
	APIKey string
	// KeyType is the type of APIKey.
	KeyType KeyType
	// Session is the session ID the request used, if any.
	Session string
}

// Owner is the identity whose resources the principal reaches: the user's
// own identity for a user, the account otherwise.
func (p Principal) Owner() PubKey {
	if p.Kind == UserPrincipal {
		return p.Identity
	}
	return p.Account
}

// IsSession reports whether the principal came from a developer session.
func (p Principal) IsSession() bool { return p.Session != "" }
