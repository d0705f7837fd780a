package benchscale

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

// The shard test's lab and timing: a few hundred zones on a short
// interval, so that the whole test takes two to three minutes.
const (
	shardZones    = 400
	shardCount    = 2
	shardInterval = 4 * time.Second
	shardTTL      = 20 * time.Second
	// shardRounds is the length, in probe intervals, of the window in
	// which the resolvers' query logs are counted.
	shardRounds = 6
	// shardBudget bounds the whole test (the binary's build included).
	shardBudget = 8 * time.Minute
	shardToken  = "xoxb-reachmon-shard-test"
	shardChan   = "C0DNS0001"
)

// shardInstance is one `reachmon run` of the test.
type shardInstance struct {
	index int
	base  string // http://listen
	proc  *benchutil.Daemon
	dir   string
}

// TestShards runs two `reachmon run` processes with [shard] 0 of 2 and 1
// of 2, the same vantage and configuration otherwise, over the scale lab
// (NSD, three validating Unbound resolvers, signed zones), both paging to
// one fake Slack. It checks, from the outside where it can:
//
//   - (a) ownership: the zones in the instances' /api/v1/status are
//     disjoint and together every zone, each where config.ShardOf says;
//     their shard objects and metrics say so too;
//   - (b) probing: the resolvers' own query logs (Unbound log-queries),
//     counted over shardRounds intervals, show every zone's SOA asked
//     about as often as ONE instance asks (resolvers × rounds), never
//     twice that: no zone probed by both, none by neither;
//   - (c) paging: one zone made to SERVFAIL at its authoritative servers
//     (its zone file emptied, NSD reloaded with SIGHUP) gives exactly one
//     Slack page, from its owner, and the other instance opens nothing.
func TestShards(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	requireLab(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), shardBudget)
	defer cancel()
	dir := t.TempDir()
	bin := shardReachmon(ctx, t, dir)

	l, err := buildLab(filepath.Join(dir, "lab"), labShape{Zones: shardZones, NS: 2, Resolvers: 3, TTL: shardTTL})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	queryLogs, err := logQueries(ctx, l)
	if err != nil {
		t.Fatal(err)
	}

	fake := fakeslack.New(shardToken, map[string]string{"#dns": shardChan})
	defer fake.Close()
	tokenFile := filepath.Join(dir, "slack-token")
	if err := os.WriteFile(tokenFile, []byte(shardToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	owner := map[string]int{} // zone label -> index
	for _, z := range l.zones {
		owner[strings.TrimSuffix(z, ".")] = config.ShardOf(z, shardCount)
	}
	var inst []*shardInstance
	defer func() {
		for _, in := range inst {
			if err := in.proc.Stop(); err != nil {
				t.Errorf("reachmon shard %d: %v", in.index, err)
			}
		}
	}()
	for i := range shardCount {
		in, err := startShard(l, dir, bin, tokenFile, fake.APIURL(), i)
		if err != nil {
			t.Fatal(err)
		}
		inst = append(inst, in)
	}
	for _, in := range inst {
		if err := waitReady(ctx, in, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("lab of %d zones and two instances ready after %s", shardZones, time.Since(began).Round(time.Second))

	// (a) Ownership, as the instances tell it.
	seen := map[string]int{}
	for _, in := range inst {
		st, err := fetchStatus(in.base)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, o := range owner {
			if o == in.index {
				want++
			}
		}
		if st.Shard == nil || *st.Shard != (evaluate.ShardStatus{Index: in.index, Count: shardCount, Zones: want, Of: shardZones}) {
			t.Errorf("shard %d: status shard %+v, want index %d count %d zones %d of %d", in.index, st.Shard, in.index, shardCount, want, shardZones)
		}
		for _, z := range st.Zones {
			seen[z.Zone]++
			if o, ok := owner[z.Zone]; !ok || o != in.index {
				t.Errorf("shard %d watches %s, owned by %d (known %t)", in.index, z.Zone, o, ok)
			}
		}
		if len(st.Zones) != want {
			t.Errorf("shard %d watches %d zones, want %d", in.index, len(st.Zones), want)
		}
		m, err := benchutil.Scrape(in.base+"/metrics", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := m.Sum("reachmon_shard_info", "index", fmt.Sprint(in.index), "count", fmt.Sprint(shardCount)); !ok || v != 1 {
			t.Errorf("shard %d: reachmon_shard_info = %v (found %t), want 1", in.index, v, ok)
		}
		if v, ok := m.Sum("reachmon_shard_zones"); !ok || v != float64(want) {
			t.Errorf("shard %d: reachmon_shard_zones = %v (found %t), want %d", in.index, v, ok, want)
		}
		logText, _ := os.ReadFile(in.proc.LogPath)
		if line := fmt.Sprintf("shard %d of %d: %d of %d zones", in.index, shardCount, want, shardZones); !strings.Contains(string(logText), line) {
			t.Errorf("shard %d: the log does not say %q", in.index, line)
		}
	}
	for z := range owner {
		if seen[z] != 1 {
			t.Errorf("%s is watched by %d instances, want 1", z, seen[z])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// (b) Probing, as the resolvers saw it. The first rounds and
	// discoveries are done (ready); count whole intervals from here.
	sleepCtx(ctx, 2*shardInterval)
	from := queryLogs.offsets()
	sleepCtx(ctx, shardRounds*shardInterval)
	counts, err := queryLogs.countSOA(from)
	if err != nil {
		t.Fatal(err)
	}
	// One instance asks each resolver for each zone's SOA once an
	// interval (its phase fixed): resolvers × rounds, ±1 round at the
	// window's edges, plus the odd discovery. Two instances would ask
	// twice that, no instance never.
	expect := float64(len(l.resolvers) * shardRounds)
	lo, hi := 0.6*expect, 1.4*expect
	minC, maxC, total := 1<<30, 0, 0
	for _, z := range l.zones {
		c := counts[z]
		minC, maxC, total = min(minC, c), max(maxC, c), total+c
		if float64(c) < lo || float64(c) > hi {
			t.Errorf("%s (shard %d): the resolvers logged %d SOA queries in %d intervals, want %.0f (one instance; %.0f..%.0f)",
				z, owner[strings.TrimSuffix(z, ".")], c, shardRounds, expect, lo, hi)
		}
	}
	t.Logf("resolver query logs over %d intervals: SOA queries per zone min %d, max %d, mean %.1f (one instance: %.0f, both: %.0f)",
		shardRounds, minC, maxC, float64(total)/float64(len(l.zones)), expect, 2*expect)
	if t.Failed() {
		t.FailNow()
	}

	// (c) One zone's outage pages once, from its owner.
	broken := l.zones[len(l.zones)/2]
	label := strings.TrimSuffix(broken, ".")
	own, other := inst[owner[label]], inst[1-owner[label]]
	if err := os.WriteFile(l.zoneFile(broken), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(l.auth.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := waitRcode(ctx, l, broken, dns.RcodeServerFailure, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	brokeAt := time.Now()
	t.Logf("%s (shard %d's) SERVFAILs at its authoritative servers", broken, own.index)
	var page fakeslack.Call
	err = pollUntil(ctx, 2*time.Minute, func() (bool, error) {
		posts := topLevelPosts(fake)
		if len(posts) > 0 {
			page = posts[0]
		}
		return len(posts) > 0, nil
	})
	if err != nil {
		t.Fatalf("no Slack page within 2m of breaking %s: %v", broken, err)
	}
	t.Logf("paged %s after the break: %q", time.Since(brokeAt).Round(time.Second), firstLine(page.Text))
	// Long enough for the other instance to have paged too, had it
	// watched the zone: it probes the zone's servers as often, and the
	// page came after open_rounds intervals.
	sleepCtx(ctx, time.Since(brokeAt)+2*shardInterval)
	posts := topLevelPosts(fake)
	if len(posts) != 1 {
		for _, p := range posts {
			t.Logf("post: key %s: %s", p.Key, firstLine(p.Text))
		}
		t.Errorf("%d Slack pages, want exactly 1", len(posts))
	}
	ownView, err := fetchIncidents(own.base)
	if err != nil {
		t.Fatal(err)
	}
	var ownInc *incident.Entry
	for i, e := range ownView.Open {
		if e.Subject == label {
			ownInc = &ownView.Open[i]
		}
	}
	switch {
	case ownInc == nil:
		t.Errorf("the owner (shard %d) has no open incident on %s; open: %d", own.index, label, len(ownView.Open))
	case !ownInc.Paged:
		t.Errorf("the owner's incident %s on %s is not marked paged", ownInc.ID, label)
	case !strings.HasPrefix(page.Key, ownInc.ID+"#"):
		t.Errorf("the page's key %q is not the owner's incident %s", page.Key, ownInc.ID)
	default:
		t.Logf("owner's incident %s: %s (%s), paged", ownInc.ID, ownInc.Kind, ownInc.Severity)
	}
	otherView, err := fetchIncidents(other.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(otherView.Open, otherView.Recent...) {
		t.Errorf("the other instance (shard %d) has an incident: %s %s %s (paged %t)", other.index, e.ID, e.Kind, e.Subject, e.Paged)
	}
	t.Logf("TestShards took %s", time.Since(began).Round(time.Second))
}

// shardReachmon is $BENCH_REACHMON_BIN when set, else ./cmd/reachmon of
// this module built into dir (`go test ./...` builds no binaries).
func shardReachmon(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	if os.Getenv("BENCH_REACHMON_BIN") != "" {
		return reachmonBinary(t)
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(dir, "reachmon")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/reachmon")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/reachmon: %v\n%s", err, out)
	}
	return bin
}

// shardConfig is the scale benchmark's configuration (reachmonConfig)
// with this instance's listen address and state, a probe timeout within
// the short interval, [shard], Slack, and an evaluator that opens an
// incident after 3 failing rounds.
func shardConfig(l *lab, stateDir, listen, tokenFile, slackURL string, index int) string {
	base := reachmonConfig(l, stateDir, shardInterval, 0)
	base = strings.Replace(base, fmt.Sprintf("listen = %q", l.plan.listen()), fmt.Sprintf("listen = %q", listen), 1)
	iv := fmt.Sprintf("interval = %q\n", shardInterval.String())
	base = strings.Replace(base, iv, iv+"timeout = \"2s\"\n", 1)
	return base + fmt.Sprintf(`
[evaluate]
open_rounds = 3
open_after = "4s"

[slack]
token_file = %q
api_url = %q
channel = %q

[shard]
index = %d
count = %d
`, tokenFile, slackURL, shardChan, index, shardCount)
}

// startShard writes instance index's configuration and starts it; its
// HTTP listener is the lab's reachmon address, port 9798 + index.
func startShard(l *lab, dir, bin, tokenFile, slackURL string, index int) (*shardInstance, error) {
	d := filepath.Join(dir, fmt.Sprintf("shard%d", index))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("%s:%d", l.plan.addr(250, 1), 9798+index)
	text := shardConfig(l, filepath.Join(d, "state"), listen, tokenFile, slackURL, index)
	if _, err := config.Parse("shard.toml", []byte(text)); err != nil {
		return nil, err
	}
	conf := filepath.Join(d, "reachmon.toml")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc(d, "reachmon", false, bin, "run", "--config", conf)
	if err != nil {
		return nil, err
	}
	p.Name = fmt.Sprintf("reachmon shard %d", index)
	return &shardInstance{index: index, base: "http://" + listen, proc: p, dir: d}, nil
}

// waitReady waits until the instance's /readyz answers 200 (its first
// discoveries are done), at most limit.
func waitReady(ctx context.Context, in *shardInstance, limit time.Duration) error {
	err := pollUntil(ctx, limit, func() (bool, error) {
		if err := in.proc.Exited(); err != nil {
			return false, err
		}
		code, _, err := httpGet(in.base+"/readyz", 2*time.Second)
		return err == nil && code == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready (log %s): %w", in.proc.Name, in.proc.LogPath, err)
	}
	return nil
}

// pollUntil calls cond every 250 ms until it is true or fails, ctx ends
// or limit passes.
func pollUntil(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// getJSON decodes url's answer (at most 16 MiB) into v.
func getJSON(url string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}

func fetchStatus(base string) (*evaluate.Status, error) {
	var st evaluate.Status
	return &st, getJSON(base+"/api/v1/status", &st)
}

func fetchIncidents(base string) (*incident.View, error) {
	var v incident.View
	return &v, getJSON(base+"/api/v1/incidents", &v)
}

// topLevelPosts are the pages: messages posted to a channel, not replies
// in an incident's thread.
func topLevelPosts(fake *fakeslack.Server) []fakeslack.Call {
	var out []fakeslack.Call
	for _, c := range fake.CallsOf("chat.postMessage") {
		if c.ThreadTS == "" && c.Fault == "" {
			out = append(out, c)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// waitRcode waits until both of the DNS host's addresses answer zone's
// SOA with rcode.
func waitRcode(ctx context.Context, l *lab, zone string, rcode int, limit time.Duration) error {
	return pollUntil(ctx, limit, func() (bool, error) {
		for _, a := range l.nsAddrs {
			r, err := query(ctx, hostPort(a), zone, dns.TypeSOA, false)
			if err != nil || r.Rcode != rcode {
				return false, nil
			}
		}
		return true, nil
	})
}

// queryLogs are the resolvers' query logs (Unbound's log-queries).
type queryLogs []string

// logQueries restarts the lab's resolvers with log-queries on (their
// configuration is the lab's, which does not log queries) and waits until
// each validates again. It returns their log files.
func logQueries(ctx context.Context, l *lab) (queryLogs, error) {
	var logs queryLogs
	for j, u := range l.unbounds {
		if err := u.Stop(); err != nil {
			return nil, err
		}
		dir := filepath.Dir(u.LogPath)
		conf := filepath.Join(dir, "unbound.conf")
		text, err := os.ReadFile(conf)
		if err != nil {
			return nil, err
		}
		s := strings.Replace(string(text), "\tverbosity: 1\n", "\tverbosity: 1\n\tlog-queries: yes\n", 1)
		if s == string(text) {
			return nil, fmt.Errorf("%s: no verbosity line to add log-queries after", conf)
		}
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc(dir, "daemon", false, "unbound", "-d", "-c", conf)
		if err != nil {
			return nil, err
		}
		p.Name = u.Name
		l.unbounds[j] = p
		logs = append(logs, filepath.Join(dir, "unbound.log"))
	}
	for j, u := range l.unbounds {
		err := pollUntil(ctx, time.Minute, func() (bool, error) {
			if err := u.Exited(); err != nil {
				return false, err
			}
			r, err := query(ctx, hostPort(l.resolvers[j]), l.zones[0], dns.TypeSOA, true)
			return err == nil && r.Rcode == dns.RcodeSuccess && r.AuthenticatedData, nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s with log-queries: %w", u.Name, err)
		}
	}
	return logs, nil
}

// offsets are the logs' sizes now.
func (q queryLogs) offsets() []int64 {
	out := make([]int64, len(q))
	for i, f := range q {
		if fi, err := os.Stat(f); err == nil {
			out[i] = fi.Size()
		}
	}
	return out
}

// queryLine is Unbound's log-queries line: "... info: 127.0.0.1
// z00001.test. SOA IN".
var queryLine = regexp.MustCompile(`info: \S+ (\S+) (\S+) IN$`)

// countSOA counts the SOA queries per name the logs received since from
// (offsets), up to their size now.
func (q queryLogs) countSOA(from []int64) (map[string]int, error) {
	counts := map[string]int{}
	to := q.offsets()
	for i, f := range q {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(io.NewSectionReader(fh, from[i], to[i]-from[i]))
		for sc.Scan() {
			if m := queryLine.FindStringSubmatch(sc.Text()); m != nil && m[2] == "SOA" {
				counts[strings.ToLower(m[1])]++
			}
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("no SOA query in the resolvers' logs %v", []string(q))
	}
	return counts, nil
}
