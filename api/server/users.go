package server

import (
	"context"

	"github.com/selfhub/hub"
	billingpb "github.com/selfhub/hub/api/pb/billingdpb"
	pb "github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/mail"
)

// usersRequirements gives the credentials each api.usersd.pb.APIService
// method needs: every one acts on the caller's own DBs and mailbox, so
// all need an authenticated principal (for an app's user, a user group key
// with the token GetToken issued).
var usersRequirements = map[string]auth.Requirement{
	"GetThread":            auth.Authenticated,
	"ListThreads":          auth.Authenticated,
	"SetupMailbox":         auth.Authenticated,
	"SendMessage":          auth.Authenticated,
	"ListInboxMessages":    auth.Authenticated,
	"ListSentboxMessages":  auth.Authenticated,
	"ReadInboxMessage":     auth.Authenticated,
	"DeleteInboxMessage":   auth.Authenticated,
	"DeleteSentboxMessage": auth.Authenticated,
	"GetUsage":             auth.Authenticated,
	"ArchivesLs":           auth.Authenticated,
	"ArchivesImport":       auth.Authenticated,
	"ArchiveRetrievalLs":   auth.Authenticated,
	"ArchiveRetrievalLogs": auth.Authenticated,
}

// errNoFilecoin answers the archive calls.
var errNoFilecoin = errors.E(errors.Unimplemented, "Filecoin archives are not offered: the Filecoin network and Powergate service the Textile Hub archived to no longer exist")

// usersService serves api.usersd.pb.APIService: the caller's threads and
// mailbox. It converts protobuf to the mail package's calls and back.
type usersService struct {
	pb.UnimplementedAPIServiceServer
	s *Server
}

func (u *usersService) GetThread(ctx context.Context, req *pb.GetThreadRequest) (*pb.GetThreadResponse, error) {
	if req.Name == "" {
		return nil, errors.E(errors.Invalid, "name the thread to get (GetThread name)")
	}
	infos, err := u.s.dbs.Threads(principal(ctx)).ListDBs(ctx)
	if err != nil {
		return nil, err
	}
	for _, info := range infos {
		if info.Name == req.Name {
			return &pb.GetThreadResponse{Id: info.ID.Bytes(), Name: info.Name, IsDb: true}, nil
		}
	}
	if req.Name == mail.DBName {
		return nil, errors.E(errors.NotExist, "you have no mailbox (thread hubmail) yet; call SetupMailbox first")
	}
	// Exactly this message: @textile/buckets' getOrCreate creates the
	// "buckets" DB only when GetThread fails with "Thread not found" (the
	// original's words) and rethrows anything else.
	return nil, errors.E(errors.NotExist, "Thread not found")
}

