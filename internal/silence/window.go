package silence

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Windows are judged in the wall-clock time of their time zone: a window
// is open while the clock there reads a time from its start to its end on
// one of its weekdays (a window that crosses midnight belongs to the day
// it starts). Across a daylight saving change the window is as long as
// the clock says: when clocks go forward through its start it opens at
// the first time that exists after the start, when they go back inside it
// it lasts the hour longer; it never opens twice or not at all, except
// that a window lying wholly inside the skipped hour does not open that
// day.

// WindowID is the silence id of a maintenance window.
func WindowID(name string) string { return "maintenance/" + name }

// windowOpen reports whether w is open at t and, if so, when this
// opening ends.
func windowOpen(w config.MaintenanceWindow, t time.Time) (time.Time, bool) {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	tod := lt.Hour()*60 + lt.Minute()
	y, m, d := lt.Date()
	crosses := w.End <= w.Start
	if w.Days[lt.Weekday()] && tod >= w.Start && (crosses || tod < w.End) {
		if crosses {
			return wallTime(y, m, d+1, w.End, loc), true
		}
		return wallTime(y, m, d, w.End, loc), true
	}
	if prev := (lt.Weekday() + 6) % 7; crosses && w.Days[prev] && tod < w.End {
		return wallTime(y, m, d, w.End, loc), true
	}
	return time.Time{}, false
}

// nextOpen is when w next opens after t (within eight days).
func nextOpen(w config.MaintenanceWindow, t time.Time) time.Time {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	y, m, d := lt.Date()
	for i := range 9 {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		if !w.Days[day.Weekday()] {
			continue
		}
		if s := wallTime(y, m, d+i, w.Start, loc); s.After(t) {
			return s
		}
	}
	return time.Time{}
}

// wallTime is minutes after midnight of the date in loc (Go's
// normalisation picks an existing time in a skipped hour).
func wallTime(y int, m time.Month, d, minutes int, loc *time.Location) time.Time {
	return time.Date(y, m, d, 0, minutes, 0, 0, loc)
}

// windowMatches reports whether w covers kind and subject (not when).
func windowMatches(w config.MaintenanceWindow, kind model.IncidentKind, subject string) bool {
	return (len(w.Kinds) == 0 || slices.Contains(w.Kinds, kind)) && w.Subject.Match(subject)
}

// windowSilenced is what an incident covered by w carries.
func windowSilenced(w config.MaintenanceWindow, until time.Time) model.Silenced {
	return model.Silenced{ID: WindowID(w.Name), By: "config", Until: until.UTC(), Reason: "maintenance window " + w.Name + " (" + describeWindow(w) + ")"}
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// describeWindow is "sat, sun 22:00-02:00 Europe/Berlin".
func describeWindow(w config.MaintenanceWindow) string {
	days := "daily"
	if wd := weekdays(w); len(wd) < 7 {
		days = strings.Join(wd, ", ")
	}
	return days + " " + hhmm(w.Start) + "-" + hhmm(w.End) + " " + locName(w)
}

func weekdays(w config.MaintenanceWindow) []string {
	var out []string
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		if w.Days[d] {
			out = append(out, dayNames[d])
		}
	}
	return out
}

func hhmm(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

func locName(w config.MaintenanceWindow) string {
	if w.Location == nil {
		return "UTC"
	}
	return w.Location.String()
}
