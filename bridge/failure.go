package bridge

import (
	"github.com/sirupsen/logrus"
	"layeh.com/radius"

	"github.com/mfabridge/mfabridge/config"
	"github.com/mfabridge/mfabridge/conversation"
	"github.com/mfabridge/mfabridge/radpacket"
)

// upstreamFailed answers a login the conversation could not decide (the
// identity provider or the store failed) as the client's upstream_failure
// says: an Access-Reject with the text for it, or nothing (nil), so that
// the NAS fails over to another server. Never an Accept.
func (s *Server) upstreamFailed(req *radius.Packet, client *config.Client, cfg *config.Config, f *conversation.Failure) *radius.Packet {
	s.obs.Authenticated(client.Name, "upstream_failure")
	s.obs.LoginFinished("upstream_failure", f.Mechanism, f.Took)
	l := f.Log.WithError(f.Err).WithFields(logrus.Fields{"event": "authentication", "outcome": "upstream_failure", "duration": f.Took})
	if client.UpstreamFailure == "drop" {
		s.obs.Dropped(dropUpstream)
		l.Error("identity provider failed: request dropped so the NAS can fail over")
		return nil
	}
	if f.Mechanism != "" {
		l = l.WithField("mechanism", f.Mechanism)
	}
	r := radpacket.NewReply(req, radius.CodeAccessReject)
	radpacket.AddReplyMessage(r, cfg.Texts.Unavailable)
	if f.Late {
		l.WithField("late", true).Warn("answered after the NAS's time (nas_wait): the NAS has most likely given up; raise nas_wait only if the NAS waits longer")
		return r
	}
	l.Warn("authentication rejected: the identity provider failed")
	return r
}
