// Package usersclient is the Go client of Hub's Users API
// (api.usersd.pb.APIService): the caller's threads and its mailbox, with the
// client-side encryption of @textile/hub's Users, so messages sent from
// JavaScript open in Go and back.
//
// Calls act as whoever the context's credentials name (client.WithAPIKey
// with a user group key, and client.WithToken with the token that
// threadsclient.GetToken issued for the identity).
package usersclient

import (
	"context"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/usersdpb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/threads"
)

// Client calls the Users API.
type Client struct {
	c pb.APIServiceClient
}

// New returns a Client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{c: pb.NewAPIServiceClient(conn)}
}

// Thread is one of the caller's threads.
type Thread struct {
	ID   threadsclient.ID
	Name string
	IsDB bool
}

var _ hub.Mail = (*Client)(nil)

// Message is a mailbox message as the hub stores it: Body is ciphertext for
// the box's owner (Open decrypts it), Signature the sender's signature over
// Body. It is the contract's type, as are Status and ListOptions.
type Message = hub.MailMessage

// Status selects inbox messages by whether they have been read.
type Status = hub.MailStatus

// Inbox statuses.
const (
	All    = hub.MailAll
	Read   = hub.MailRead
	Unread = hub.MailUnread
)

// ListOptions pages through a box.
type ListOptions = hub.MailListOptions

// GetThread returns the caller's thread with the name.
func (c *Client) GetThread(ctx context.Context, name string) (Thread, error) {
	const op errors.Op = "users.GetThread"
	res, err := c.c.GetThread(ctx, &pb.GetThreadRequest{Name: name})
	if err != nil {
		return Thread{}, rpcerr.FromStatus(op, err)
	}
	return threadFromPB(res)
}

