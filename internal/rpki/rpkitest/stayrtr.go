// Package rpkitest runs a real RTR server, stayrtr (Debian package
// stayrtr), for reachmon's tests, and writes the VRP JSON it serves.
package rpkitest

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// StayRTR is a real RTR server (Debian package stayrtr) serving a VRP
// JSON file on 127.0.0.1; tests edit the file and stayrtr, which checks
// it every second, sends its clients a Serial Notify.
type StayRTR struct {
	Port int
	File string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has been reaped
}

// Stop ends stayrtr (SIGTERM to its pid, SIGKILL after 10 s) and waits
// for it; its clients see their sessions close.
func (s *StayRTR) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WriteVRPs writes the VRPs as rpki-client's JSON (asn as "AS<n>", as
// stayrtr's own export writes it), atomically.
func WriteVRPs(t testing.TB, path string, vrps []model.VRP) {
	t.Helper()
	type roa struct {
		Prefix    string `json:"prefix"`
		MaxLength int    `json:"maxLength"`
		ASN       string `json:"asn"`
		TA        string `json:"ta"`
	}
	doc := struct {
		Metadata map[string]any `json:"metadata"`
		ROAs     []roa          `json:"roas"`
	}{Metadata: map[string]any{"buildtime": time.Now().UTC().Format(time.RFC3339)}, ROAs: []roa{}}
	for _, v := range vrps {
		doc.ROAs = append(doc.ROAs, roa{v.Prefix.String(), int(v.MaxLength), "AS" + strconv.FormatUint(uint64(v.ASN), 10), "test"})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// StartStayRTR runs stayrtr on a free port of 127.0.0.1 serving the
// VRPs (a file in a temporary directory); it is stopped, by its pid, when
// the test ends. Without stayrtr the test skips, and fails under CI=true;
// under -short (make check) it skips.
//
// stayrtr speaks RTR version 2 by default and answers a client of a
// lower version in that version (it negotiates down on the client's first
// PDU); GoBGP's client sends version 0 (RFC 6810), which this test uses.
func StartStayRTR(t testing.TB, vrps []model.VRP) *StayRTR {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real RTR server (stayrtr) for tens of seconds; run without -short (make test)")
	}
	bin, err := exec.LookPath("stayrtr")
	if err != nil {
		msg := "stayrtr is not installed (apt-get install -y stayrtr)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	s := &StayRTR{Port: FreePort(t), File: filepath.Join(t.TempDir(), "vrps.json"), out: &syncbuf.Buffer{}}
	WriteVRPs(t, s.File, vrps)
	s.cmd = exec.Command(bin, "-cache", s.File, "-checktime=false", "-refresh", "1",
		"-bind", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		"-metrics.addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start stayrtr: %v", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("stayrtr output:\n%s", s.out.String())
		}
	})
	// Ready when it accepts connections (bounded).
	deadline := time.Now().Add(60 * time.Second) // a large VRP set takes stayrtr a while to load
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stayrtr does not accept connections on port %d: %v\n%s", s.Port, err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Output is what stayrtr logged so far.
func (s *StayRTR) Output() string { return s.out.String() }
