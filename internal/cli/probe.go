package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/schedule"
)

// ProbeSchema names the version of the `probe --json` output. Fields may be
// added within a version; none is removed or changes meaning.
const ProbeSchema = "reachmon.probe/v1"

// ProbeReport is the `reachmon probe --json` document.
type ProbeReport struct {
	Schema string `json:"schema"`
	// OK is true when every query answered well (the exit code is 0).
	OK    bool         `json:"ok"`
	Names []NameReport `json:"names"`
	// Problems lists each problem found, one sentence each.
	Problems []string `json:"problems"`
	// Notes are observations worth knowing that are not problems.
	Notes []string `json:"notes,omitempty"`
}

// NameReport is everything learnt about one NAME.
type NameReport struct {
	Name string `json:"name"`
	// Zone is the enclosing zone, when it was looked up (--auth, or to
	// explain a DNSSEC failure).
	Zone         string              `json:"zone,omitempty"`
	Observations []model.Observation `json:"observations"`
	Discovery    *model.Discovery    `json:"discovery,omitempty"`
	DSCheck      *model.DSCheck      `json:"ds_check,omitempty"`
	// Verdict is what the daemon's correlation rules make of these
	// results: the incident kind they point at, or ok.
	Verdict evaluate.ProbeVerdict `json:"verdict"`
}

// defaultResolvers are used when neither --resolver nor --config names any.
var defaultResolvers = []struct{ name, addr, tlsName, dohURL string }{
	{"cloudflare", "1.1.1.1", "cloudflare-dns.com", "https://1.1.1.1/dns-query"},
	{"google", "8.8.8.8", "dns.google", "https://8.8.8.8/dns-query"},
	{"quad9", "9.9.9.9", "dns.quad9.net", "https://9.9.9.9/dns-query"},
}

// probeUsage is the probe line of the usage; dig, kdig, q and doggo users
// can type their habits: "reachmon probe example.com MX @1.1.1.1 -j".
const probeUsage = `probe NAME... [TYPE]... [@SERVER]... [-t|--type TYPE]... [-r|--resolver ADDR[:PORT]]...
                 [--auth] [--transport udp|tcp|dot|doh] [--tls-name NAME] [--timeout D]
                 [--config FILE] [-j|--json] [--debug]`

func probeCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("probe", probeUsage, stderr)
	flags := defineProbeFlags(fs)
	args, err := parseInterspersed(fs, args)
	if err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "reachmon probe: "+format+"\n", a...)
		return ExitUsage
	}
	names := flags.positional(args)
	if len(names) == 0 {
		fs.Usage()
		return fail("name at least one NAME to probe")
	}
	req, err := flags.request(names)
	if err != nil {
		return fail("%v", err)
	}

	level := slog.LevelWarn
	if *flags.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	prober := dnsprobe.New(dnsprobe.Options{Timeout: req.Timeout, Logger: log})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := RunProbe(ctx, prober, req)
	return writeProbeReport(stdout, stderr, rep, *flags.asJSON)
}

// probeFlags are the flags of `reachmon probe`.
type probeFlags struct {
	resolvers, types multiFlag
	auth             *bool
	transport        *string
	tlsName          *string
	timeout          *time.Duration
	asJSON           *bool
	debug            *bool
	cfgPath          *string
}

func defineProbeFlags(fs *flag.FlagSet) *probeFlags {
	f := &probeFlags{}
	fs.Var(&f.resolvers, "resolver", "resolver to ask, `ADDR[:PORT]` (a URL for doh), as @SERVER does; repeatable (default 1.1.1.1, 8.8.8.8, 9.9.9.9)")
	alias(fs, "r", "resolver")
	fs.Var(&f.types, "type", "record `TYPE` to ask for (any type: MX, TLSA, SSHFP, TYPE65, ...), as a positional TYPE does; repeatable (default A and AAAA)")
	alias(fs, "t", "type")
	f.auth = fs.Bool("auth", false, "also discover the zone's authoritative servers, query them directly and check DS against DNSKEY")
	f.transport = fs.String("transport", "udp", "transport to the resolvers: `udp|tcp|dot|doh`")
	f.tlsName = fs.String("tls-name", "", "TLS server `NAME` to verify (dot, doh); default per resolver")
	f.timeout = fs.Duration("timeout", 5*time.Second, "deadline of each query, a duration `D` such as 500ms or 2s")
	f.asJSON = fs.Bool("json", false, "print the reachmon.probe/v1 JSON document instead of a table")
	alias(fs, "j", "json")
	f.debug = fs.Bool("debug", false, "log every query and answer to stderr")
	f.cfgPath = fs.String("config", "", "take resolvers from this configuration `FILE` (optional)")
	return f
}