// ListThreads lists the caller's threads.
func (c *Client) ListThreads(ctx context.Context) ([]Thread, error) {
	const op errors.Op = "users.ListThreads"
	res, err := c.c.ListThreads(ctx, &pb.ListThreadsRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	out := make([]Thread, len(res.List))
	for i, t := range res.List {
		if out[i], err = threadFromPB(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func threadFromPB(t *pb.GetThreadResponse) (Thread, error) {
	const op errors.Op = "users.Thread"
	id, err := threads.Cast(t.Id)
	if err != nil {
		return Thread{}, errors.E(op, errors.Internal, err)
	}
	return Thread{ID: id, Name: t.Name, IsDB: t.IsDb}, nil
}

// SetupMailbox creates the caller's mailbox, or finds it, and returns the
// ID of its DB (for a ThreadDB Listen on "inbox" or "sentbox").
func (c *Client) SetupMailbox(ctx context.Context) (threadsclient.ID, error) {
	const op errors.Op = "users.SetupMailbox"
	res, err := c.c.SetupMailbox(ctx, &pb.SetupMailboxRequest{})
	if err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	id, err := threads.Cast(res.MailboxId)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return id, nil
}

// Seal encrypts body to the recipient and to the sender and signs both
// ciphertexts with from, as @textile/hub's Users.sendMessage does.
func Seal(from crypto.PrivKey, to crypto.PubKey, body []byte) (hub.SealedMessage, error) {
	const op errors.Op = "users.Seal"
	toBody, err := Encrypt(to, body)
	if err != nil {
		return hub.SealedMessage{}, errors.E(op, err)
	}
	fromBody, err := Encrypt(from.GetPublic(), body)
	if err != nil {
		return hub.SealedMessage{}, errors.E(op, err)
	}
	toSig, err := from.Sign(toBody)
	if err != nil {
		return hub.SealedMessage{}, errors.E(op, errors.Invalid, err)
	}
	fromSig, err := from.Sign(fromBody)
	if err != nil {
		return hub.SealedMessage{}, errors.E(op, errors.Invalid, err)
	}
	return hub.SealedMessage{ToBody: toBody, ToSignature: toSig, FromBody: fromBody, FromSignature: fromSig}, nil
}

// Send seals body from from to to (Seal) and sends it through m, a Client
// or any other hub.Mail; from must be the identity m acts as (for a Client,
// the one the context's token was issued for). It returns the sender's
// copy, as its sentbox holds it.
func Send(ctx context.Context, m hub.Mail, from crypto.PrivKey, to crypto.PubKey, body []byte) (Message, error) {
	const op errors.Op = "users.Send"
	toStr, err := identity.String(to)
	if err != nil {
		return Message{}, errors.E(op, err)
	}
	fromStr, err := identity.String(from.GetPublic())
	if err != nil {
		return Message{}, errors.E(op, err)
	}
	sealed, err := Seal(from, to, body)
	if err != nil {
		return Message{}, errors.E(op, err)
	}
	sent, err := m.SendMessage(ctx, toStr, sealed)
	if err != nil {
		return Message{}, err
	}
	return Message{ID: sent.ID, From: fromStr, To: toStr, Body: sealed.FromBody, Signature: sealed.FromSignature, CreatedAt: sent.CreatedAt}, nil
}

// SendMessage sends a message its caller sealed (see Seal, and Send, which
// does both) to the identity to.
func (c *Client) SendMessage(ctx context.Context, to hub.PubKey, m hub.SealedMessage) (hub.SentMessage, error) {
	const op errors.Op = "users.SendMessage"
	res, err := c.c.SendMessage(ctx, &pb.SendMessageRequest{To: string(to), ToBody: m.ToBody, ToSignature: m.ToSignature, FromBody: m.FromBody, FromSignature: m.FromSignature})
	if err != nil {
		return hub.SentMessage{}, rpcerr.FromStatus(op, err)
	}
	return hub.SentMessage{ID: res.Id, CreatedAt: res.CreatedAt}, nil
}

// ListInboxMessages lists a page of the caller's inbox.
func (c *Client) ListInboxMessages(ctx context.Context, opts ListOptions) ([]Message, error) {
	const op errors.Op = "users.ListInboxMessages"
	req := &pb.ListInboxMessagesRequest{Seek: opts.Seek, Limit: int64(opts.Limit), Ascending: opts.Ascending}
	switch opts.Status {
	case All:
		req.Status = pb.ListInboxMessagesRequest_STATUS_ALL
	case Read:
		req.Status = pb.ListInboxMessagesRequest_STATUS_READ
	case Unread:
		req.Status = pb.ListInboxMessagesRequest_STATUS_UNREAD
	default:
		return nil, errors.Errorf(op, errors.Invalid, "status %d is not All, Read or Unread", opts.Status)
	}
	res, err := c.c.ListInboxMessages(ctx, req)
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	return messagesFromPB(res.Messages), nil
}

// ListSentboxMessages lists a page of the caller's sentbox.
func (c *Client) ListSentboxMessages(ctx context.Context, opts ListOptions) ([]Message, error) {
	const op errors.Op = "users.ListSentboxMessages"
	res, err := c.c.ListSentboxMessages(ctx, &pb.ListSentboxMessagesRequest{Seek: opts.Seek, Limit: int64(opts.Limit), Ascending: opts.Ascending})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	return messagesFromPB(res.Messages), nil
}

// ReadInboxMessage marks an inbox message read and returns when.
func (c *Client) ReadInboxMessage(ctx context.Context, id string) (int64, error) {
	const op errors.Op = "users.ReadInboxMessage"
	res, err := c.c.ReadInboxMessage(ctx, &pb.ReadInboxMessageRequest{Id: id})
	if err != nil {
		return 0, rpcerr.FromStatus(op, err)
	}
	return res.ReadAt, nil
}

// DeleteInboxMessage deletes a message from the caller's inbox.
func (c *Client) DeleteInboxMessage(ctx context.Context, id string) error {
	const op errors.Op = "users.DeleteInboxMessage"
	_, err := c.c.DeleteInboxMessage(ctx, &pb.DeleteInboxMessageRequest{Id: id})
	return rpcerr.FromStatus(op, err)
}

// DeleteSentboxMessage deletes a message from the caller's sentbox.
func (c *Client) DeleteSentboxMessage(ctx context.Context, id string) error {
	const op errors.Op = "users.DeleteSentboxMessage"
	_, err := c.c.DeleteSentboxMessage(ctx, &pb.DeleteSentboxMessageRequest{Id: id})
	return rpcerr.FromStatus(op, err)
}

// Open checks that m is signed by its sender and decrypts it with priv,
// the key of the box's owner.
func Open(priv crypto.PrivKey, m Message) ([]byte, error) {
	const op errors.Op = "users.Open"
	pub, err := identity.Parse(m.From)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if ok, err := pub.Verify(m.Body, m.Signature); err != nil || !ok {
		return nil, errors.Errorf(op, errors.Invalid, "message %s is not signed by its sender %s", m.ID, m.From)
	}
	return Decrypt(priv, m.Body)
}

func messagesFromPB(ms []*pb.Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = Message{ID: m.Id, From: hub.PubKey(m.From), To: hub.PubKey(m.To), Body: m.Body,
			Signature: m.Signature, CreatedAt: m.CreatedAt, ReadAt: m.ReadAt}
	}
	return out
}
