// Package mail is Hub's mailboxes: end-to-end encrypted messages between
// identities that hold Ed25519 keys, stored in ThreadDB.
//
// Each identity's mailbox is a DB named "hubmail" that it owns, with two
// collections, "inbox" and "sentbox". A message is encrypted by the sender's
// client twice, once to the recipient and once to the sender, and each
// ciphertext is signed with the sender's key; the service never sees a
// plaintext. Sending writes the recipient's copy to the recipient's inbox and
// the sender's copy to the sender's sentbox under one message ID, in one
// atomic commit (db.BeginWrites and db.CommitAll), so a message is in both
// boxes or in neither.
//
// Watching a box is a ThreadDB Listen on its collection (threads.pb.API
// Listen, as the JS client's watchInbox does); db.Listen reads a durable log
// and never drops an event, so the service needs no watch API of its own.
//
// # Whose mailbox a recipient key names
//
// A DB belongs to an identity within an account (see db.Manager): the same
// person using two apps has two sets of DBs. A recipient's mailbox is
// therefore looked up in the sender's account: users of the same app (the
// same developer's or org's user group keys) can message each other, and a
// message never crosses into another developer's app. This is what the
// hosted Textile Hub did, and it keeps one app's users from filling the
// mailboxes another app's users see.
//
// # Checks at the door
//
// Service is the one place where messages are checked: the caller must have
// an identity; the per-sender rate limit is charged; both bodies must be
// non-empty and within Config.MaxMessageSize; both signatures must verify
// against the caller's identity (an Ed25519 signature over the exact
// ciphertext bytes, as @textile/hub's Users.sendMessage makes them); both
// mailboxes must exist. The collections behind it trust their input.
package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// Names of the mailbox DB and its collections; the JS client's MailConfig
// uses the same ones.
const (
	DBName            = "hubmail"
	InboxCollection   = "inbox"
	SentboxCollection = "sentbox"
)

