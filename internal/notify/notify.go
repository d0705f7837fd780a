// Package notify delivers incident changes to a pager: a persistent
// outbox in the state directory, dedupe with reasons, retries with
// exponential backoff and jitter (honouring Retry-After), a per-channel
// rate limit, repeat reminders and a readiness check. The pager itself
// (Slack, in internal/notify/slack) sits behind the Notifier interface.
//
// The dispatcher is the one owner of delivery state (which message or
// thread each incident was paged in, what was delivered): the incident
// store asks Dispatcher.Delivered and keeps no copy. The order in which
// the outbox and the state file are written so that a crash neither
// loses nor repeats a message is described in store.go.
package notify

import (
	"context"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Kind is what a delivery tells about its incident.
type Kind string

// Delivery kinds.
const (
	// KindOpen pages: a new message (in bot mode the thread's parent).
	KindOpen Kind = "open"
	// KindUpdate tells what changed (a thread reply in bot mode).
	KindUpdate Kind = "update"
	// KindResolve ends the incident (bot mode: the parent is edited and a
	// reply is posted in its thread).
	KindResolve Kind = "resolve"
	// KindReminder says the incident is still open (repeat interval).
	KindReminder Kind = "reminder"
)

// Delivery is one message for a Notifier to send.
type Delivery struct {
	// Key is unique per outbox entry; notifiers attach it to the message so
	// that a retry after an ambiguous failure can find what was delivered.
	Key  string
	Kind Kind
	// Channel is the routed channel as configured ("C0123…", "#alerts").
	Channel string
	// Ref is the reference returned when the incident was opened (Slack:
	// "channelID/ts"); empty for KindOpen and in webhook mode.
	Ref      string
	Incident model.Incident
	// Previous is the incident as its last delivered message showed it
	// (zero, with an empty ID, before the first): a notifier whose
	// message identity depends on the kind or severity (Alertmanager's
	// labels) ends the old one when they change.
	Previous model.Incident
	// Reason says why the message is sent ("first notification",
	// "severity warning -> critical", "repeat interval").
	Reason string
	// NewEvidence are the evidence items not delivered before.
	NewEvidence []model.EvidenceItem
	// Now is the dispatcher's clock at the attempt.
	Now time.Time
	// FirstAttempt is when this delivery was first tried.
	FirstAttempt time.Time
	// MaybeDelivered is true when an earlier attempt may have been carried
	// out (timeout, 5xx, crash mid-request): look before sending again.
	MaybeDelivered bool
}

// Receipt is what a Notifier reports for a delivered message.
type Receipt struct {
	// Ref identifies the message for later updates (see Delivery.Ref).
	Ref string
	// Recovered is true when an earlier ambiguous attempt turned out to
	// have been delivered and was not sent again.
	Recovered bool
}

// Notifier sends deliveries. Errors should be *Error to be classified;
// any other error is retried.
type Notifier interface {
	Deliver(ctx context.Context, d Delivery) (Receipt, error)
}

// Error is a classified delivery failure. Its message must hold no secret.
type Error struct {
	// Code is short and bounded: a Slack error code ("invalid_auth",
	// "channel_not_found"), "http_503", "timeout", "network".
	Code string
	// Retry says whether trying again can succeed (network errors, 5xx,
	// 429); false is a definite rejection.
	Retry bool
	// RetryAfter is the wait the server asked for (429 Retry-After).
	RetryAfter time.Duration
	// MaybeDelivered says the request may have been carried out.
	MaybeDelivered bool
	// Fatal says nothing can be delivered until the configuration is
	// fixed (credentials revoked or wrong): the dispatcher stops trying.
	Fatal bool
	// Msg is the redacted description.
	Msg string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code
	}
	return e.Msg
}
