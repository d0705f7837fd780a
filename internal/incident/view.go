package incident

import (
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Entry is one incident in the API: the incident and whether it paged.
type Entry struct {
	model.Incident
	// Paged is true once a notifier delivered its opening.
	Paged  bool               `json:"paged"`
	Notify *model.NotifyState `json:"notify,omitempty"`
}

// NewEntry is an incident as the API shows it, with what was delivered
// about it (n, the zero value when nothing was): the one rendering of an
// incident, used by /api/v1/incidents and the webhook notifier.
func NewEntry(inc model.Incident, n model.NotifyState) Entry {
	e := Entry{Incident: inc, Paged: n.Delivered != ""}
	if n != (model.NotifyState{}) {
		e.Notify = &n
	}
	return e
}

// Entry renders inc as the API does, with the delivery state the store
// shows (Options.Delivery).
func (s *Store) Entry(inc model.Incident) Entry {
	var n model.NotifyState
	if s.delivery != nil {
		n, _ = s.delivery.Delivered(inc.ID)
	}
	return NewEntry(inc, n)
}

// View is the /api/v1/incidents document.
type View struct {
	Schema string    `json:"schema"`
	Time   time.Time `json:"time"`
	// Open incidents, newest first; Recent resolved ones, newest first.
	Open   []Entry `json:"open"`
	Recent []Entry `json:"recent"`
}

// View returns the open incidents and up to limit recent resolved ones
// (limit <= 0: all kept).
func (s *Store) View(limit int) View {
	v := View{Schema: Schema, Time: s.now().UTC(), Open: []Entry{}, Recent: []Entry{}}
	for _, r := range s.Records() {
		e := NewEntry(r.Incident, r.Notify)
		if r.Incident.IsOpen() {
			v.Open = append(v.Open, e)
		} else if limit <= 0 || len(v.Recent) < limit {
			v.Recent = append(v.Recent, e)
		}
	}
	return v
}
