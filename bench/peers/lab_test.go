package benchpeers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/integration/lab"
)

// benchLab is the DNS lab every tool is measured against.
type benchLab struct {
	dns    *lab.DNS
	set    *checkSet
	groups []int // the lab daemons' process groups
}

// labTTL is the TTL of every record: longer than a round, so that the
// resolvers answer every check from their cache throughout.
const labTTL = time.Hour

// startLab starts integration/lab's DNSSEC lab with numZones zones and
// numResolvers validating Unbound resolvers (root; it skips, or fails
// with CI=true, when a daemon is missing), records the daemons' process
// groups for the signal handler and scripts/bench.sh, and asks every check
// once: each must answer NOERROR, and the resolvers' caches are then warm.
func startLab(b *testing.B) *benchLab {
	b.Helper()
	dir := workDir.Path(b)
	bl := &benchLab{}
	// Registered before StartDNS so that it runs after the lab's own
	// cleanup (cleanups run last-in first-out): the .pgid files go once
	// the daemons are gone.
	b.Cleanup(func() {
		labMu.Lock()
		labGroups = nil
		labDirs = nil
		labMu.Unlock()
		for _, pg := range bl.groups {
			_ = os.Remove(filepath.Join(dir, fmt.Sprintf("lab-%d.pgid", pg)))
		}
	})
	zones := make([]string, numZones)
	for i := range zones {
		zones[i] = zoneName(i)
	}
	began := time.Now()
	l := lab.StartDNS(b, lab.DNSOptions{Zones: zones, Resolvers: numResolvers, TTL: labTTL, StartTimeout: 2 * time.Minute})
	bl.dns = l
	bl.groups = groupsOf(l.Dir)
	labMu.Lock()
	labGroups = append(labGroups, bl.groups...)
	labDirs = append(labDirs, l.Dir)
	labMu.Unlock()
	for _, pg := range bl.groups {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("lab-%d.pgid", pg)), []byte(strconv.Itoa(pg)+"\n"), 0o644)
	}
	// 3 NSD (root, test., the child zones) and the resolvers.
	if len(bl.groups) != 3+numResolvers {
		b.Fatalf("found %d lab daemon process groups (%v), want %d", len(bl.groups), bl.groups, 3+numResolvers)
	}
	var zs []zoneServers
	for _, z := range l.ZoneNames {
		info := l.Zones[z]
		zs = append(zs, zoneServers{name: z, auth: []string{info.NS[0].AddrPort(), info.NS[1].AddrPort()}})
	}
	bl.set = newCheckSet(l.ResolverAddrs, zs)
	if err := bl.verify(); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("# lab: %d zones, %d resolvers, %d checks (%d via resolvers, %d authoritative), ready in %v\n",
		len(zs), len(l.ResolverAddrs), len(bl.set.checks), bl.set.count(kindResolver), bl.set.count(kindAuth),
		time.Since(began).Round(100*time.Millisecond))
	return bl
}

// verify asks every check once (16 at a time) and wants NOERROR, with AA
// from authoritative servers and AD from the validating resolvers.
func (bl *benchLab) verify() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		next  atomic.Int64
		mu    sync.Mutex
		fails []string
		wg    sync.WaitGroup
	)
	checks := bl.set.checks
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(checks) || ctx.Err() != nil {
					return
				}
				c := checks[i]
				r, err := lab.Query(ctx, c.server, c.name, qtype(c.qtype), lab.QueryFlags{RD: c.rd()})
				var problem string
				switch {
				case err != nil:
					problem = err.Error()
				case r.Rcode != dns.RcodeSuccess:
					problem = "rcode " + dns.RcodeToString[r.Rcode]
				case !c.rd() && !r.Authoritative:
					problem = "no AA"
				case c.rd() && !r.AuthenticatedData:
					problem = "no AD"
				}
				if problem != "" {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%s %s @%s: %s", c.name, c.qtype, c.server, problem))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(fails) > 0 {
		slices.Sort(fails)
		return fmt.Errorf("%d of %d checks fail before the benchmark starts, e.g. %q", len(fails), len(checks), fails[:min(5, len(fails))])
	}
	return nil
}

// serversCPU is the CPU time used so far by the lab's daemons.
func (bl *benchLab) serversCPU() time.Duration { return groupsCPU(bl.groups) }
