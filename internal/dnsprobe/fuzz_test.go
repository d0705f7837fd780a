package dnsprobe

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// FuzzObserve feeds arbitrary bytes as a server's reply through the
// response-handling path (decode, then fillObservation) and checks that it
// never panics and that the Observation is consistent.
func FuzzObserve(f *testing.F) {
	signed := new(dns.Msg)
	signed.SetQuestion("example.test.", dns.TypeSOA)
	signed.Response, signed.Authoritative = true, true
	for _, l := range []string{
		"example.test. 300 IN SOA ns1.example.test. h.example.test. 7 7200 3600 1209600 300",
		"example.test. 300 IN RRSIG SOA 13 2 600 20261205000000 20261101000000 4711 example.test. dGVzdA==",
		"example.test. 300 IN RRSIG SOA 13 2 300 19700101000010 21060207062815 4712 example.test. dGVzdA==",
	} {
		rr, err := dns.NewRR(l)
		if err != nil {
			f.Fatal(err)
		}
		signed.Answer = append(signed.Answer, rr)
	}
	if raw, err := signed.Pack(); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Take the ID and question from the packet itself, so that the
		// fuzzer gets past the ID and question checks into the sections.
		var id uint16
		if len(raw) >= 2 {
			id = binary.BigEndian.Uint16(raw)
		}
		rq := request{name: "www.example.test.", qtype: dns.TypeA}
		if m := new(dns.Msg); m.Unpack(raw) == nil && len(m.Question) > 0 {
			rq.name, rq.qtype = m.Question[0].Name, m.Question[0].Qtype
		}
		for _, udp := range []bool{true, false} {
			for _, kind := range []model.ServerKind{model.KindAuthoritative, model.KindResolver} {
				msg, class, detail := decode(raw, id, rq, udp)
				if (class == model.ErrNone) != (msg != nil) {
					t.Fatalf("class %q with msg %v", class, msg != nil)
				}
				if class != model.ErrNone && detail == "" {
					t.Fatal("error without detail")
				}
				o := model.Observation{Time: time.Unix(1764650000, 0), Server: model.Server{Kind: kind}, Name: rq.name, Type: typeName(rq.qtype)}
				fillObservation(&o, result{msg: msg, class: class, detail: detail}, rq.qtype)
				checkObservation(t, o)

				// A wrong ID must always be malformed.
				if _, c, _ := decode(raw, id+1, rq, udp); c != model.ErrMalformed {
					t.Fatalf("wrong ID gave %q", c)
				}
			}
		}
	})
}

func checkObservation(t *testing.T, o model.Observation) {
	t.Helper()
	if o.Error == model.ErrNone && o.Rcode == "" {
		t.Fatal("no error and no rcode")
	}
	if o.Error != model.ErrNone && len(o.Answers) > 0 {
		t.Fatalf("answers %q with error %q", o.Answers, o.Error)
	}
	if !slices.IsSorted(o.Answers) {
		t.Fatalf("answers not sorted: %q", o.Answers)
	}
	for _, a := range o.Answers {
		owner, _, _ := strings.Cut(a, " ")
		if owner != strings.ToLower(owner) {
			t.Fatalf("owner not lower-cased in %q", a)
		}
	}
	if o.SOASerial != nil && (o.Server.Kind != model.KindAuthoritative || o.Type != "SOA") {
		t.Fatalf("SOA serial for %s %s", o.Server.Kind, o.Type)
	}
	if o.MinTTL != 0 && len(o.Answers) == 0 && !o.Signed {
		t.Fatalf("MinTTL %d without answers", o.MinTTL)
	}
	if wantSig := o.Signed && o.Server.Kind == model.KindAuthoritative; wantSig != (o.RRSIG != nil) {
		t.Fatalf("RRSIG summary %v for a %s answer signed=%v", o.RRSIG, o.Server.Kind, o.Signed)
	}
	if v := o.RRSIG; v != nil {
		if v.TTL < o.MinTTL {
			t.Fatalf("longest signed TTL %d below the smallest TTL %d", v.TTL, o.MinTTL)
		}
		// Serial arithmetic keeps every RRSIG time within 2^31 s of the answer.
		for _, x := range []time.Time{v.Expiration, v.Inception} {
			if d := x.Sub(o.Time); d > 1<<31*time.Second || d < -(1<<31)*time.Second {
				t.Fatalf("RRSIG time %v is %v from the answer", x, d)
			}
		}
	}
}
