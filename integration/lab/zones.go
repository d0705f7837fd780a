package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// dnskey is a key made by ldns-keygen: one ECDSAP256SHA256 key with the SEP
// flag (257) that signs its whole zone (a combined signing key keeps the
// chain short and the lab fast; a KSK/ZSK split adds nothing to what the
// tests break).
type dnskey struct {
	base string // path without extension: <dir>/K<zone>+013+<tag>
	tag  uint16
	ds   string // DS rdata at the parent: "<tag> 13 2 <sha256 digest>"
}

// newKey generates a key for zone in dir and computes its SHA-256 DS.
func newKey(dir, zone string) (dnskey, error) {
	out, err := run(dir, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone)
	if err != nil {
		return dnskey{}, err
	}
	name := strings.TrimSpace(out) // K<zone>+013+<tag>
	i := strings.LastIndexByte(name, '+')
	tag, err := strconv.ParseUint(name[i+1:], 10, 16)
	if i < 0 || err != nil {
		return dnskey{}, fmt.Errorf("ldns-keygen printed %q, want K<zone>+<alg>+<tag>", out)
	}
	base := filepath.Join(dir, name)
	out, err = run(dir, "ldns-key2ds", "-n", "-2", base+".key")
	if err != nil {
		return dnskey{}, err
	}
	// "<owner> <ttl> IN DS <tag> <alg> <digest type> <digest>"
	f := strings.Fields(out)
	if len(f) != 8 || f[3] != "DS" {
		return dnskey{}, fmt.Errorf("ldns-key2ds printed %q, want one DS record", out)
	}
	return dnskey{base: base, tag: uint16(tag), ds: strings.Join(f[4:], " ")}, nil
}

// zoneFile is the unsigned content of one zone.
type zoneFile struct {
	origin string // "good.test."
	serial uint32
	ttl    time.Duration
	soa    string   // primary nameserver, for the SOA MNAME
	rrs    []string // "<owner> <type> <rdata>", owners absolute
	// inception and expiration bound the signatures; zero: from an hour
	// ago for 30 days.
	inception, expiration time.Time
}

func (z *zoneFile) add(owner, typ, rdata string) {
	z.rrs = append(z.rrs, owner+" "+typ+" "+rdata)
}

func (z *zoneFile) text() string {
	ttl := int(z.ttl / time.Second)
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL %d\n", z.origin, ttl)
	// Refresh/retry/expire don't matter (no transfers); minimum is the
	// negative TTL, kept equal to the record TTL.
	fmt.Fprintf(&b, "%s SOA %s hostmaster.nic.test. %d 3600 600 86400 %d\n",
		z.origin, z.soa, z.serial, ttl)
	for _, rr := range z.rrs {
		b.WriteString(rr)
		b.WriteByte('\n')
	}
	return b.String()
}

// sign writes the zone to <dir>/<file> and signs it with key into
// <dir>/<file>.signed, the file NSD serves. Signatures are valid from an hour
// ago (clock skew) for 30 days, unless z.inception/z.expiration say otherwise.
func (z *zoneFile) sign(dir, file string, key dnskey) error {
	unsigned := filepath.Join(dir, file)
	if err := os.WriteFile(unsigned, []byte(z.text()), 0o644); err != nil {
		return err
	}
	now := time.Now().UTC()
	inc, exp := now.Add(-time.Hour), now.Add(30*24*time.Hour)
	if !z.inception.IsZero() {
		inc = z.inception.UTC()
	}
	if !z.expiration.IsZero() {
		exp = z.expiration.UTC()
	}
	_, err := run(dir, "ldns-signzone",
		"-i", inc.Format("20060102150405"),
		"-e", exp.Format("20060102150405"),
		"-o", z.origin, "-f", unsigned+".signed", unsigned, key.base)
	return err
}
