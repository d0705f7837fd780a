package benchbmp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/integration/lab"
)

// Ingest end, the rule of bench/bgp: the receiver's CPU (sampled from
// /proc every sampleEvery, 10 ms ticks) goes quiet. A sample with at least
// busyCPU of CPU is busy; the ingest ended at the last busy sample once
// quietFor has passed without one and the sender wrote everything.
const (
	sampleEvery = 50 * time.Millisecond
	busyCPU     = 0.02 // 20 ms of CPU in 50 ms: 40% of a core
	quietFor    = 3 * time.Second
	maxIngest   = 8 * time.Minute
)

type sample struct {
	t   time.Time
	cpu float64 // seconds
	rss int64   // bytes
}

type sampler struct {
	mu   sync.Mutex
	s    []sample
	stop chan struct{}
	done chan struct{}
}

func startSampler(pid int) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			if p, err := benchutil.ReadProc(pid); err == nil {
				s.mu.Lock()
				s.s = append(s.s, sample{time.Now(), p.CPUSeconds, p.RSS})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) close() { close(s.stop); <-s.done }

// lastBusy returns the last busy sample after from and the CPU used from
// from to it.
func (s *sampler) lastBusy(from time.Time) (t time.Time, cpu float64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := -1
	for i := 1; i < len(s.s); i++ {
		if s.s[i].t.Before(from) {
			continue
		}
		if first < 0 {
			first = i - 1
		}
		if s.s[i].cpu-s.s[i-1].cpu >= busyCPU-1e-9 {
			t, cpu, ok = s.s[i].t, s.s[i].cpu-s.s[first].cpu, true
		}
	}
	return t, cpu, ok
}

func (s *sampler) maxRSS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.s {
		m = max(m, x.rss)
	}
	return m
}

func (s *sampler) last() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s[len(s.s)-1]
}

// --- reachmon with a BMP station --------------------------------------------

type reachmon struct {
	p               *benchutil.Daemon
	bmpPort, http   int
	client          *http.Client
	bmpAddr, apiURL string
}

// reachmonConfig: the BMP station with the router allowed, the watched
// prefixes, no [bgp] neighbor, no zones or resolvers (the DNS side idle).
func reachmonConfig(dir string, bmpPort, httpPort int, f *feed) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bench\"\nlisten = \"127.0.0.1:%d\"\nstate_dir = %q\n\n", httpPort, filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "[log]\nlevel = \"info\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[bmp]\nlisten = \"127.0.0.1:%d\"\n\n", bmpPort)
	fmt.Fprintf(&b, "[[bmp.router]]\naddress = %q\nname = %q\ndescription = \"bench/bmp sender\"\n\n", routerAddr, routerName)
	for _, w := range f.Watched {
		fmt.Fprintf(&b, "[[prefix]]\nprefix = %q\norigins = [%d]\n", w.Prefix.String(), w.Origin)
	}
	return b.String()
}

