package buckets

import (
	"context"
	"fmt"
	"strings"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Links are the addresses at which a bucket can be read.
type Links struct {
	URL  string // <gateway>/thread/<db>/buckets/<key>[/<path>]
	WWW  string // <scheme>://<key>.<www domain>, empty without a domain
	IPNS string // <gateway>/ipns/<key>
	// Path is the cleaned path the links were asked for ("" for the root).
	Path string
	// Private says the bucket is private: the gateway serves these links
	// only with a link capability added (?token=), which reads only under
	// Path; so all three links name Path, not just URL.
	Private bool
}

// Links returns the bucket's links.
func (s *Service) Links(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (Links, error) {
	const op errors.Op = "buckets.Links"
	segs, err := CleanPath(path)
	if err != nil {
		return Links{}, errors.E(op, err)
	}
	b, err := s.Get(ctx, p, thread, key)
	if err != nil {
		return Links{}, errors.E(op, err)
	}
	gw := strings.TrimRight(s.cfg.GatewayURL, "/")
	l := Links{URL: fmt.Sprintf("%s/thread/%s/buckets/%s", gw, thread, key), IPNS: gw + "/ipns/" + key, Path: join(segs), Private: b.IsPrivate()}
	if s.cfg.WWWDomain != "" {
		scheme := "https"
		if strings.HasPrefix(gw, "http://") {
			scheme = "http"
		}
		l.WWW = fmt.Sprintf("%s://%s.%s", scheme, key, s.cfg.WWWDomain)
	}
	if len(segs) > 0 {
		l.URL += "/" + l.Path
		if l.Private {
			l.IPNS += "/" + l.Path
			if l.WWW != "" {
				l.WWW += "/" + l.Path
			}
		}
	}
	return l, nil
}
