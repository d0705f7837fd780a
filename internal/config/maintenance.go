package config

import (
	"fmt"
	"strings"
	"time"
	// The IANA time zone database inside the binary: maintenance windows
	// name zones, and a container or a minimal host may have none.
	_ "time/tzdata"

	"github.com/reachmon/reachmon/internal/model"
)

// Maintenance is a recurring maintenance window: incidents it matches
// while it is open are recorded and shown, not paged (like a silence made
// with `reachmon silence add`).
//
//	[[maintenance]]
//	name = "weekend-backups"        # required, unique: the window's silence id is "maintenance/<name>"
//	weekdays = ["sat", "sun"]       # days the window starts on; default: every day
//	start = "22:00"                 # HH:MM, wall-clock time in timezone
//	end = "02:00"                   # HH:MM (or "24:00"); before start: the window crosses midnight
//	timezone = "Europe/Berlin"      # IANA name; default "UTC"
//	kinds = ["authoritative_outage"]  # default: every kind
//	subject = "*.example.com"       # glob (* and ?) over the incident's subject; default: every subject
type Maintenance struct {
	Name     string   `toml:"name"`
	Weekdays []string `toml:"weekdays"`
	Start    string   `toml:"start"`
	End      string   `toml:"end"`
	Timezone string   `toml:"timezone"`
	Kinds    []string `toml:"kinds"`
	Subject  string   `toml:"subject"`
}

// MaintenanceWindow is a [[maintenance]] entry resolved (Plan.Windows).
type MaintenanceWindow struct {
	Name string
	// Days are the weekdays the window starts on (indexed by
	// time.Weekday); all true when none is configured.
	Days [7]bool
	// Start and End are minutes after midnight in Location; End may be
	// 1440 ("24:00"); End <= Start means the window ends the next day.
	Start, End int
	Location   *time.Location
	// Kinds are the incident kinds it covers; empty: all.
	Kinds   []model.IncidentKind
	Subject model.SubjectPattern
}

// weekdayNames maps the accepted spellings to their weekday.
var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// resolveMaintenance validates the [[maintenance]] entries and returns
// them resolved.
func (c *Config) resolveMaintenance(e *Errors) []MaintenanceWindow {
	var out []MaintenanceWindow
	names := map[string]int{}
	for i, m := range c.Maintenance {
		key := fmt.Sprintf("maintenance[%d]", i)
		if m.Name != "" {
			key = fmt.Sprintf("maintenance[%d] (%q)", i, m.Name)
		}
		n := len(e.List)
		w := MaintenanceWindow{Name: m.Name, Subject: model.SubjectPattern(m.Subject)}
		switch j, dup := names[m.Name]; {
		case m.Name == "":
			e.add("%s.name: required: it names the window in incidents and logs", key)
		case dup:
			e.add("%s.name: %q is already maintenance[%d]", key, m.Name, j)
		case !validWindowName(m.Name):
			e.add("%s.name: %q: use letters, digits, '-', '_' and '.' only", key, m.Name)
		default:
			names[m.Name] = i
		}
		for j, d := range m.Weekdays {
			wd, ok := weekdayNames[strings.ToLower(strings.TrimSpace(d))]
			switch {
			case !ok:
				e.add("%s.weekdays[%d]: %q is not a weekday (mon, tue, wed, thu, fri, sat, sun)", key, j, d)
			case w.Days[wd]:
				e.add("%s.weekdays[%d]: %q is listed twice", key, j, d)
			default:
				w.Days[wd] = true
			}
		}
		if len(m.Weekdays) == 0 {
			w.Days = [7]bool{true, true, true, true, true, true, true}
		}
		var okStart, okEnd bool
		w.Start, okStart = clockMinutes(m.Start, false)
		if !okStart {
			e.add("%s.start: %q is not a time of day (HH:MM, 00:00 to 23:59)", key, m.Start)
		}
		w.End, okEnd = clockMinutes(m.End, true)
		if !okEnd {
			e.add("%s.end: %q is not a time of day (HH:MM, 00:00 to 24:00)", key, m.End)
		}
		if okStart && okEnd && w.Start == w.End {
			e.add("%s.end: %q is the start: the window would be empty (a whole day is start = \"00:00\", end = \"24:00\")", key, m.End)
		}
		tz := m.Timezone
		if tz == "" {
			tz = "UTC"
		}
		loc, err := time.LoadLocation(tz)
		switch {
		case tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, ".."):
			e.add("%s.timezone: %q: name an IANA time zone (\"Europe/Berlin\", \"UTC\")", key, m.Timezone)
		case err != nil:
			e.add("%s.timezone: %q is not an IANA time zone (\"Europe/Berlin\", \"America/New_York\", \"UTC\")", key, m.Timezone)
		default:
			w.Location = loc
		}
		for j, k := range m.Kinds {
			if !validKind(k) {
				e.add("%s.kinds[%d]: %q is not an incident kind (%s)", key, j, k, kindList())
				continue
			}
			w.Kinds = append(w.Kinds, model.IncidentKind(k))
		}
		if err := w.Subject.Check(); err != nil {
			e.add("%s.subject: %q %v", key, m.Subject, err)
		}
		if len(e.List) == n {
			out = append(out, w)
		}
	}
	return out
}

// clockMinutes parses "HH:MM" into minutes after midnight; "24:00" only
// when end.
func clockMinutes(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if end && h == 24 && m == 0 {
		return 24 * 60, true
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func validWindowName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
