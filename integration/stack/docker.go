package stack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// CopySources returns the build-context sources of every COPY/ADD in a
// Dockerfile that does not copy from another stage (--from).
func CopySources(dockerfile string) ([]string, error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(b), "\\\n", " ")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || (!strings.EqualFold(f[0], "COPY") && !strings.EqualFold(f[0], "ADD")) {
			continue
		}
		args, fromStage := []string{}, false
		for _, a := range f[1:] {
			switch {
			case strings.HasPrefix(a, "--from="):
				fromStage = true
			case strings.HasPrefix(a, "--"):
			default:
				args = append(args, a)
			}
		}
		if fromStage {
			continue
		}
		if len(args) < 2 {
			return nil, fmt.Errorf("%s: %q has no source", dockerfile, sc.Text())
		}
		out = append(out, args[:len(args)-1]...)
	}
	return out, sc.Err()
}

// Dockerignore is a parsed .dockerignore.
type Dockerignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// ParseDockerignore reads a .dockerignore (a missing file excludes nothing).
func ParseDockerignore(path string) (*Dockerignore, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &Dockerignore{}, nil
	}
	if err != nil {
		return nil, err
	}
	d := &Dockerignore{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(line, "!")
		line = strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		d.rules = append(d.rules, ignoreRule{re: globRegexp(line), negate: neg})
	}
	return d, nil
}

// globRegexp turns a .dockerignore pattern (filepath.Match syntax plus
// "**" for any number of directories) into a regexp over slash paths.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Excluded reports whether path (relative to the context, slash-separated)
// is left out of the build context: the last matching rule wins, and a
// rule matching a parent directory excludes everything below it.
func (d *Dockerignore) Excluded(path string) bool {
	path = strings.Trim(filepath.ToSlash(filepath.Clean(path)), "/")
	excluded := false
	parts := strings.Split(path, "/")
	for _, r := range d.rules {
		for i := 1; i <= len(parts); i++ {
			if r.re.MatchString(strings.Join(parts[:i], "/")) {
				excluded = !r.negate
				break
			}
		}
	}
	return excluded
}

// ComposeVersion is the docker compose v2 plugin the tests build.
const ComposeVersion = "v2.35.1"

// ComposePlugin returns the docker compose v2 plugin binary: from
// $REACHMON_DOCKER_COMPOSE, else built once from the Go module proxy into
// the user cache dir (~/.cache/reachmon/compose-VERSION), never into the
// repository. It takes about two minutes the first time.
func ComposePlugin(ctx context.Context) (string, error) {
	if p := os.Getenv("REACHMON_DOCKER_COMPOSE"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "reachmon", "compose-"+ComposeVersion)
	bin := filepath.Join(dir, "docker-compose")
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go tool to build docker compose: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "mod", "download", "-json", "github.com/docker/compose/v2@"+ComposeVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/docker/compose/v2@%s: %w", ComposeVersion, err)
	}
	m := regexp.MustCompile(`"Dir":\s*"([^"]+)"`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("go mod download gave no Dir:\n%s", out)
	}
	// Build from a writable copy with compose's own go.mod, so reachmon's
	// go.mod is untouched.
	work, err := os.MkdirTemp("", "reachmon-compose-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if out, err := exec.CommandContext(ctx, "cp", "-r", string(m[1]), src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying compose source: %v: %s", err, out)
	}
	_ = exec.Command("chmod", "-R", "u+w", src).Run()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp, "./cmd")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building docker compose %s: %v\n%s", ComposeVersion, err, out)
	}
	return bin, os.Rename(tmp, bin)
}