func (u *usersService) ListThreads(ctx context.Context, _ *pb.ListThreadsRequest) (*pb.ListThreadsResponse, error) {
	infos, err := u.s.dbs.Threads(principal(ctx)).ListDBs(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListThreadsResponse{}
	for _, info := range infos {
		out.List = append(out.List, &pb.GetThreadResponse{Id: info.ID.Bytes(), Name: info.Name, IsDb: true})
	}
	return out, nil
}

func (u *usersService) SetupMailbox(ctx context.Context, _ *pb.SetupMailboxRequest) (*pb.SetupMailboxResponse, error) {
	id, err := u.s.mail.Mail(principal(ctx)).SetupMailbox(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.SetupMailboxResponse{MailboxId: id.Bytes()}, nil
}

func (u *usersService) SendMessage(ctx context.Context, req *pb.SendMessageRequest) (*pb.SendMessageResponse, error) {
	sealed := hub.SealedMessage{ToBody: req.ToBody, ToSignature: req.ToSignature, FromBody: req.FromBody, FromSignature: req.FromSignature}
	m, err := u.s.mail.Mail(principal(ctx)).SendMessage(ctx, hub.PubKey(req.To), sealed)
	if err != nil {
		return nil, err
	}
	return &pb.SendMessageResponse{Id: m.ID, CreatedAt: m.CreatedAt}, nil
}

func (u *usersService) ListInboxMessages(ctx context.Context, req *pb.ListInboxMessagesRequest) (*pb.ListInboxMessagesResponse, error) {
	opts := hub.MailListOptions{Seek: req.Seek, Ascending: req.Ascending}
	var err error
	if opts.Limit, err = limit(req.Limit); err != nil {
		return nil, err
	}
	switch req.Status {
	case pb.ListInboxMessagesRequest_STATUS_UNSPECIFIED, pb.ListInboxMessagesRequest_STATUS_ALL:
		opts.Status = hub.MailAll
	case pb.ListInboxMessagesRequest_STATUS_READ:
		opts.Status = hub.MailRead
	case pb.ListInboxMessagesRequest_STATUS_UNREAD:
		opts.Status = hub.MailUnread
	default:
		return nil, errors.Errorf("", errors.Invalid, "status %d is not ALL (1), READ (2) or UNREAD (3)", req.Status)
	}
	ms, err := u.s.mail.Mail(principal(ctx)).ListInboxMessages(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &pb.ListInboxMessagesResponse{Messages: messagesToPB(ms)}, nil
}

func (u *usersService) ListSentboxMessages(ctx context.Context, req *pb.ListSentboxMessagesRequest) (*pb.ListSentboxMessagesResponse, error) {
	opts := hub.MailListOptions{Seek: req.Seek, Ascending: req.Ascending}
	var err error
	if opts.Limit, err = limit(req.Limit); err != nil {
		return nil, err
	}
	ms, err := u.s.mail.Mail(principal(ctx)).ListSentboxMessages(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &pb.ListSentboxMessagesResponse{Messages: messagesToPB(ms)}, nil
}

// limit converts a wire page size, which the mail package bounds.
func limit(n int64) (int, error) {
	if n < 0 || n > mail.MaxLimit {
		return 0, errors.Errorf("", errors.Invalid, "limit %d is out of range; ask for 1 to %d messages (0 means %d)", n, mail.MaxLimit, mail.DefaultLimit)
	}
	return int(n), nil
}

func (u *usersService) ReadInboxMessage(ctx context.Context, req *pb.ReadInboxMessageRequest) (*pb.ReadInboxMessageResponse, error) {
	readAt, err := u.s.mail.Mail(principal(ctx)).ReadInboxMessage(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return &pb.ReadInboxMessageResponse{ReadAt: readAt}, nil
}

func (u *usersService) DeleteInboxMessage(ctx context.Context, req *pb.DeleteInboxMessageRequest) (*pb.DeleteInboxMessageResponse, error) {
	if err := u.s.mail.Mail(principal(ctx)).DeleteInboxMessage(ctx, req.Id); err != nil {
		return nil, err
	}
	return &pb.DeleteInboxMessageResponse{}, nil
}

func (u *usersService) DeleteSentboxMessage(ctx context.Context, req *pb.DeleteSentboxMessageRequest) (*pb.DeleteSentboxMessageResponse, error) {
	if err := u.s.mail.Mail(principal(ctx)).DeleteSentboxMessage(ctx, req.Id); err != nil {
		return nil, err
	}
	return &pb.DeleteSentboxMessageResponse{}, nil
}

// GetUsage reports the metered usage of the caller, or, for a developer
// or org, of one of its app's users (req.key).
func (u *usersService) GetUsage(ctx context.Context, req *pb.GetUsageRequest) (*pb.GetUsageResponse, error) {
	r, err := u.s.usage.Report(ctx, principal(ctx), hub.PubKey(req.Key))
	if err != nil {
		return nil, err
	}
	usage := make(map[string]*billingpb.Usage, len(r.Figures))
	for _, f := range r.Figures {
		usage[f.Name] = &billingpb.Usage{Description: f.Description, Units: f.Units, Total: f.Units}
	}
	return &pb.GetUsageResponse{
		Customer: &billingpb.GetCustomerResponse{Key: string(r.Subject.Owner()), ParentKey: string(r.Subject.Account), DailyUsage: usage},
		Usage:    &billingpb.GetCustomerUsageResponse{Usage: usage},
	}, nil
}

func (u *usersService) ArchivesLs(context.Context, *pb.ArchivesLsRequest) (*pb.ArchivesLsResponse, error) {
	return nil, errNoFilecoin
}

func (u *usersService) ArchivesImport(context.Context, *pb.ArchivesImportRequest) (*pb.ArchivesImportResponse, error) {
	return nil, errNoFilecoin
}

func (u *usersService) ArchiveRetrievalLs(context.Context, *pb.ArchiveRetrievalLsRequest) (*pb.ArchiveRetrievalLsResponse, error) {
	return nil, errNoFilecoin
}

func (u *usersService) ArchiveRetrievalLogs(*pb.ArchiveRetrievalLogsRequest, pb.APIService_ArchiveRetrievalLogsServer) error {
	return errNoFilecoin
}

func messagesToPB(ms []hub.MailMessage) []*pb.Message {
	out := make([]*pb.Message, len(ms))
	for i, m := range ms {
		out[i] = &pb.Message{Id: m.ID, From: string(m.From), To: string(m.To), Body: m.Body,
			Signature: m.Signature, CreatedAt: m.CreatedAt, ReadAt: m.ReadAt}
	}
	return out
}
