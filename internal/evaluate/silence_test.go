package evaluate

import (
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// fakeSilencer silences every incident while s is set.
type fakeSilencer struct{ s model.Silenced }

func (f *fakeSilencer) Silence(model.IncidentKind, string, time.Time) (model.Silenced, bool) {
	return f.s, !f.s.IsZero()
}

// TestRuntimeSilence: silences made and ended at run time reach an open
// incident on the next tick as updates whose material tells them; a
// change from one silence to another is recorded without material.
func TestRuntimeSilence(t *testing.T) {
	w := slackWorld(t)
	a := model.Silenced{ID: "aaaaaaaaaaaa", By: "alice", Until: w.now.Add(time.Hour), Reason: "migration"}
	fs := &fakeSilencer{s: a}
	w.e.SetSilencer(fs)
	w.probe = dnssecFailing
	w.runFor(5*time.Minute, 30*time.Second)
	opened := w.opened()
	if len(opened) != 1 || opened[0].Incident.Silenced != a || opened[0].Incident.Pages() {
		t.Fatalf("want one silenced open, got %+v", opened)
	}
	silenceUpdates := func(from int) []model.IncidentChange {
		var out []model.IncidentChange
		for _, c := range w.changes[from:] {
			if c.Type == model.ChangeUpdate && (c.Reason == "silence" || c.Material == c.Reason && c.Material != "") {
				out = append(out, c)
			}
		}
		return out
	}

	n := len(w.changes)
	fs.s = model.Silenced{}
	w.runFor(time.Minute, 30*time.Second)
	up := silenceUpdates(n)
	if len(up) != 1 || up[0].Material != "silence aaaaaaaaaaaa by alice ended" || up[0].Incident.IsSilenced() || !up[0].Incident.Pages() {
		t.Fatalf("silence end: %+v", up)
	}
	ev := up[0].Incident.Evidence
	if ev[len(ev)-1].Text != "silence aaaaaaaaaaaa by alice ended" {
		t.Errorf("the timeline does not tell the end: %v", ev[len(ev)-1])
	}

	n = len(w.changes)
	fs.s = a
	w.runFor(time.Minute, 30*time.Second)
	if up := silenceUpdates(n); len(up) != 1 || up[0].Material != "silenced by alice until "+a.Until.UTC().Format("2006-01-02 15:04")+" UTC (silence aaaaaaaaaaaa): migration" {
		t.Fatalf("silence start: %+v", up)
	}

	n = len(w.changes)
	b := model.Silenced{ID: "maintenance/nightly", By: "config", Until: w.now.Add(2 * time.Hour), Reason: "window"}
	fs.s = b
	w.runFor(time.Minute, 30*time.Second)
	if up := silenceUpdates(n); len(up) != 1 || up[0].Material != "" || up[0].Incident.Silenced != b {
		t.Fatalf("silence switch: %+v", up)
	}
	if open := w.e.Open(); len(open) != 1 || open[0].Silenced != b {
		t.Fatalf("open: %+v", open)
	}
}
