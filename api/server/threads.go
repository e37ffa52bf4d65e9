package server

import (
	"context"
	"time"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
)

// threadsRequirements gives the credentials each threads.pb.API method
// needs: GetToken an API key (it is how a user gets a token), the rest an
// authenticated principal, and the DB manager decides whose DBs it reaches.
var threadsRequirements = map[string]auth.Requirement{
	"GetToken": auth.APIKeyOnly,
	"NewDB":    auth.Authenticated, "NewDBFromAddr": auth.Authenticated, "ListDBs": auth.Authenticated,
	"GetDBInfo": auth.Authenticated, "DeleteDB": auth.Authenticated,
	"NewCollection": auth.Authenticated, "UpdateCollection": auth.Authenticated, "DeleteCollection": auth.Authenticated,
	"GetCollectionInfo": auth.Authenticated, "GetCollectionIndexes": auth.Authenticated, "ListCollections": auth.Authenticated,
	"Create": auth.Authenticated, "Save": auth.Authenticated, "Verify": auth.Authenticated, "Delete": auth.Authenticated,
	"Has": auth.Authenticated, "Find": auth.Authenticated, "FindByID": auth.Authenticated,
	"ReadTransaction": auth.Authenticated, "WriteTransaction": auth.Authenticated, "Listen": auth.Authenticated,
}

// threadsService serves threads.pb.API: GetToken here, ThreadDB in
// threads_db.go.
type threadsService struct {
	pb.UnimplementedAPIServer
	s *Server
}

// GetToken runs the challenge exchange: the client names its identity, signs
// the challenge it is sent, and gets a token for that identity. The whole
// exchange must end within Limits.SignInTimeout; the challenge lives only
// in this call, so one left unanswered costs nothing once it ends.
func (t *threadsService) GetToken(stream pb.API_GetTokenServer) error {
	const op errors.Op = "threads.GetToken"
	limit := t.s.limits.SignInTimeout
	ctx, cancel := context.WithTimeout(stream.Context(), limit)
	defer cancel()
	first, err := recvWithin(ctx, stream, limit)
	if err != nil {
		return errors.E(op, err)
	}
	key := first.GetKey()
	if key == "" {
		return errors.E(op, errors.Invalid, "GetToken starts with the identity's public key string ({key})")
	}
	challenge, err := auth.NewChallenge()
	if err != nil {
		return err
	}
	if err := stream.Send(&pb.GetTokenReply{Payload: &pb.GetTokenReply_Challenge{Challenge: challenge}}); err != nil {
		return errors.E(op, errors.Unavailable, err)
	}
	second, err := recvWithin(ctx, stream, limit)
	if err != nil {
		return errors.E(op, err)
	}
	sig := second.GetSignature()
	if len(sig) == 0 {
		return errors.E(op, errors.Invalid, "GetToken expects the challenge's signature ({signature}) second")
	}
	token, err := t.s.auth.IssueToken(ctx, principal(ctx), hub.PubKey(key), challenge, sig)
	if err != nil {
		return err
	}
	return stream.Send(&pb.GetTokenReply{Payload: &pb.GetTokenReply_Token{Token: token}})
}

// recvWithin receives one message or fails when ctx, which ends after
// limit, ends first.
func recvWithin(ctx context.Context, stream pb.API_GetTokenServer, limit time.Duration) (*pb.GetTokenRequest, error) {
	type result struct {
		msg *pb.GetTokenRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, errors.E(errors.Canceled, r.err)
		}
		return r.msg, nil
	case <-ctx.Done():
		if ctx.Err() != context.DeadlineExceeded {
			return nil, errors.E(errors.Canceled, ctx.Err())
		}
		return nil, errors.Errorf("", errors.DeadlineExceeded, "the sign-in was not finished within %s (--signin-timeout): send the key, then the challenge's signature, sooner", limit)
	}
}