// positional sorts the positional arguments as dig does: "@SERVER" is a
// resolver (kept with its "@" for error messages), a record type's name
// (in any case, "mx", "TYPE65") is a TYPE, and anything else is a NAME
// (a trailing dot makes a NAME of a word that is also a type: "mx.").
func (f *probeFlags) positional(args []string) (names []string) {
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "@"):
			f.resolvers = append(f.resolvers, a)
		case isRecordTypeWord(a):
			f.types = append(f.types, a)
		default:
			names = append(names, a)
		}
	}
	return names
}

// isRecordTypeWord reports whether a names a record type, including one
// that cannot be asked for (AXFR): request then refuses it with the
// reason instead of asking for a name "axfr.".
func isRecordTypeWord(a string) bool {
	_, _, err := config.RecordType(a)
	return err == nil || errors.Is(err, config.ErrNotAskable)
}

// request validates the flags and NAMEs into the check to run; the error
// names the flag or NAME at fault.
func (f *probeFlags) request(names []string) (ProbeRequest, error) {
	if *f.timeout <= 0 {
		return ProbeRequest{}, errors.New("--timeout must be greater than zero")
	}
	var qnames []string
	for _, n := range names {
		fqdn, err := config.FQDN(n)
		if err != nil {
			return ProbeRequest{}, fmt.Errorf("NAME %v", err)
		}
		qnames = append(qnames, fqdn)
	}
	types := []string{"A", "AAAA"}
	if len(f.types) > 0 {
		types = nil
	}
	for _, t := range f.types {
		name, _, err := config.RecordType(t)
		if err != nil {
			return ProbeRequest{}, fmt.Errorf("TYPE %v", err)
		}
		if !slices.Contains(types, name) {
			types = append(types, name)
		}
	}
	tr, err := config.ParseTransport(*f.transport)
	if err != nil {
		return ProbeRequest{}, fmt.Errorf("--transport %v", err)
	}
	servers, err := probeResolvers(f.resolvers, *f.cfgPath, tr, *f.tlsName)
	if err != nil {
		return ProbeRequest{}, err
	}
	return ProbeRequest{Names: qnames, Types: types, Resolvers: servers, Auth: *f.auth, Timeout: *f.timeout}, nil
}

// writeProbeReport prints the report as JSON or a table and returns the
// exit code: ExitProblem unless every query answered well.
func writeProbeReport(stdout, stderr io.Writer, rep ProbeReport, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "reachmon probe: %v\n", err)
			return ExitProblem
		}
	} else {
		WriteProbeTable(stdout, rep)
	}
	if !rep.OK {
		return ExitProblem
	}
	return ExitOK
}

// probeResolvers builds the resolver list from --resolver flags, else the
// config file, else the public defaults.
func probeResolvers(flags []string, cfgPath string, tr model.Transport, tlsName string) ([]model.Server, error) {
	if len(flags) > 0 {
		var out []model.Server
		for _, r := range flags {
			spelled := "--resolver"
			if server, ok := strings.CutPrefix(r, "@"); ok {
				r, spelled = server, "@SERVER"
			}
			addr, err := config.ServerAddress(r, tr)
			if err != nil {
				return nil, fmt.Errorf("%s %v", spelled, err)
			}
			out = append(out, model.Server{Name: r, Kind: model.KindResolver, Addr: addr, Transport: tr, TLSServerName: tlsName, Validating: true})
		}
		return out, nil
	}
	if cfgPath != "" {
		plan, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		if len(plan.Resolvers) == 0 {
			return nil, fmt.Errorf("%s names no [[resolver]]", cfgPath)
		}
		return plan.ResolverServers(), nil
	}
	var out []model.Server
	for _, d := range defaultResolvers {
		addr, name := d.addr, d.tlsName
		if tr == model.TransportDoH {
			addr = d.dohURL
		}
		if tlsName != "" {
			name = tlsName
		}
		if tr != model.TransportDoT && tr != model.TransportDoH {
			name = ""
		}
		a, err := config.ServerAddress(addr, tr)
		if err != nil {
			return nil, err
		}
		out = append(out, model.Server{Name: d.name, Kind: model.KindResolver, Addr: a, Transport: tr, TLSServerName: name, Validating: true})
	}
	return out, nil
}

