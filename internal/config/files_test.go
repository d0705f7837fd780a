package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// specialFiles returns paths that are not regular files: reading any of
// them whole would hang or fail (a character device, a named pipe with no
// writer, a directory).
func specialFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"/dev/zero": "a character device", fifo: "a named pipe", dir: "a directory"}
}

// within fails the test when f takes longer than a few seconds: the
// special files must be refused, not read.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func TestLoadRefusesSpecialAndLargeFiles(t *testing.T) {
	for path, kind := range specialFiles(t) {
		err := within(t, "Load("+path+")", func() error { _, err := Load(path); return err })
		want := "config: configuration file " + path + " is " + kind + ", not a regular file"
		if err == nil || err.Error() != want || !IsInvalid(err) {
			t.Errorf("Load(%s) = %v, want %q (a configuration error)", path, err, want)
		}
	}
	big := filepath.Join(t.TempDir(), "big.toml")
	data := append([]byte("vantage = \"x\"\n"), bytes.Repeat([]byte("# padding\n"), MaxConfigFileSize/10)...)
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), big+" is larger than 64 MiB") || !IsInvalid(err) {
		t.Errorf("Load of %d bytes: %v", len(data), err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !IsInvalid(err) {
		t.Errorf("Load of a missing file: %v, want a configuration error", err)
	}
}

func TestSecretRefusesSpecialAndLargeFiles(t *testing.T) {
	for path, kind := range specialFiles(t) {
		err := within(t, "Secret("+path+")", func() error { _, err := Secret("", path); return err })
		if err == nil || !strings.Contains(err.Error(), "secret file "+path+" is "+kind+", not a regular file") || !IsInvalid(err) {
			t.Errorf("Secret(%s) = %v", path, err)
		}
	}
	big := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), MaxSecretFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Secret("", big); err == nil || !strings.Contains(err.Error(), big+" is larger than 64 KiB") || strings.Contains(err.Error(), "xxx") {
		t.Errorf("Secret of %d bytes: %v", MaxSecretFileSize+1, err)
	}
	for _, tc := range []struct{ env, file string }{{"REACHMON_TEST_UNSET_SECRET", ""}, {"", filepath.Join(t.TempDir(), "missing")}} {
		if _, err := Secret(tc.env, tc.file); err == nil || !IsInvalid(err) {
			t.Errorf("Secret(%q, %q) = %v, want a configuration error", tc.env, tc.file, err)
		}
	}
}

// TestWarnings: a secret file others may read is warned about under its
// key path, without its contents; one only its owner reads is not.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	closed := filepath.Join(dir, "closed")
	group := filepath.Join(dir, "group")
	for p, mode := range map[string]os.FileMode{open: 0o644, closed: 0o600, group: 0o640} {
		if err := os.WriteFile(p, []byte("s3cret-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := Parse("t.toml", []byte(`
[slack]
token_file = "`+open+`"
channel = "C0123456789"
[bgp]
asn = 64512
router_id = "192.0.2.1"
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
password_file = "`+closed+`"
[[bgp.neighbor]]
address = "192.0.2.3"
peer_asn = 64500
password_file = "`+group+`"
[[bgp.neighbor]]
address = "192.0.2.4"
peer_asn = 64500
password_file = "`+filepath.Join(dir, "missing")+`"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := plan.Warnings()
	want := []string{
		"slack.token_file: " + open + " is readable by group or others (mode 0644)",
		"bgp.neighbor[1].password_file: " + group + " is readable by group or others (mode 0640)",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("warning %d:\n got %s\nwant %s", i, got[i], w)
		}
		if strings.Contains(got[i], "s3cret") {
			t.Errorf("warning %d holds the secret: %s", i, got[i])
		}
	}
}

// TestManyZonesLoad: a configuration of 50,000 zones (issue 18: one
// instance watches that many) is larger than a megabyte and loads whole.
func TestManyZonesLoad(t *testing.T) {
	var b strings.Builder
	b.WriteString("vantage = \"x\"\n[[resolver]]\nname = \"r1\"\naddress = \"127.0.0.1:53\"\n")
	const zones = 50000
	for i := range zones {
		fmt.Fprintf(&b, "[[zone]]\nname = \"z%05d.example\"\n", i)
	}
	if b.Len() <= 1<<20 {
		t.Fatalf("the configuration is %d bytes: not past the former 1 MiB limit", b.Len())
	}
	path := filepath.Join(t.TempDir(), "many.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load of %d zones (%d bytes): %v", zones, b.Len(), err)
	}
	if len(cfg.Zones) != zones {
		t.Fatalf("%d zones loaded, want %d", len(cfg.Zones), zones)
	}
}
