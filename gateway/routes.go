package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Accounts is what the links hubd e-mails need from the account service.
type Accounts interface {
	// Confirm marks the sign-up or sign-in confirmation with token as
	// followed; NotExist when the link is unknown or has expired.
	Confirm(token string) error
	// AcceptInvite follows an org invitation link and returns the org's
	// name and whether the invited account joined now (otherwise it joins
	// when it signs up); NotExist for an unknown or lapsed invitation,
	// FailedPrecondition for an expired one.
	AcceptInvite(ctx context.Context, token string) (org string, joined bool, err error)
}

// Routes returns hubd's whole HTTP address: content (/ipfs/, /ipns/,
// /thread/ and bucket websites: content), /health, /metrics (what metrics
// gathers, in the Prometheus text format) and the links hubd e-mails
// (/confirm/, /consent/: accounts, links.go).
func Routes(content *Handler, accounts Accounts, metrics prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/ipfs/", "/ipns/", "/thread/"} {
		mux.Handle(p, content)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /confirm/{token}", confirmLink(accounts))
	mux.HandleFunc("GET /consent/{token}", consentLink(accounts))
	// Bucket websites own every path of their host.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := content.Website(r); ok {
			content.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