// Prober is what `reachmon probe` needs of the DNS prober.
type Prober interface {
	schedule.Prober
	FindZone(ctx context.Context, name string, resolvers []model.Server) (string, error)
}

// ProbeRequest is one ad-hoc check.
type ProbeRequest struct {
	Names     []string // FQDNs
	Types     []string
	Resolvers []model.Server
	Auth      bool
	Timeout   time.Duration
}

// probeParallel bounds the queries an ad-hoc check runs at once.
const probeParallel = 16

// RunProbe runs an ad-hoc check and judges the results.
func RunProbe(ctx context.Context, p Prober, req ProbeRequest) ProbeReport {
	rep := ProbeReport{Schema: ProbeSchema, Names: make([]NameReport, len(req.Names)), Problems: []string{}}
	var wg sync.WaitGroup
	for i, name := range req.Names {
		wg.Go(func() { rep.Names[i] = probeName(ctx, p, req, name) })
	}
	wg.Wait()
	for i, nr := range rep.Names {
		v := evaluate.Judge(evaluate.ProbeSnapshot{
			Zone: firstNonEmpty(nr.Zone, nr.Name), Observations: nr.Observations, DSCheck: nr.DSCheck, Discovery: nr.Discovery,
		})
		probs, notes := judge(nr, req.Auth)
		rep.Names[i].Verdict, probs = agree(nr.Name, v, probs)
		rep.Problems = append(rep.Problems, probs...)
		rep.Notes = append(rep.Notes, notes...)
	}
	rep.OK = len(rep.Problems) == 0
	return rep
}

func probeName(ctx context.Context, p Prober, req ProbeRequest, name string) NameReport {
	nr := NameReport{Name: name}
	var queries []dnsprobe.Query
	for _, r := range req.Resolvers {
		for _, t := range req.Types {
			queries = append(queries, dnsprobe.Query{Server: r, Name: name, Type: t})
		}
	}
	nr.Observations = runQueries(ctx, p, queries, req.Timeout)

	dnssecSuspect := slices.ContainsFunc(nr.Observations, func(o model.Observation) bool {
		return o.CDRetry != nil && o.CDRetry.Succeeded
	})
	if !req.Auth && !dnssecSuspect {
		return nr
	}
	// Several queries per step: give each step a few timeouts' worth.
	step := 4 * req.Timeout
	zctx, cancel := context.WithTimeout(ctx, step)
	zone, err := p.FindZone(zctx, name, req.Resolvers)
	cancel()
	if err != nil {
		nr.Discovery = &model.Discovery{Time: time.Now(), Error: fmt.Sprintf("finding the zone of %s: %v", name, err)}
		return nr
	}
	nr.Zone = zone
	dctx, cancel := context.WithTimeout(ctx, step)
	d := p.Discover(dctx, zone, req.Resolvers)
	cancel()
	d.Zone = zone
	nr.Discovery = &d
	if len(d.Servers) == 0 {
		return nr
	}
	if req.Auth {
		var aq []dnsprobe.Query
		for _, srv := range schedule.AuthModelServers(d.Servers) {
			for _, t := range req.Types {
				aq = append(aq, dnsprobe.Query{Server: srv, Name: name, Type: t})
			}
			if !(name == zone && slices.Contains(req.Types, "SOA")) {
				aq = append(aq, dnsprobe.Query{Server: srv, Name: zone, Type: "SOA"})
			}
		}
		nr.Observations = append(nr.Observations, runQueries(ctx, p, aq, req.Timeout)...)
	}
	cctx, cancel := context.WithTimeout(ctx, step)
	c := p.CheckDS(cctx, zone, req.Resolvers, d.Servers)
	cancel()
	nr.DSCheck = &c
	return nr
}

