package conversation

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/identity"
	"github.com/mfabridge/mfabridge/radattr"
)

// accept finishes a login the provider accepted: the user's roles are
// looked up when the client's rules need them, access rules are checked
// (after MFA, so that membership is never revealed to someone who has not
// proved who they are), and the reply attributes are added.
func (ex *turn) accept(ctx context.Context, id *identity.Identity) *radius.Packet {
	if id == nil {
		id = &identity.Identity{User: ex.user}
	}
	if id.User != "" && id.User != ex.user {
		ex.log = ex.log.WithField("identity", id.User)
	}
	if err := ex.e.Throttle.Succeed(ctx, ex.user, ex.src); err != nil {
		ex.log.WithError(err).Warn("failed-login counter not reachable: this success is not recorded")
	}
	var attrs []radattr.Attr
	attrs = append(attrs, ex.client.ReplyAttrs...)
	if ex.client.NeedsGroups() {
		groups := id.Groups
		if groups == nil {
			lookup, ok := ex.prov.(identity.GroupLookup)
			if !ok {
				return ex.upstreamFailure(fmt.Errorf("provider %q cannot look up roles", ex.prov.Name()))
			}
			var err error
			if groups, err = lookup.Groups(ctx, *id); err != nil {
				return ex.upstreamFailure(fmt.Errorf("looking up the user's roles: %w", err))
			}
		}
		if len(ex.client.AllowedRoles) > 0 && !intersects(groups, ex.client.AllowedRoles) {
			ex.log = ex.log.WithField("roles", strings.Join(groups, ","))
			ex.log.Warn("MFA passed but the user is in none of the client's allowed_roles: rejected")
			return ex.finish(radius.CodeAccessReject, ex.e.Config.Texts.NotAllowed, "not_allowed", "")
		}
		roles := make([]string, 0, len(ex.client.RoleReplyAttrs))
		for role := range ex.client.RoleReplyAttrs {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			if intersects(groups, []string{role}) {
				attrs = append(attrs, ex.client.RoleReplyAttrs[role]...)
			}
		}
		ex.log = ex.log.WithField("roles", strings.Join(groups, ","))
	}
	r := ex.finish(radius.CodeAccessAccept, ex.e.Config.Texts.Accepted, "accept", "")
	for _, a := range attrs {
		a.AddTo(r)
	}
	return r
}

// intersects reports whether a and b share a name (case-insensitive).
func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.EqualFold(x, y) {
				return true
			}
		}
	}
	return false
}

// rejectText is the configured text for a provider's rejection.
func (ex *turn) rejectText(step identity.Step) string {
	t := ex.e.Config.Texts
	switch step.Why {
	case identity.WhyFailed:
		return t.Failed
	case identity.WhyFederated:
		return t.Federated
	case identity.WhyNoMechanism:
		return t.NoMechanism
	case identity.WhyRetryLater:
		return t.RetryLater
	case identity.WhyMisconfigured:
		return t.Misconfigured
	}
	if step.Reason != "" {
		return step.Reason
	}
	return t.Failed
}
