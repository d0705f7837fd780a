package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

func TestMaintenanceResolved(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[[zone]]
name = "example.com"
[[maintenance]]
name = "weekend-backups"
weekdays = ["Sat", "sunday"]
start = "22:00"
end = "02:00"
timezone = "Europe/Berlin"
kinds = ["authoritative_outage", "resolver_outage"]
subject = "*.example.com"
[[maintenance]]
name = "daily"
start = "00:00"
end = "24:00"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Windows) != 2 {
		t.Fatalf("want 2 windows, got %+v", p.Windows)
	}
	w := p.Windows[0]
	if w.Name != "weekend-backups" || !w.Days[time.Saturday] || !w.Days[time.Sunday] || w.Days[time.Monday] ||
		w.Start != 22*60 || w.End != 2*60 || w.Location.String() != "Europe/Berlin" ||
		len(w.Kinds) != 2 || w.Kinds[1] != model.IncidentResolverOutage || w.Subject != "*.example.com" {
		t.Errorf("window 0 = %+v", w)
	}
	d := p.Windows[1]
	if d.Location != time.UTC || d.Start != 0 || d.End != 24*60 || d.Days != [7]bool{true, true, true, true, true, true, true} || d.Kinds != nil {
		t.Errorf("window 1 (defaults) = %+v", d)
	}
}

func TestMaintenanceErrors(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[[zone]]
name = "example.com"
[[maintenance]]
weekdays = ["sat", "caturday", "sat"]
start = "25:00"
end = "2:00"
timezone = "Mars/Olympus"
kinds = ["outage"]
subject = "[ab]"
[[maintenance]]
name = "night"
start = "02:00"
end = "02:00"
timezone = "Local"
[[maintenance]]
name = "night"
start = "01:00"
end = "24:01"
subject = "a b"
`))
	var ce *Errors
	if !errors.As(err, &ce) {
		t.Fatalf("want *Errors, got %v", err)
	}
	want := []string{
		`maintenance[0].name: required`,
		`maintenance[0].weekdays[1]: "caturday" is not a weekday (mon, tue, wed, thu, fri, sat, sun)`,
		`maintenance[0].weekdays[2]: "sat" is listed twice`,
		`maintenance[0].start: "25:00" is not a time of day (HH:MM, 00:00 to 23:59)`,
		`maintenance[0].end: "2:00" is not a time of day (HH:MM, 00:00 to 24:00)`,
		`maintenance[0].timezone: "Mars/Olympus" is not an IANA time zone`,
		`maintenance[0].kinds[0]: "outage" is not an incident kind`,
		`maintenance[0].subject: "[ab]" uses [: only * and ? are wildcards`,
		`maintenance[1] ("night").end: "02:00" is the start: the window would be empty`,
		`maintenance[1] ("night").timezone: "Local": name an IANA time zone`,
		`maintenance[2] ("night").name: "night" is already maintenance[1]`,
		`maintenance[2] ("night").end: "24:01" is not a time of day`,
		`maintenance[2] ("night").subject: "a b" holds a space or a control character`,
	}
	if len(ce.List) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(ce.List), len(want), strings.Join(ce.List, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(ce.List[i], w) {
			t.Errorf("error %d:\n got %s\nwant %s", i, ce.List[i], w)
		}
	}
}

// The commented [[maintenance]] example of the shipped configs is valid
// once uncommented.
func TestShippedMaintenanceExample(t *testing.T) {
	for _, path := range []string{"../../config/reachmon.toml", "../../config/reachmon.example.toml"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var block []string
		in := false
		for line := range strings.SplitSeq(string(b), "\n") {
			switch {
			case line == "# [[maintenance]]":
				in = true
			case in && !strings.HasPrefix(line, "# "):
				in = false
			}
			if in {
				block = append(block, strings.TrimPrefix(line, "# "))
			}
		}
		if len(block) < 5 {
			t.Fatalf("%s: no commented [[maintenance]] example", path)
		}
		p, err := Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"+strings.Join(block, "\n")+"\n"))
		if err != nil || len(p.Windows) != 1 {
			t.Errorf("%s: the uncommented example: %v\n%s", path, err, strings.Join(block, "\n"))
		}
	}
}