func runQueries(ctx context.Context, p Prober, qs []dnsprobe.Query, timeout time.Duration) []model.Observation {
	out := make([]model.Observation, len(qs))
	var g errgroup.Group
	g.SetLimit(probeParallel)
	for i, q := range qs {
		g.Go(func() error {
			qctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i] = p.Probe(qctx, q)
			return nil
		})
	}
	_ = g.Wait() // the closures never fail: a failed probe is an Observation
	return out
}

// agree makes one name's verdict and problems tell the same story, so that
// the VERDICT line, the JSON verdict, the problems and the exit status never
// contradict each other: a problem the rules classify as nothing makes the
// verdict non-ok, and a non-ok verdict with no problem listed is one.
func agree(name string, v evaluate.ProbeVerdict, probs []string) (evaluate.ProbeVerdict, []string) {
	switch {
	case !v.OK && len(probs) == 0:
		probs = append(probs, name+": "+v.Line)
	case v.OK && len(probs) > 0:
		line := "problem: " + probs[0]
		if n := len(probs) - 1; n > 0 {
			line += fmt.Sprintf(" (and %d more)", n)
		}
		v = evaluate.ProbeVerdict{Severity: model.SeverityWarning, Line: line,
			RootCause: "The correlation rules classify no incident, but the results show a problem: " + strings.Join(probs, "; ") + "."}
	}
	return v, probs
}

// judge lists the problems and notes in one name's results.
func judge(nr NameReport, auth bool) (problems, notes []string) {
	serials := map[uint32][]string{}
	for _, o := range nr.Observations {
		where := fmt.Sprintf("%s %s from %s %s", o.Name, o.Type, o.Server.Kind, o.Server.Name)
		switch {
		case o.Error != model.ErrNone:
			problems = append(problems, fmt.Sprintf("%s: %s%s", where, o.Error, detail(o.ErrorDetail)))
			continue
		case o.Rcode != "NOERROR":
			msg := fmt.Sprintf("%s: %s%s", where, o.Rcode, edeText(o.EDE))
			if c := o.CDRetry; c != nil {
				if c.Succeeded {
					msg += fmt.Sprintf("; with CD=1 (validation off) %s: DNSSEC validation fails", c.Rcode)
				} else {
					msg += "; with CD=1 still " + firstNonEmpty(c.Rcode, string(c.Error))
				}
			}
			problems = append(problems, msg)
		}
		if o.Server.Kind == model.KindAuthoritative && o.Rcode == "NOERROR" && !o.AA {
			problems = append(problems, fmt.Sprintf("%s: answer is not authoritative (AA=0): lame delegation", where))
		} else if o.Negative() == "NODATA" {
			// Nothing configured this type: the name exists without it.
			notes = append(notes, fmt.Sprintf("%s: NODATA (the name exists, without a %s record)", where, o.Type))
		}
		if o.SOASerial != nil {
			serials[*o.SOASerial] = append(serials[*o.SOASerial], o.Server.Name)
		}
	}
	if len(serials) > 1 {
		var parts []string
		for s, srvs := range serials {
			parts = append(parts, fmt.Sprintf("%d at %s", s, strings.Join(srvs, ", ")))
		}
		slices.Sort(parts)
		notes = append(notes, fmt.Sprintf("%s: SOA serials differ across authoritative servers: %s", nr.Zone, strings.Join(parts, "; ")))
	}
	if d := nr.Discovery; d != nil {
		if d.Error != "" {
			problems = append(problems, fmt.Sprintf("%s: authoritative discovery failed: %s", firstNonEmpty(nr.Zone, nr.Name), d.Error))
		} else if auth && len(d.Servers) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no authoritative server address found", nr.Zone))
		}
	}
	if c := nr.DSCheck; c != nil {
		switch c.Status {
		case model.DSOK:
		case model.DSUnsigned:
			notes = append(notes, fmt.Sprintf("%s: unsigned (no DS at the parent)", nr.Zone))
		default:
			problems = append(problems, fmt.Sprintf("%s: DS vs DNSKEY %s: %s", nr.Zone, c.Status, c.Detail))
		}
	}
	return problems, notes
}

func detail(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func edeText(e []model.EDE) string {
	if len(e) == 0 {
		return ""
	}
	var parts []string
	for _, x := range e {
		p := fmt.Sprintf("EDE %d %s", x.Code, x.Name)
		if x.Text != "" {
			p += ": " + x.Text
		}
		parts = append(parts, p)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