// Defaults and limits for Config and for listing.
const (
	// DefaultMaxMessageSize caps one ciphertext body. A stored message
	// holds it base64-encoded (4/3 larger) inside a ThreadDB instance,
	// whose default cap is 1 MiB, so the default leaves ample room.
	DefaultMaxMessageSize = 256 << 10
	// DefaultRate is how many messages one sender may send per second,
	// sustained; DefaultBurst is how many it may send at once.
	DefaultRate  = 100
	DefaultBurst = 1000
	// DefaultLimit is a list page's size when the caller gives none;
	// MaxLimit is the largest page a caller may ask for.
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Config holds a Service's limits.
type Config struct {
	// MaxMessageSize caps each ciphertext body, in bytes.
	MaxMessageSize int
	// Rate is the messages per second one sender may send, sustained, and
	// Burst how many it may send at once. A sender is an identity within
	// an account, as a mailbox is.
	Rate  float64
	Burst int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Message is one message in a box. Body is the ciphertext for the box's
// owner: nonce(24) || ephemeral public key(32) || NaCl box, and Signature
// is the sender's Ed25519 signature over Body.
type Message struct {
	ID        string     `json:"_id"`
	From      hub.PubKey `json:"from"`
	To        hub.PubKey `json:"to"`
	Body      []byte     `json:"body"`       // base64 in the instance JSON, as the JS client decodes it
	Signature []byte     `json:"signature"`  // base64 likewise
	CreatedAt int64      `json:"created_at"` // Unix ns
	ReadAt    int64      `json:"read_at"`    // Unix ns; 0 while unread
}

// Status selects inbox messages by whether they have been read: the
// contract's type.
type Status = hub.MailStatus

// Inbox statuses.
const (
	All    = hub.MailAll
	Read   = hub.MailRead
	Unread = hub.MailUnread
)

// ListOptions pages through a box: the contract's type. A Limit of 0 means
// DefaultLimit; it is at most MaxLimit.
type ListOptions = hub.MailListOptions

// messageSchema is the JSON Schema of both collections' instances.
const messageSchema = `{
  "title": "Message",
  "type": "object",
  "properties": {
    "_id": {"type": "string"},
    "from": {"type": "string"},
    "to": {"type": "string"},
    "body": {"type": "string"},
    "signature": {"type": "string"},
    "created_at": {"type": "integer"},
    "read_at": {"type": "integer"}
  },
  "required": ["_id", "from", "to", "body", "signature", "created_at", "read_at"]
}`

// collections are the mailbox DB's collections. created_at is indexed so
// a page after a seek scans only the messages past it.
func collections() []db.CollectionConfig {
	idx := []db.Index{{Path: "created_at"}}
	return []db.CollectionConfig{
		{Name: InboxCollection, Schema: []byte(messageSchema), Indexes: idx},
		{Name: SentboxCollection, Schema: []byte(messageSchema), Indexes: idx},
	}
}

// Service is the mailbox service.
type Service struct {
	dbs     *db.Manager
	cfg     Config
	limiter *limiter

	// setupMu serialises mailbox creation, so concurrent SetupMailbox
	// calls of one identity make one DB.
	setupMu sync.Mutex

	// mu guards boxes and lastTime.
	mu sync.Mutex
	// boxes caches each identity's mailbox DB ID, by db scope; an entry
	// whose DB has gone is dropped when found missing.
	boxes map[string]threads.ID
	// lastTime is the last created_at handed out (see stamp).
	lastTime int64
}

// New returns a Service over dbs.
func New(dbs *db.Manager, cfg Config) *Service {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{dbs: dbs, cfg: cfg, limiter: newLimiter(cfg.Rate, cfg.Burst), boxes: map[string]threads.ID{}}
}

// boxKey is the cache key of an identity's mailbox: the same scope as the
// db package's, an identity within an account.
func boxKey(p hub.Principal) string { return string(p.Account) + "/" + string(p.Owner()) }

// recipient is the principal whose mailbox the identity to has in the
// sender's account (see the package comment).
func recipient(sender hub.Principal, to hub.PubKey) hub.Principal {
	return hub.Principal{Kind: hub.UserPrincipal, Account: sender.Account, Identity: to}
}

// SetupMailbox creates the principal's mailbox DB, or finds it, and
// returns its ID. It is idempotent; a "hubmail" DB made some other way
// gets whichever of the two collections it lacks.
func (s *Service) SetupMailbox(ctx context.Context, p hub.Principal) (threads.ID, error) {
	const op errors.Op = "mail.SetupMailbox"
	if p.Owner() == "" {
		return "", errors.E(op, errors.Unauthenticated, "a mailbox belongs to an identity; authenticate with a user token or as an account")
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	d, err := s.mailbox(ctx, p)
	switch {
	case err == nil:
		for _, c := range collections() {
			if _, err := d.CollectionInfo(ctx, c.Name); errors.Is(errors.NotExist, err) {
				if err := d.NewCollection(ctx, p, c); err != nil {
					return "", errors.E(op, err)
				}
			}
		}
		return d.Info().ID, nil
	case !errors.Is(errors.NotExist, err):
		return "", errors.E(op, err)
	}
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	info, err := s.dbs.NewDB(ctx, p, id, DBName, nil, collections())
	if err != nil {
		return "", errors.E(op, err)
	}
	s.mu.Lock()
	s.boxes[boxKey(p)] = info.ID
	s.mu.Unlock()
	return info.ID, nil
}

// mailbox returns p's mailbox DB, or a NotExist error.
func (s *Service) mailbox(ctx context.Context, p hub.Principal) (*db.DB, error) {
	key := boxKey(p)
	s.mu.Lock()
	id, ok := s.boxes[key]
	s.mu.Unlock()
	if ok {
		d, err := s.dbs.DB(ctx, p, id)
		if err == nil {
			return d, nil
		}
		if !errors.Is(errors.NotExist, err) {
			return nil, err
		}
		s.mu.Lock()
		delete(s.boxes, key)
		s.mu.Unlock()
	}
	infos, err := s.dbs.ListDBs(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, info := range infos {
		if info.Name != DBName {
			continue
		}
		d, err := s.dbs.DB(ctx, p, info.ID)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.boxes[key] = info.ID
		s.mu.Unlock()
		return d, nil
	}
	return nil, errors.E(errors.NotExist, "no mailbox")
}

// ownBox returns the caller's mailbox, or FailedPrecondition saying to set
// one up.
func (s *Service) ownBox(ctx context.Context, op errors.Op, p hub.Principal) (*db.DB, error) {
	if p.Owner() == "" {
		return nil, errors.E(op, errors.Unauthenticated, "a mailbox belongs to an identity; authenticate with a user token or as an account")
	}
	d, err := s.mailbox(ctx, p)
	if errors.Is(errors.NotExist, err) {
		return nil, errors.E(op, errors.FailedPrecondition, "you have no mailbox yet; call SetupMailbox first")
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	return d, nil
}

// stamp returns a creation time in Unix ns that is later than every one
// it returned before and that a float64 holds exactly. ThreadDB keeps
// numbers as float64, so an exact value reads back as written, and a
// strictly increasing one orders a box without ties, which lets a page
// seek by created_at.
func (s *Service) stamp() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := exact(s.cfg.Now().UnixNano())
	if t <= s.lastTime {
		t = next(s.lastTime)
	}
	s.lastTime = t
	return t
}

// exact rounds ns to the nearest value a float64 holds.
func exact(ns int64) int64 { return int64(float64(ns)) }

// next returns the least float64-exact value above ns (ns itself exact).
func next(ns int64) int64 {
	for step := int64(1); ; step *= 2 {
		if t := exact(ns + step); t > ns {
			return t
		}
	}
}

// SendMessage sends a message from the principal to the identity to:
// toBody (and its signature toSig) is the ciphertext for the recipient,
// fromBody (and fromSig) the one for the sender. It returns the sender's
// copy as stored in the sentbox; the recipient's inbox copy has the same
// ID and creation time.
//
// Errors: Unauthenticated without an identity; Exhausted past the rate
// limit (the message says when to retry) or for a body over the size
// limit; Invalid for an empty body, a recipient key that is not an Ed25519
// identity, a message to oneself, or a signature that does not verify;
// FailedPrecondition when the sender or the recipient has no mailbox.
func (s *Service) SendMessage(ctx context.Context, p hub.Principal, to hub.PubKey, toBody, toSig, fromBody, fromSig []byte) (Message, error) {
	const op errors.Op = "mail.SendMessage"
	from := p.Owner()
	if from == "" {
		return Message{}, errors.E(op, errors.Unauthenticated, "sending a message needs an identity; authenticate with a user token")
	}
	if wait := s.limiter.take(boxKey(p), s.cfg.Now()); wait > 0 {
		return Message{}, errors.Errorf(op, errors.Exhausted, "you are sending messages faster than this hub allows (%g a second, bursts of %d); retry after %s", s.cfg.Rate, s.cfg.Burst, wait.Round(time.Millisecond))
	}
	for _, b := range []struct {
		name string
		body []byte
	}{{"to_body", toBody}, {"from_body", fromBody}} {
		if len(b.body) == 0 {
			return Message{}, errors.Errorf(op, errors.Invalid, "%s is empty; send the message encrypted to the recipient (to_body) and to yourself (from_body)", b.name)
		}
		if len(b.body) > s.cfg.MaxMessageSize {
			return Message{}, errors.Errorf(op, errors.Exhausted, "%s is %d bytes; this hub's limit is %d bytes per encrypted message", b.name, len(b.body), s.cfg.MaxMessageSize)
		}
	}
	if _, err := identity.Parse(to); err != nil {
		return Message{}, errors.E(op, errors.Invalid, fmt.Errorf("recipient: %s", errors.Message(err)))
	}
	if to == from {
		return Message{}, errors.E(op, errors.Invalid, "a message to yourself is not supported; the sentbox already keeps your copy of each message you send")
	}
	pub, err := identity.Parse(from)
	if err != nil {
		return Message{}, errors.E(op, errors.Invalid, fmt.Errorf("your identity cannot verify signatures: %s", errors.Message(err)))
	}
	for _, c := range []struct {
		name      string
		body, sig []byte
	}{{"to_signature", toBody, toSig}, {"from_signature", fromBody, fromSig}} {
		if ok, err := pub.Verify(c.body, c.sig); err != nil || !ok {
			return Message{}, errors.Errorf(op, errors.Invalid, "%s does not verify against your identity %s; sign the encrypted body with that identity's private key", c.name, from)
		}
	}

	outbox, err := s.ownBox(ctx, op, p)
	if err != nil {
		return Message{}, err
	}
	inbox, err := s.mailbox(ctx, recipient(p, to))
	if errors.Is(errors.NotExist, err) {
		return Message{}, errors.Errorf(op, errors.FailedPrecondition, "recipient %s has no mailbox in this app; they must call SetupMailbox before they can receive messages", to)
	}
	if err != nil {
		return Message{}, errors.E(op, err)
	}

	id, err := uuid.NewV7()
	if err != nil {
		return Message{}, errors.E(op, errors.Internal, err)
	}
	now := s.stamp()
	toMsg := Message{ID: id.String(), From: from, To: to, Body: toBody, Signature: toSig, CreatedAt: now}
	fromMsg := toMsg
	fromMsg.Body, fromMsg.Signature = fromBody, fromSig
	toJSON, err := json.Marshal(toMsg)
	if err != nil {
		return Message{}, errors.E(op, errors.Internal, err)
	}
	fromJSON, err := json.Marshal(fromMsg)
	if err != nil {
		return Message{}, errors.E(op, errors.Internal, err)
	}
	// The sender writes both copies: the inbox copy is an event on the
	// sender's log in the recipient's thread, which is who wrote it.
	txns, err := db.BeginWrites(ctx,
		db.WriteSpec{DB: inbox, Principal: p, Collection: InboxCollection},
		db.WriteSpec{DB: outbox, Principal: p, Collection: SentboxCollection})
	if err != nil {
		return Message{}, errors.E(op, err)
	}
	defer func() {
		for _, t := range txns {
			t.Discard()
		}
	}()
	if _, err := txns[0].Create(ctx, [][]byte{toJSON}); err != nil {
		return Message{}, errors.E(op, err)
	}
	if _, err := txns[1].Create(ctx, [][]byte{fromJSON}); err != nil {
		return Message{}, errors.E(op, err)
	}
	if err := db.CommitAll(ctx, txns...); err != nil {
		return Message{}, errors.E(op, err)
	}
	return fromMsg, nil
}

// ListInboxMessages lists a page of the principal's inbox.
func (s *Service) ListInboxMessages(ctx context.Context, p hub.Principal, opts ListOptions) ([]Message, error) {
	const op errors.Op = "mail.ListInboxMessages"
	return s.list(ctx, op, p, InboxCollection, opts)
}

// ListSentboxMessages lists a page of the principal's sentbox.
func (s *Service) ListSentboxMessages(ctx context.Context, p hub.Principal, opts ListOptions) ([]Message, error) {
	const op errors.Op = "mail.ListSentboxMessages"
	if opts.Status != All {
		return nil, errors.E(op, errors.Invalid, "a sentbox has no read status; list it with status ALL")
	}
	return s.list(ctx, op, p, SentboxCollection, opts)
}

// criterion is one condition of a ThreadDB query (its wire form).
type criterion struct {
	FieldPath string         `json:"fieldPath"`
	Operation int            `json:"operation"`
	Value     map[string]any `json:"value"`
}

// The query operations used here (threads/db/query's wire numbers).
const (
	opEq = 0
	opGt = 2
	opLt = 3
	opGe = 4
)

func (s *Service) list(ctx context.Context, op errors.Op, p hub.Principal, box string, opts ListOptions) ([]Message, error) {
	switch {
	case opts.Limit < 0 || opts.Limit > MaxLimit:
		return nil, errors.Errorf(op, errors.Invalid, "limit %d is out of range; ask for 1 to %d messages (0 means %d)", opts.Limit, MaxLimit, DefaultLimit)
	case opts.Limit == 0:
		opts.Limit = DefaultLimit
	}
	// Every message has a created_at, so bounding it below by 0 selects
	// them all while letting the created_at index serve the page in order,
	// stopping after it; a seek narrows the bound further below.
	ands := []criterion{{"created_at", opGe, map[string]any{"float": 0}}}
	switch opts.Status {
	case All:
	case Read:
		ands = append(ands, criterion{"read_at", opGt, map[string]any{"float": 0}})
	case Unread:
		ands = append(ands, criterion{"read_at", opEq, map[string]any{"float": 0}})
	default:
		return nil, errors.Errorf(op, errors.Invalid, "status %d is not ALL, READ or UNREAD", opts.Status)
	}
	d, err := s.ownBox(ctx, op, p)
	if err != nil {
		return nil, err
	}
	txn, err := d.ReadTxn(ctx, p, box)
	if err != nil {
		return nil, errors.E(op, err)
	}
	defer txn.Discard()
	if opts.Seek != "" {
		// Seeking is by creation time, which is unique within a box (see
		// stamp), so the seek message need not match the status filter
		// and the created_at index narrows the scan to the page's side.
		raw, err := txn.FindByID(ctx, opts.Seek)
		if errors.Is(errors.NotExist, err) {
			return nil, errors.Errorf(op, errors.Invalid, "seek %q is not a message in your %s; pass the ID of a message from the previous page", errors.Clip(opts.Seek), box)
		}
		if err != nil {
			return nil, errors.E(op, err)
		}
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
		cmp := opLt
		if opts.Ascending {
			cmp = opGt
		}
		ands = append(ands, criterion{"created_at", cmp, map[string]any{"float": float64(m.CreatedAt)}})
	}
	q, err := json.Marshal(map[string]any{
		"ands":  ands,
		"sort":  map[string]any{"fieldPath": "created_at", "desc": !opts.Ascending},
		"limit": opts.Limit,
	})
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	raws, err := txn.Find(ctx, q)
	if err != nil {
		return nil, errors.E(op, err)
	}
	out := make([]Message, len(raws))
	for i, raw := range raws {
		if out[i], err = decodeMessage(raw); err != nil {
			return nil, errors.E(op, errors.Internal, fmt.Errorf("message %d of the page: %w", i, err))
		}
	}
	return out, nil
}

// ReadInboxMessage marks a message of the principal's inbox read and
// returns when it was read. Reading a message again keeps the first time.
func (s *Service) ReadInboxMessage(ctx context.Context, p hub.Principal, id string) (int64, error) {
	const op errors.Op = "mail.ReadInboxMessage"
	d, err := s.ownBox(ctx, op, p)
	if err != nil {
		return 0, err
	}
	txn, err := d.WriteTxn(ctx, p, InboxCollection)
	if err != nil {
		return 0, errors.E(op, err)
	}
	defer txn.Discard()
	raw, err := txn.FindByID(ctx, id)
	if errors.Is(errors.NotExist, err) {
		return 0, errors.Errorf(op, errors.NotExist, "message %q not found in your inbox", errors.Clip(id))
	}
	if err != nil {
		return 0, errors.E(op, err)
	}
	// Decode to a map so fields a JS client may have added survive.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return 0, errors.E(op, errors.Internal, err)
	}
	if r, err := strconv.ParseFloat(string(doc["read_at"]), 64); err == nil && r != 0 {
		return int64(r), nil
	}
	readAt := exact(s.cfg.Now().UnixNano())
	doc["read_at"] = json.RawMessage(strconv.FormatInt(readAt, 10))
	updated, err := json.Marshal(doc)
	if err != nil {
		return 0, errors.E(op, errors.Internal, err)
	}
	if err := txn.Save(ctx, [][]byte{updated}); err != nil {
		return 0, errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return 0, errors.E(op, err)
	}
	return readAt, nil
}

// DeleteInboxMessage deletes a message from the principal's inbox.
func (s *Service) DeleteInboxMessage(ctx context.Context, p hub.Principal, id string) error {
	const op errors.Op = "mail.DeleteInboxMessage"
	return s.delete(ctx, op, p, InboxCollection, id)
}

// DeleteSentboxMessage deletes a message from the principal's sentbox.
func (s *Service) DeleteSentboxMessage(ctx context.Context, p hub.Principal, id string) error {
	const op errors.Op = "mail.DeleteSentboxMessage"
	return s.delete(ctx, op, p, SentboxCollection, id)
}

func (s *Service) delete(ctx context.Context, op errors.Op, p hub.Principal, box, id string) error {
	d, err := s.ownBox(ctx, op, p)
	if err != nil {
		return err
	}
	txn, err := d.WriteTxn(ctx, p, box)
	if err != nil {
		return errors.E(op, err)
	}
	defer txn.Discard()
	if err := txn.Delete(ctx, []string{id}); errors.Is(errors.NotExist, err) {
		return errors.Errorf(op, errors.NotExist, "message %q not found in your %s", errors.Clip(id), box)
	} else if err != nil {
		return errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// decodeMessage decodes a stored message. ThreadDB keeps numbers as
// float64 and writes them in their shortest form, so the times are read
// back through float64 (stamp and exact make them float64-exact).
func decodeMessage(raw []byte) (Message, error) {
	var m struct {
		Message
		CreatedAt float64 `json:"created_at"`
		ReadAt    float64 `json:"read_at"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Message{}, err
	}
	m.Message.CreatedAt, m.Message.ReadAt = int64(m.CreatedAt), int64(m.ReadAt)
	return m.Message, nil
}
