package gateway

import (
	"fmt"
	"html"
	"net/http"

	"github.com/selfhub/hub/errors"
)

// The pages below answer a person who followed a link hubd e-mailed, in a
// browser: a minimal HTML page that says what happened and what to do.

// confirmLink follows a sign-up or sign-in confirmation link.
func confirmLink(a Accounts) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.Confirm(r.PathValue("token")); err != nil {
			page(w, http.StatusNotFound, "Link not valid", errors.Message(err))
			return
		}
		page(w, http.StatusOK, "Confirmed", "You are signed in. You can close this page and return to your terminal or app.")
	}
}

// consentLink follows an org invitation link.
func consentLink(a Accounts) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
	}
}

// page writes a minimal HTML page for a person following a link.
func page(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