func startReachmon(tb testing.TB, dir string, f *feed) *reachmon {
	tb.Helper()
	bin := benchutil.ReachmonBinary(tb, "BENCH_BMP_REACHMON")
	r := &reachmon{bmpPort: benchutil.FreePort(tb), http: benchutil.FreePort(tb), client: &http.Client{Timeout: 5 * time.Second}}
	r.bmpAddr = fmt.Sprintf("127.0.0.1:%d", r.bmpPort)
	r.apiURL = fmt.Sprintf("http://127.0.0.1:%d/api/v1/peers", r.http)
	conf := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(conf, []byte(reachmonConfig(dir, r.bmpPort, r.http, f)), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := daemons.Start(dir, "reachmon", benchutil.DaemonOptions{}, bin, "run", "--config", conf)
	if err != nil {
		tb.Fatal(err)
	}
	r.p = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.peers(); err == nil {
			if c, err := net.DialTimeout("tcp", r.bmpAddr, time.Second); err == nil {
				c.Close() // the station listens (this connection is refused and logged)
				return r
			}
		}
		if err := p.Exited(); err != nil {
			log := lab.Tail(p.LogPath, 20)
			if strings.Contains(log, "bmp") {
				lab.Missing(tb, "this reachmon has no BMP station (it refuses [bmp]): %s", log)
			}
			tb.Fatalf("reachmon exited: %v; log %s", err, p.LogPath)
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			tb.Fatalf("reachmon's API and BMP station not up; log %s", p.LogPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type peersView struct {
	Enabled bool `json:"enabled"`
	Peers   []struct {
		Peer   string `json:"peer"`
		State  string `json:"state"`
		Synced bool   `json:"synced"`
		Routes int    `json:"routes"`
	} `json:"peers"`
}

// peers reads /api/v1/peers (the feed's own state, cheap to poll).
func (r *reachmon) peers() (peersView, error) {
	var v peersView
	resp, err := r.client.Get(r.apiURL)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("/api/v1/peers: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// synced: the router's one monitored peer is there and synced (its
// End-of-RIB markers came through Route Monitoring).
func (r *reachmon) synced() bool {
	v, err := r.peers()
	return err == nil && len(v.Peers) == 1 && v.Peers[0].Synced
}

// verify: exactly one peer (the router's monitored peer), synced, with
// exactly the routes of the feed inside watched prefixes.
func (r *reachmon) verify(f *feed) (string, error) {
	v, err := r.peers()
	if err != nil {
		return "", err
	}
	if len(v.Peers) != 1 {
		return "", fmt.Errorf("reachmon: %d peers in /api/v1/peers, want the router's one monitored peer: %+v", len(v.Peers), v.Peers)
	}
	p := v.Peers[0]
	msg := fmt.Sprintf("reachmon: %s %s synced=%v, %d watched routes (expected %d)", p.Peer, p.State, p.Synced, p.Routes, f.Imported)
	if !p.Synced || p.Routes != f.Imported {
		return msg, fmt.Errorf("%s", msg)
	}
	return msg, nil
}

// --- the ingest ---------------------------------------------------------------

type result struct {
	ingest, send, eor            time.Duration
	cpu                          float64
	peakKiB, steadyKiB, startKiB int64
	note                         string
}

// ingest connects as the router (from routerAddr), writes the BMP
// stream, and waits for the receiver to go quiet.
func ingest(tb testing.TB, f *feed, r *reachmon) result {
	tb.Helper()
	smp := startSampler(r.p.Pid())
	defer smp.close()
	time.Sleep(500 * time.Millisecond) // baseline samples
	res := result{startKiB: smp.last().rss / 1024}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(routerAddr)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", r.bmpAddr)
	if err != nil {
		tb.Fatalf("connecting to the BMP station: %v (log %s)", err, r.p.LogPath)
	}
	defer c.Close()
	start := time.Now()
	sendErr := make(chan error, 1)
	var sent time.Time
	go func() {
		// 64 KiB writes: TCP back-pressure paces the sender.
		for off := 0; off < len(f.stream); off += 64 << 10 {
			if _, err := c.Write(f.stream[off:min(off+64<<10, len(f.stream))]); err != nil {
				sendErr <- err
				return
			}
		}
		sent = time.Now()
		sendErr <- nil
	}()
	deadline := start.Add(maxIngest)
	var eorAt time.Time
	written := false
	for {
		if err := r.p.Exited(); err != nil {
			tb.Fatal(err)
		}
		if !written {
			select {
			case err := <-sendErr:
				if err != nil {
					tb.Fatalf("sending BMP: %v (log %s)", err, r.p.LogPath)
				}
				written = true
			default:
			}
		}
		if eorAt.IsZero() && r.synced() {
			eorAt = time.Now()
		}
		end, _, busy := smp.lastBusy(start)
		now := time.Now()
		if written && busy && !eorAt.IsZero() && now.Sub(end) >= quietFor && now.After(sent.Add(quietFor)) {
			break
		}
		if now.After(deadline) {
			tb.Fatalf("ingest not finished after %s (sent: %v, synced: %v; log %s)", maxIngest, written, !eorAt.IsZero(), r.p.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	end, cpu, _ := smp.lastBusy(start)
	res.ingest, res.cpu, res.send, res.eor = end.Sub(start), cpu, sent.Sub(start), eorAt.Sub(start)
	p, err := benchutil.ReadProc(r.p.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	res.peakKiB, res.steadyKiB = max(p.HWM, smp.maxRSS())/1024, p.RSS/1024
	if res.note, err = r.verify(f); err != nil {
		tb.Fatal(err)
	}
	return res
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

var feedLine sync.Once

// BenchmarkIngest sends the generated full table through one BMP session
// to a fresh `reachmon run` (run with -benchtime 1x: one ingest).
func BenchmarkIngest(b *testing.B) {
	f, err := getFeed()
	if err != nil {
		b.Fatal(err)
	}
	// On stdout, for scripts/bench.sh.
	feedLine.Do(func() {
		fmt.Printf("# feed: %s IPv4 + %s IPv6 routes in %s BMP Route Monitoring messages (%.1f MB); %s watched prefixes (%s of them routes of the feed), %s routes of the feed inside them\n",
			thousands(len(f.V4)), thousands(len(f.V6)), thousands(f.NUpdates), float64(len(f.stream))/1e6,
			thousands(len(f.Watched)), thousands(f.InFeed), thousands(f.Imported))
	})
	root := workDir.Path(b)
	b.Run("reachmon-bmp", func(b *testing.B) {
		var res result
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(root, fmt.Sprintf("reachmon-bmp-%d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			r := startReachmon(b, dir, f)
			res = ingest(b, f, r)
			if err := r.p.Stop(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(res.ingest.Seconds(), "ingest-s")
		b.ReportMetric(float64(f.Routes())/res.ingest.Seconds(), "routes/s")
		b.ReportMetric(float64(res.peakKiB)/1024, "peak-MiB")
		b.ReportMetric(float64(res.steadyKiB)/1024, "steady-MiB")
		b.ReportMetric(float64(res.startKiB)/1024, "idle-MiB")
		b.ReportMetric(res.cpu, "cpu-s")
		b.ReportMetric(res.send.Seconds(), "send-s")
		b.ReportMetric(res.eor.Seconds(), "eor-s")
		b.ReportMetric(float64(f.Routes()), "routes")
		b.ReportMetric(0, "ns/op")
		b.Logf("%s; load %s", res.note, benchutil.LoadAvg())
	})
}
