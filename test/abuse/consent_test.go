package abuse

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// TestConsentReachesOnlyInvitee: an org owner invites another developer
// and then tries to make them a member without their consent. The
// InviteToOrg response carries no token, guessed and empty consent links
// are refused, and the invitee's memberships do not change until the
// invitee follows the link that only their e-mail (here hubd's log, as
// there is no SMTP server) carries.
func TestConsentReachesOnlyInvitee(t *testing.T) {
	h := startHub(t)
	owner, victim, bystander := newTenant(t, h, "inviter"), newTenant(t, h, "invitee"), newTenant(t, h, "bystander")
	org, err := owner.Hub.CreateOrg(owner.Dev, "Pressgang")
	if err != nil {
		t.Fatal(err)
	}
	octx := client.WithOrg(owner.Dev, org.Slug)

	// The raw response, as any client sees it: the token field is empty.
	res, err := hubdpb.NewAPIServiceClient(testhub.Dial(t, h.Addrs.API)).InviteToOrg(octx, &hubdpb.InviteToOrgRequest{Email: "invitee@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetToken() != "" {
		t.Fatalf("InviteToOrg returned the consent token %q to the inviter", res.GetToken())
	}
	link := mailedLink(t, h, "invitee@example.com")

	// Everything the inviter can try without the link.
	gw := "http://" + h.Addrs.Gateway + "/consent/"
	for _, guess := range []string{res.GetToken(), "x", strings.Repeat("a", 52), "../confirm/x"} {
		if code, _ := testhub.Follow(t, gw+guess); code != http.StatusNotFound {
			t.Errorf("consent link %q answered %d; want 404", guess, code)
		}
	}
	_, err = victim.Hub.GetOrg(client.WithOrg(victim.Dev, org.Slug))
	if !errors.Is(errors.Permission, err) {
		t.Fatalf("the invitee acts as the org before consenting: %v", err)
	}
	assertMembers(t, owner.Hub, octx, "inviter")
	if orgs, err := victim.Hub.ListOrgs(victim.Dev); err != nil || len(orgs) != 0 {
		t.Fatalf("the invitee's orgs before consenting: %+v, %v; want none", orgs, err)
	}
	h.alive(t)
	bystander.mustBeServed(t)

	// The invitee's own consent.
	if code, page := testhub.Follow(t, link); code != http.StatusOK || !strings.Contains(page, "now a member") {
		t.Fatalf("the invitee's link: %d %s", code, page)
	}
	if _, err := victim.Hub.GetOrg(client.WithOrg(victim.Dev, org.Slug)); err != nil {
		t.Fatalf("the invitee cannot act as the org after consenting: %v", err)
	}
	assertMembers(t, owner.Hub, octx, "inviter", "invitee")
}

// mailedLink returns the link in the e-mail hubd wrote to its log for to
// (a hub with no SMTP server logs its e-mail), waiting up to 2 minutes.
func mailedLink(t *testing.T, h *target, to string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case rec := <-h.Logs:
			if rec["to"] == to {
				body, _ := rec["body"].(string)
				return testhub.Link(t, body)
			}
		case <-deadline:
			t.Fatalf("hubd logged no e-mail to %s within 2 minutes", to)
		}
	}
}

// assertMembers fails the test unless the org in ctx has exactly the
// members named, in order.
func assertMembers(t *testing.T, hc *hubclient.Client, ctx context.Context, names ...string) {
	t.Helper()
	org, err := hc.GetOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range org.Members {
		got = append(got, m.Username)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("members of %s = %v; want %v", org.Slug, got, names)
	}
}

// joinOrg invites the holder of email to the org in octx and follows the
// mailed link for them.
func joinOrg(t *testing.T, h *target, hc *hubclient.Client, octx context.Context, email string) {
	t.Helper()
	if err := hc.InviteToOrg(octx, email); err != nil {
		t.Fatal(err)
	}
	if code, page := testhub.Follow(t, mailedLink(t, h, email)); code != http.StatusOK {
		t.Fatalf("following the invitation to %s: %d %s", email, code, page)
	}
}
