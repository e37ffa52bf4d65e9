package hub

import "context"

// Mail is the mailboxes as one caller sees them: end-to-end encrypted
// messages between identities, each with a mailbox (a DB named "hubmail"
// with an inbox and a sentbox collection). It is the hub's mail service
// bound to the principal a call acts as (MailServer), or the Go client,
// bound by its context's credentials. The hub never sees a plaintext:
// callers seal messages themselves (the Go client's usersclient.Send does it
// as @textile/hub does), and open what they list.
//
// A recipient is looked up within the caller's account: users of one app
// message each other, never another app's users.
//
// Errors carry the kinds of package errors, whether they were made in
// process or mapped back from a gRPC status: Unauthenticated without an
// identity, Invalid for malformed input, NotExist for an unknown message,
// FailedPrecondition when the caller (or a recipient) has no mailbox,
// Exhausted past the hub's rate or size limits.
type Mail interface {
	// SetupMailbox creates the caller's mailbox, or finds it, and returns
	// the ID of its DB (for a Threads Listen on "inbox" or "sentbox"). It
	// is idempotent.
	SetupMailbox(ctx context.Context) (ThreadID, error)
	// SendMessage stores a sealed message from the caller to the identity
	// to: the recipient's copy in its inbox and the sender's in the
	// caller's sentbox, under one ID, both or neither. Both bodies must be
	// non-empty and within the hub's size limit (Exhausted), and both
	// signatures must verify against the caller's identity (Invalid); a
	// message to oneself, or to a key that is not an Ed25519 identity, is
	// Invalid. Sending is rate-limited per sender (Exhausted, saying when
	// to retry).
	SendMessage(ctx context.Context, to PubKey, m SealedMessage) (SentMessage, error)
	// ListInboxMessages lists a page of the caller's inbox.
	ListInboxMessages(ctx context.Context, opts MailListOptions) ([]MailMessage, error)
	// ListSentboxMessages lists a page of the caller's sentbox; its
	// Status must be MailAll (Invalid otherwise).
	ListSentboxMessages(ctx context.Context, opts MailListOptions) ([]MailMessage, error)
	// ReadInboxMessage marks a message of the caller's inbox read and
	// returns when it was read (Unix ns); reading it again keeps the first
	// time.
	ReadInboxMessage(ctx context.Context, id string) (int64, error)
	// DeleteInboxMessage deletes a message from the caller's inbox.
	DeleteInboxMessage(ctx context.Context, id string) error
	// DeleteSentboxMessage deletes a message from the caller's sentbox.
	DeleteSentboxMessage(ctx context.Context, id string) error
}

// MailServer is the mail service as a hub hosts it, for every caller: Mail
// binds it to the principal a call acts as.
type MailServer interface {
	Mail(p Principal) Mail
}

// SealedMessage is a message as its sender's client sealed it: the body
// encrypted once to the recipient and once to the sender (each nonce(24)
// || ephemeral public key(32) || NaCl box), each ciphertext with the
// sender's Ed25519 signature over its exact bytes.
type SealedMessage struct {
	ToBody        []byte
	ToSignature   []byte
	FromBody      []byte
	FromSignature []byte
}

// SentMessage is what SendMessage stored: the ID both copies share and
// when they were made (Unix ns).
type SentMessage struct {
	ID        string
	CreatedAt int64
}

// MailMessage is one message in a box. Body is the ciphertext for the
// box's owner, and Signature the sender's signature over Body.
type MailMessage struct {
	ID        string
	From      PubKey
	To        PubKey
	Body      []byte
	Signature []byte
	CreatedAt int64 // Unix ns
	ReadAt    int64 // Unix ns; 0 while unread
}

// MailStatus selects inbox messages by whether they have been read.
type MailStatus int

// Inbox statuses.
const (
	MailAll MailStatus = iota
	MailRead
	MailUnread
)

// MailListOptions page through a box.
type MailListOptions struct {
	// Seek is the ID of a message in the box; the page starts right after
	// it, in the page's order. Empty starts at the beginning.
	Seek string
	// Limit is the page size: 0 means the hub's default; past the hub's
	// maximum it is Invalid.
	Limit int
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	// Status filters an inbox; it must be MailAll for a sentbox.
	Status MailStatus
}
