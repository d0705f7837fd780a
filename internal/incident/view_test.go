package incident

import (
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// TestView checks what the /api/v1/incidents document says of each
// incident: open ones all, resolved ones up to the limit, newest first,
// and whether an incident paged.
func TestView(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	delivered := deliveries{}
	st, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }, Delivery: delivered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Flush)
	open := model.Incident{ID: "open", Kind: model.IncidentDNSSEC, Severity: model.SeverityCritical, State: model.StateOpen,
		Subject: "slack.com", Opened: t0, Confirmed: t0, Updated: t0}
	ch := []model.IncidentChange{{Type: model.ChangeOpen, Incident: open}}
	for i, id := range []string{"r1", "r2", "r3"} {
		ch = append(ch, model.IncidentChange{Type: model.ChangeResolve, Incident: model.Incident{ID: id, State: model.StateResolved,
			Opened: t0.Add(-time.Hour), Resolved: t0.Add(time.Duration(i) * time.Minute)}})
	}
	if err := st.Apply(ch); err != nil {
		t.Fatal(err)
	}
	delivered[open.ID] = model.NotifyState{Delivered: model.ChangeOpen}
	v := st.View(2)
	if v.Schema != Schema || !v.Time.Equal(now) {
		t.Errorf("schema %q time %v, want %q %v", v.Schema, v.Time, Schema, now)
	}
	if len(v.Open) != 1 || v.Open[0].ID != "open" || !v.Open[0].Paged || v.Open[0].Notify == nil || v.Open[0].Notify.Delivered != model.ChangeOpen {
		t.Errorf("open %+v", v.Open)
	}
	if len(v.Recent) != 2 || v.Recent[0].ID != "r3" || v.Recent[1].ID != "r2" || v.Recent[0].Paged || v.Recent[0].Notify != nil {
		t.Errorf("recent (limit 2) %+v", v.Recent)
	}
	if v := st.View(0); len(v.Recent) != 3 {
		t.Errorf("limit 0 kept %d resolved, want all 3", len(v.Recent))
	}
}
