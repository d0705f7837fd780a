package lab

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip instead of stopping.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestRequire(t *testing.T) {
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{"", false},
		{"true", true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Require(r, "sh", "reachmon-no-such-daemon", "dig")
			msg := r.skip
			if tc.wantFatal {
				msg = r.fatal
			}
			if msg == "" || (r.fatal != "") != tc.wantFatal {
				t.Fatalf("fatal %q, skip %q", r.fatal, r.skip)
			}
			if !strings.Contains(msg, "reachmon-no-such-daemon") || strings.Contains(msg, "sh,") {
				t.Errorf("message %q should name only the missing binary", msg)
			}
			r = &recorder{TB: t}
			Require(r, "sh")
			if r.fatal != "" || r.skip != "" {
				t.Errorf("sh is installed, yet fatal %q, skip %q", r.fatal, r.skip)
			}
		})
	}
}
