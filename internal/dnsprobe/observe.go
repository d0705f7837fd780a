package dnsprobe

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// decode parses raw as the answer to rq sent with ID id. It returns the
// message, or ErrMalformed with a reason: too short, wrong ID, not a
// response, unparsable, or an answer to another question. Over UDP a
// truncated (TC=1) message that does not parse completely is still
// returned, so that the caller retries over TCP.
func decode(raw []byte, id uint16, rq request, udp bool) (*dns.Msg, model.ErrorClass, string) {
	if len(raw) < 12 {
		return nil, model.ErrMalformed, "response of " + strconv.Itoa(len(raw)) + " bytes is shorter than a DNS header"
	}
	if got := binary.BigEndian.Uint16(raw); got != id {
		return nil, model.ErrMalformed, "response ID " + strconv.Itoa(int(got)) + " does not match query ID " + strconv.Itoa(int(id))
	}
	if raw[2]&0x80 == 0 {
		return nil, model.ErrMalformed, "packet is a query, not a response (QR=0)"
	}
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		if udp && m.Truncated {
			return m, model.ErrNone, ""
		}
		return nil, model.ErrMalformed, "cannot parse response: " + err.Error()
	}
	switch {
	case len(m.Question) == 0:
		// Some servers strip the question from error responses.
		if m.Rcode == dns.RcodeSuccess && !m.Truncated {
			return nil, model.ErrMalformed, "NOERROR response without a question section"
		}
	case len(m.Question) > 1:
		return nil, model.ErrMalformed, "response has " + strconv.Itoa(len(m.Question)) + " questions"
	default:
		q := m.Question[0]
		if q.Qtype != rq.qtype || q.Qclass != dns.ClassINET || !strings.EqualFold(q.Name, rq.name) {
			return nil, model.ErrMalformed, "response is for " + q.Name + " " + typeName(q.Qtype) +
				", not for the question asked (" + rq.name + " " + typeName(rq.qtype) + ")"
		}
	}
	return m, model.ErrNone, ""
}

// fillObservation copies the outcome of an exchange into o.
func fillObservation(o *model.Observation, res result, qtype uint16) {
	o.Latency = res.latency
	o.TCPFallback = res.tcpFallback
	o.Error = res.class
	o.ErrorDetail = res.detail
	m := res.msg
	if m == nil {
		return
	}
	o.Rcode = rcodeName(m.Rcode)
	o.AA = m.Authoritative
	o.AD = m.AuthenticatedData
	o.TC = m.Truncated
	o.RA = m.RecursionAvailable
	if opt := m.IsEdns0(); opt != nil {
		for _, e := range opt.Option {
			switch e := e.(type) {
			case *dns.EDNS0_EDE:
				o.EDE = append(o.EDE, model.EDE{Code: e.InfoCode, Name: edeName(e.InfoCode), Text: strings.ToValidUTF8(e.ExtraText, "\uFFFD")})
			case *dns.EDNS0_NSID:
				o.NSID = nsidText(e.Nsid)
			}
		}
	}
	if res.class != model.ErrNone {
		return
	}
	soa := qtype == dns.TypeSOA && o.Server.Kind == model.KindAuthoritative
	first := true
	var answers []string
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		if first || h.Ttl < o.MinTTL {
			o.MinTTL, first = h.Ttl, false
		}
		if h.Rrtype == dns.TypeRRSIG {
			o.Signed = true
			continue
		}
		if s, ok := rr.(*dns.SOA); ok && soa && o.SOASerial == nil && strings.EqualFold(h.Name, dns.Fqdn(o.Name)) {
			serial := s.Serial
			o.SOASerial = &serial
		}
		if answers == nil {
			answers = make([]string, 0, len(m.Answer))
		}
		answers = append(answers, normalise(rr))
	}
	slices.Sort(answers)
	o.Answers = answers
	if o.Server.Kind == model.KindAuthoritative {
		o.RRSIG = sigValidity(m.Answer, o.Time)
	}
}

// normalise renders rr as "owner CLASS TYPE rdata": owner lower-cased, no
// TTL. It modifies rr's header.
func normalise(rr dns.RR) string {
	h := rr.Header()
	h.Name = strings.ToLower(h.Name)
	h.Ttl = 0
	s := rr.String() // owner \t 0 \t CLASS \t TYPE \t rdata
	i := strings.IndexByte(s, '\t')
	if i < 0 || !strings.HasPrefix(s[i:], "\t0\t") {
		return s
	}
	owner, rest := s[:i], s[i+3:]
	j := strings.IndexByte(rest, '\t')
	if j < 0 {
		return s
	}
	class, rest := rest[:j], rest[j+1:]
	typ, rdata, _ := strings.Cut(rest, "\t")
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(owner)
	b.WriteByte(' ')
	b.WriteString(class)
	b.WriteByte(' ')
	b.WriteString(typ)
	if rdata != "" {
		b.WriteByte(' ')
		b.WriteString(rdata)
	}
	return b.String()
}

// cdRetry summarises the CD=1 retry after a validating resolver's SERVFAIL.
func cdRetry(res result) *model.CDRetry {
	r := &model.CDRetry{Error: res.class, Latency: res.latency}
	if res.msg == nil {
		return r
	}
	r.Rcode = rcodeName(res.msg.Rcode)
	if res.class != model.ErrNone {
		return r
	}
	for _, rr := range res.msg.Answer {
		if t := rr.Header().Rrtype; t != dns.TypeRRSIG && t != dns.TypeOPT {
			r.Answers++
		}
	}
	r.Succeeded = res.msg.Rcode == dns.RcodeSuccess || res.msg.Rcode == dns.RcodeNameError
	return r
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// edeName is the IANA name of an Extended DNS Error code.
func edeName(code uint16) string {
	if s, ok := dns.ExtendedErrorCodeToString[code]; ok {
		return s
	}
	if code >= 49152 {
		return "Private Use"
	}
	return "Unassigned"
}

// nsidText turns the NSID option's hex payload into printable text, or
// returns the hex when the payload is not printable ASCII.
func nsidText(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return h
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return h
		}
	}
	return string(b)
}
