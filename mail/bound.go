package mail

import (
	"context"

	"github.com/selfhub/hub"
)

var _ hub.MailServer = (*Service)(nil)

// Mail returns the service bound to the principal p: the hub.Mail that
// the API serves to p.
func (s *Service) Mail(p hub.Principal) hub.Mail { return bound{s: s, p: p} }

// bound is the service as one caller sees it.
type bound struct {
	s *Service
	p hub.Principal
}

func (b bound) SetupMailbox(ctx context.Context) (hub.ThreadID, error) {
	return b.s.SetupMailbox(ctx, b.p)
}

func (b bound) SendMessage(ctx context.Context, to hub.PubKey, m hub.SealedMessage) (hub.SentMessage, error) {
	sent, err := b.s.SendMessage(ctx, b.p, to, m.ToBody, m.ToSignature, m.FromBody, m.FromSignature)
	if err != nil {
		return hub.SentMessage{}, err
	}
	return hub.SentMessage{ID: sent.ID, CreatedAt: sent.CreatedAt}, nil
}

// contract returns ms as the contract's messages.
func contract(ms []Message) []hub.MailMessage {
	out := make([]hub.MailMessage, len(ms))
	for i, m := range ms {
		out[i] = hub.MailMessage(m)
	}
	return out
}

func (b bound) ListInboxMessages(ctx context.Context, opts hub.MailListOptions) ([]hub.MailMessage, error) {
	ms, err := b.s.ListInboxMessages(ctx, b.p, opts)
	if err != nil {
		return nil, err
	}
	return contract(ms), nil
}

func (b bound) ListSentboxMessages(ctx context.Context, opts hub.MailListOptions) ([]hub.MailMessage, error) {
	ms, err := b.s.ListSentboxMessages(ctx, b.p, opts)
	if err != nil {
		return nil, err
	}
	return contract(ms), nil
}

func (b bound) ReadInboxMessage(ctx context.Context, id string) (int64, error) {
	return b.s.ReadInboxMessage(ctx, b.p, id)
}

func (b bound) DeleteInboxMessage(ctx context.Context, id string) error {
	return b.s.DeleteInboxMessage(ctx, b.p, id)
}

func (b bound) DeleteSentboxMessage(ctx context.Context, id string) error {
	return b.s.DeleteSentboxMessage(ctx, b.p, id)
}
