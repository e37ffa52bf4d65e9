package daemon

import (
	"fmt"
	"html"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/gateway"
)

// gatewayHandler serves hubd's HTTP endpoint: health, metrics, the links
// that hubd e-mails, and content (/ipfs/, /ipns/, /thread/: package
// gateway).
func gatewayHandler(a *auth.Service, reg *prometheus.Registry, content *gateway.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range gateway.Prefixes {
		mux.Handle(p, content)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /confirm/{token}", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Confirm(r.PathValue("token")); err != nil {
			page(w, http.StatusNotFound, "Link not valid", errors.Message(err))
			return
		}
		page(w, http.StatusOK, "Confirmed", "You are signed in. You can close this page and return to your terminal or app.")
	})
	mux.HandleFunc("GET /consent/{token}", func(w http.ResponseWriter, r *http.Request) {
		org, joined, err := a.AcceptInvite(r.Context(), r.PathValue("token"))
		switch {
		case errors.Is(errors.NotExist, err):
			page(w, http.StatusNotFound, "Invitation not valid", errors.Message(err))
		case errors.Is(errors.FailedPrecondition, err):
			page(w, http.StatusGone, "Invitation expired", errors.Message(err))
		case err != nil:
			page(w, http.StatusInternalServerError, "Something went wrong", "The invitation could not be accepted; try again later.")
		case joined:
			page(w, http.StatusOK, "Welcome", fmt.Sprintf("You are now a member of %s.", org))
		default:
			page(w, http.StatusOK, "Invitation accepted", fmt.Sprintf("Sign up with this e-mail address (hub init) and you will join %s.", org))
		}
	})
	// Bucket websites own every path of their host.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := content.Website(r); ok {
			content.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// page writes a minimal HTML page for a person following a link.
func page(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
