package cli

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

// probeJSON runs `reachmon probe --json args...` and checks that the exit
// status, the report's ok, every name's verdict and the problems agree.
func probeJSON(t *testing.T, args ...string) (int, ProbeReport) {
	t.Helper()
	code, out, errOut := runMain(append([]string{"probe", "--json", "--timeout", "500ms"}, args...)...)
	var rep ProbeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, output is not JSON: %v\n%s\n%s", code, err, out, errOut)
	}
	allOK := true
	for _, nr := range rep.Names {
		allOK = allOK && nr.Verdict.OK
		if nr.Verdict.OK != strings.HasPrefix(nr.Verdict.Line, "ok") {
			t.Errorf("%s: verdict ok=%v but line %q", nr.Name, nr.Verdict.OK, nr.Verdict.Line)
		}
	}
	if rep.OK != (len(rep.Problems) == 0) || rep.OK != allOK || (code == ExitOK) != rep.OK {
		t.Errorf("disagreement: exit %d, ok %v, every verdict ok %v, problems %q", code, rep.OK, allOK, rep.Problems)
	}
	return code, rep
}

// TestProbeVerdictAgrees: the VERDICT, the JSON verdict, the problems and
// the exit status tell one story: a name that does not exist is a problem
// and no "ok" verdict; NODATA of an ad-hoc type is a note; a problem the
// rules classify as nothing still makes the verdict non-ok.
func TestProbeVerdictAgrees(t *testing.T) {
	res := testdns.Start(t, zone, false)

	t.Run("NXDOMAIN", func(t *testing.T) {
		code, rep := probeJSON(t, "gone.lab.example", "--resolver", res.Addr, "--type", "A")
		if code != ExitProblem || rep.Names[0].Verdict.OK {
			t.Fatalf("exit %d verdict %+v, want a problem", code, rep.Names[0].Verdict)
		}
		if len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "gone.lab.example. A from resolver "+res.Addr+": NXDOMAIN") {
			t.Errorf("problems %q", rep.Problems)
		}
		if v := rep.Names[0].Verdict; v.Kind != model.IncidentRecordMissing || !strings.Contains(v.Line, "NXDOMAIN") {
			t.Errorf("verdict %+v, want record_missing naming NXDOMAIN", v)
		}
		// The table says the same.
		code, out, _ := runMain("probe", "gone.lab.example", "--resolver", res.Addr, "--type", "A", "--timeout", "500ms")
		if code != ExitProblem || strings.Contains(out, "VERDICT ok") || !strings.Contains(out, "VERDICT record missing: ") || !strings.Contains(out, "problems (1):") {
			t.Errorf("exit %d, table:\n%s", code, out)
		}
	})

	t.Run("NODATA of an ad-hoc type", func(t *testing.T) {
		code, rep := probeJSON(t, "www.lab.example", "--resolver", res.Addr, "--type", "AAAA")
		if code != ExitOK || !rep.Names[0].Verdict.OK {
			t.Fatalf("exit %d verdict %+v problems %q, want ok", code, rep.Names[0].Verdict, rep.Problems)
		}
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "www.lab.example. AAAA from resolver "+res.Addr+": NODATA") {
			t.Errorf("notes %q, want the NODATA noted", rep.Notes)
		}
	})

	t.Run("one resolver times out", func(t *testing.T) {
		silent, err := net.ListenPacket("udp", "127.0.0.1:0") // never read: queries time out
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		code, rep := probeJSON(t, "www.lab.example", "--resolver", res.Addr, "--resolver", silent.LocalAddr().String(), "--type", "A")
		if code != ExitProblem || rep.Names[0].Verdict.OK {
			t.Fatalf("exit %d verdict %+v, want a problem", code, rep.Names[0].Verdict)
		}
		if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "timeout") {
			t.Errorf("problems %q", rep.Problems)
		}
	})

	t.Run("every name well", func(t *testing.T) {
		code, rep := probeJSON(t, "www.lab.example", "--resolver", res.Addr, "--type", "A")
		if code != ExitOK || !rep.Names[0].Verdict.OK || len(rep.Notes) != 0 {
			t.Errorf("exit %d verdict %+v notes %q", code, rep.Names[0].Verdict, rep.Notes)
		}
	})
}

// TestAgree: whatever the rules and the problem list say alone, the
// verdict and the problems agree afterwards.
func TestAgree(t *testing.T) {
	ok := evaluate.ProbeVerdict{OK: true, Line: "ok: every query answered and the rules found nothing wrong"}
	bad := evaluate.ProbeVerdict{Kind: model.IncidentAnswerMismatch, Severity: model.SeverityWarning, Line: "answer mismatch: resolver r answers 192.0.2.9"}
	tests := []struct {
		name      string
		v         evaluate.ProbeVerdict
		probs     []string
		wantOK    bool
		wantProbs int
		wantLine  string
	}{
		{"both fine", ok, nil, true, 0, "ok: "},
		{"both bad", bad, []string{"x"}, false, 1, "answer mismatch: "},
		{"rules classify nothing", ok, []string{"www. A from resolver r: timeout", "y"}, false, 2, "problem: www. A from resolver r: timeout (and 1 more)"},
		{"no problem listed", bad, nil, false, 1, "answer mismatch: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, probs := agree("www.", tc.v, tc.probs)
			if v.OK != tc.wantOK || len(probs) != tc.wantProbs || !strings.HasPrefix(v.Line, tc.wantLine) {
				t.Errorf("agree = %+v, %q", v, probs)
			}
			if !v.OK && v.Severity == "" {
				t.Errorf("a non-ok verdict without severity: %+v", v)
			}
			if tc.name == "no problem listed" && probs[0] != "www.: "+bad.Line {
				t.Errorf("problem %q, want the verdict line", probs[0])
			}
		})
	}
}
