package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// debianPackage names the Debian package that ships a binary, for the skip
// message.
var debianPackage = map[string]string{
	"nsd": "nsd", "nsd-control": "nsd",
	"unbound": "unbound", "unbound-control": "unbound",
	"ldns-keygen": "ldnsutils", "ldns-signzone": "ldnsutils", "ldns-key2ds": "ldnsutils",
	"dig":  "bind9-dnsutils",
	"bird": "bird2", "birdc": "bird2",
	"gobgpd": "gobgpd", "gobgp": "gobgpd",
	"nft": "nftables", "ip": "iproute2",
}

// InCI reports whether the tests run in CI (CI=true), where a missing daemon
// is a broken CI image and must fail, not skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips the test when a binary is missing (t.Fatal under CI=true),
// naming the binaries and the apt-get command that installs them.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	var missing, pkgs []string
	for _, b := range bins {
		if _, err := BinPath(b); err != nil {
			missing = append(missing, b)
			if p, ok := debianPackage[b]; ok && !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("lab: %s not found in PATH or /usr/sbin", strings.Join(missing, ", "))
	if len(pkgs) > 0 {
		msg += fmt.Sprintf(" (apt-get install -y %s)", strings.Join(pkgs, " "))
	}
	skipOrFail(t, msg)
}

// RequireRoot skips the test unless it runs as root (t.Fatal under CI=true):
// the lab binds port 53 and, later, creates network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "lab: needs root (port 53, network namespaces)")
	}
}

// Missing skips the test (t.Fatal under CI=true) with a message saying
// what the test needs that this machine lacks.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	skipOrFail(t, fmt.Sprintf(format, args...))
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg + "; CI=true, so this is a failure")
	}
	t.Skip(msg)
}

// BinPath finds a binary in PATH, then in the sbin directories, which a
// non-root PATH often lacks but where Debian puts nsd and unbound.
func BinPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found", name)
}
