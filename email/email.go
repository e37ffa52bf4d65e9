// Package email sends Hub's e-mail (sign-up and sign-in confirmations, org
// invitations): over SMTP when configured, else into the log so a
// self-hosted operator can still follow the links.
package email

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/selfhub/hub/errors"
)

// SMTP sends mail through an SMTP server.
type SMTP struct {
	Addr     string // host:port
	From     string // envelope and header sender
	Username string // optional PLAIN auth
	Password string
}

// Send delivers one plain-text message.
func (s SMTP) Send(ctx context.Context, to, subject, body string) error {
	const op errors.Op = "email.Send"
	if strings.ContainsAny(to+subject, "\r\n") {
		return errors.E(op, errors.Invalid, "line breaks in an e-mail header")
	}
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		s.From, to, subject, time.Now().UTC().Format(time.RFC1123Z), strings.ReplaceAll(body, "\n", "\r\n"))
	var auth smtp.Auth
	if s.Username != "" {
		host, _, _ := net.SplitHostPort(s.Addr)
		auth = smtp.PlainAuth("", s.Username, s.Password, host)
	}
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(s.Addr, auth, s.From, []string{to}, []byte(msg)) }()
	select {
	case err := <-done:
		if err != nil {
			return errors.E(op, errors.Unavailable, err)
		}
		return nil
	case <-ctx.Done():
		return errors.E(op, ctx.Err())
	}
}

// Log writes each message to a logger instead of sending it.
type Log struct {
	Logger *slog.Logger
}

// Send logs the message, links included.
func (l Log) Send(ctx context.Context, to, subject, body string) error {
	l.Logger.LogAttrs(ctx, slog.LevelWarn, "e-mail not sent (no SMTP configured); its text follows",
		slog.String("to", to), slog.String("subject", subject), slog.String("body", body))
	return nil
}
