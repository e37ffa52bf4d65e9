package gateway

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// PrivateBuckets opens the contents of private buckets, decrypted, for a
// principal with a role on the path.
type PrivateBuckets interface {
	// GatewayPrivate returns the file or directory at path of private
	// bucket key in DB thread if p may read it, by the bucket API's rules:
	// Permission when it may not, NotExist when the bucket is out of p's
	// reach or nothing is there.
	GatewayPrivate(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (buckets.PrivateEntry, error)
}

// Tokens checks the credentials that admit readers of private buckets.
type Tokens interface {
	// GatewayPrincipal returns the principal a link or user token acts
	// as toward the resources of account (a user of its apps, the
	// principal a link was issued to, or a bare identity that reaches none
	// of them) and what it grants; Unauthenticated when it is not valid,
	// Permission when the org access a link was issued under has ended.
	GatewayPrincipal(ctx context.Context, token string, account hub.PubKey) (hub.Principal, auth.Grant, error)
}

// servePrivate serves a path of private bucket b to the holder of a link
// (?token=, as the bucket's links carry it) or of a user token in an
// Authorization bearer header: files with Range support through
// http.ServeContent, directories as a plain listing whose links keep the
// link. A link reads only under its bucket and path; a user token, which
// may also write through the API, is refused in a URL, where it would be
// kept in browser history, server logs and Referer headers. A token acts
// as a user of its app and a link as whoever asked for it, by the bucket
// API's rules, checked on every request. boxo is not involved: it would
// serve the ciphertext.
func (h *Handler) servePrivate(w http.ResponseWriter, r *http.Request, b buckets.GatewayBucket, key, ipnsPath string) {
	if trustless(r) {
		// Raw blocks, CARs and records are the ciphertext DAG's, which
		// /ipfs/ serves; decrypted contents have no such form.
		httpError(w, http.StatusNotAcceptable, "bucket "+key+" is private: its contents are served decrypted only, as files and listings; its encrypted blocks are at /ipfs/<root>")
		return
	}
	p := ipnsPath
	if p == "" {
		p = r.URL.Path
	}
	rest := strings.TrimPrefix(p, "/ipns/"+key)
	token, inURL := r.URL.Query().Get("token"), true
	if a := r.Header.Get("Authorization"); token == "" && len(a) > len("bearer ") && strings.EqualFold(a[:len("bearer ")], "bearer ") {
		token, inURL = a[len("bearer "):], false
	}
	// Responses depend on the credential: no shared cache may keep them.
	w.Header().Set("Cache-Control", "private, no-cache")
	// A link rides in the URL: keep it out of Referer headers, and run
	// what a writer of the bucket put there as inert content, so its
	// scripts cannot read the reader's link from the page's address.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	unauthorized := func(msg string) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		httpError(w, http.StatusUnauthorized, msg)
	}
	if token == "" {
		unauthorized("bucket " + key + " is private: open it with one of its links (Links adds ?token=<link>), or send a reader's user token as Authorization: Bearer <token>")
		return
	}
	reader, g, err := h.tokens.GatewayPrincipal(r.Context(), token, b.Account)
	switch {
	case errors.Is(errors.Permission, err):
		httpError(w, http.StatusForbidden, errors.Message(err))
		return
	case err != nil:
		unauthorized(errors.Message(err))
		return
	case !g.Link && inURL:
		unauthorized("a user token is not accepted in a URL, where it would leak into history and logs: open the bucket with one of its links (from Links), or send the token as Authorization: Bearer <token>")
		return
	case g.Link && !linkReaches(g, b, key, rest):
		httpError(w, http.StatusForbidden, fmt.Sprintf("this link reads only /%s of bucket %s; get a link for this path from Links", g.Path, g.Bucket))
		return
	}
	e, err := h.priv.GatewayPrivate(r.Context(), reader, b.Thread, key, rest)
	if err != nil {
		h.fail(w, err, "private bucket", "thread", b.Thread, "key", key, "path", rest)
		return
	}
	if e.IsDir {
		if !strings.HasSuffix(r.URL.Path, "/") {
			u := *r.URL
			u.Path += "/"
			u.RawPath = ""
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		// A directory with an index.html is a web page, as in public
		// buckets and on bucket websites.
		if slices.ContainsFunc(e.Items, func(it buckets.Item) bool { return it.Name == "index.html" && !it.IsDir }) {
			index, err := h.priv.GatewayPrivate(r.Context(), reader, b.Thread, key, path.Join(rest, "index.html"))
			if err != nil {
				h.fail(w, err, "private bucket", "thread", b.Thread, "key", key, "path", rest+"/index.html")
				return
			}
			servePrivateFile(w, r, index)
			return
		}
		query := "" // a bearer header is not carried by a listing's links
		if inURL {
			query = "?token=" + url.QueryEscape(token)
		}
		listPrivate(w, e, query)
		return
	}
	servePrivateFile(w, r, e)
}

// linkReaches reports whether link g reads path rest of bucket key, b.
func linkReaches(g auth.Grant, b buckets.GatewayBucket, key, rest string) bool {
	if g.Bucket != key || g.Thread != b.Thread.String() {
		return false
	}
	segs, err := buckets.CleanPath(rest)
	if err != nil {
		return false
	}
	scope, err := buckets.CleanPath(g.Path)
	return err == nil && len(segs) >= len(scope) && slices.Equal(segs[:len(scope)], scope)
}

// servePrivateFile serves a decrypted file, ranges included.
func servePrivateFile(w http.ResponseWriter, r *http.Request, e buckets.PrivateEntry) {
	// The stored file's CID names these exact bytes: a strong ETag.
	w.Header().Set("ETag", `"`+e.Cid.String()+`"`)
	http.ServeContent(w, r, e.Name, time.Unix(0, e.Updated), e.File)
}

// listPrivate writes a directory listing whose links end in query.
func listPrivate(w http.ResponseWriter, e buckets.PrivateEntry, query string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	title := html.EscapeString("/" + e.Path)
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html><title>%s</title><h1>%s</h1><ul>\n", title, title)
	for _, it := range e.Items {
		name, href := it.Name, url.PathEscape(it.Name)
		if it.IsDir {
			name, href = name+"/", href+"/"
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a> %d</li>\n", html.EscapeString(href+query), html.EscapeString(name), it.Size)
	}
	b.WriteString("</ul>\n")
	fmt.Fprint(w, b.String())
}

// trustless reports whether r asks for a verifiable response (a raw
// block, a CAR, an IPNS record) rather than contents.
func trustless(r *http.Request) bool {
	if r.URL.Query().Get("format") != "" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/vnd.ipld.") || strings.Contains(accept, "application/vnd.ipfs.")
}
