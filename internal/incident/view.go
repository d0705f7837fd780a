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
		e := Entry{Incident: r.Incident, Paged: r.Notify.Delivered != ""}
		if r.Notify != (model.NotifyState{}) {
			n := r.Notify
			e.Notify = &n
		}
		if r.Incident.IsOpen() {
			v.Open = append(v.Open, e)
		} else if limit <= 0 || len(v.Recent) < limit {
			v.Recent = append(v.Recent, e)
		}
	}
	return v
}
