package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Faults that make a name stop existing: the delegation removed at the
// parent (a lapsed or suspended domain) and records deleted at the
// authoritative servers (a bad zone push). Each re-signs the changed zone as
// the lab signs it, reloads its NSD and waits until it serves the new
// serial; resolver caches are left alone (they expire on their own).

// RemoveDelegation removes zone's delegation from test.: its NS, DS and
// glue records, as a registry deleting the domain does.
func (d *DNS) RemoveDelegation(zone string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, _ = d.child(zone)
	err := d.editTLD(func(rrs []string) []string {
		return slices.DeleteFunc(rrs, func(rr string) bool {
			owner, _, _ := strings.Cut(rr, " ")
			return dns.IsSubDomain(zone, owner)
		})
	})
	if err != nil {
		d.t.Fatalf("lab: remove the delegation of %s: %v", zone, err)
	}
	d.t.Logf("lab: test. no longer delegates %s", zone)
}

// RestoreDelegation puts zone's delegation (NS, glue, DS) back into test.
func (d *DNS) RestoreDelegation(zone string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	info := d.Zones[zone]
	err := d.editTLD(func(rrs []string) []string {
		for _, ns := range info.NS {
			rrs = append(rrs, zone+" NS "+ns.Host, ns.Host+" A "+ns.Addr.String())
		}
		return append(rrs, zone+" DS "+c.dsKey.ds)
	})
	if err != nil {
		d.t.Fatalf("lab: restore the delegation of %s: %v", zone, err)
	}
}

// DeleteRecords deletes every record of owner and type from zone and
// returns them ("<owner> <type> <rdata>") for AddRecords.
func (d *DNS) DeleteRecords(zone, owner, typ string) []string {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	owner = canonical(owner)
	var removed []string
	c.file.rrs = slices.DeleteFunc(c.file.rrs, func(rr string) bool {
		f := strings.Fields(rr)
		if len(f) >= 2 && strings.EqualFold(f[0], owner) && strings.EqualFold(f[1], typ) {
			removed = append(removed, rr)
			return true
		}
		return false
	})
	if len(removed) == 0 {
		d.t.Fatalf("lab: %s has no %s %s record", zone, owner, typ)
	}
	if err := d.publishChild(zone, c); err != nil {
		d.t.Fatalf("lab: delete %s %s from %s: %v", owner, typ, zone, err)
	}
	d.t.Logf("lab: deleted %s from %s (serial %d)", strings.Join(removed, "; "), zone, c.file.serial)
	return removed
}

// AddRecords adds records ("<owner> <type> <rdata>", owners absolute) to
// zone.
func (d *DNS) AddRecords(zone string, rrs ...string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	c.file.rrs = append(c.file.rrs, rrs...)
	if err := d.publishChild(zone, c); err != nil {
		d.t.Fatalf("lab: add records to %s: %v", zone, err)
	}
}

// publishChild signs a child zone's file under a new serial with the key
// it is signed with now, reloads it and waits until every nameserver
// serves the new serial. Unlike resign, resolver caches are left alone.
func (d *DNS) publishChild(zone string, c *childZone) error {
	c.file.serial++
	if err := c.file.sign(d.zonesDir, zoneFileName(zone), c.served); err != nil {
		return err
	}
	if d.auth.d == nil || d.auth.d.exited() != nil {
		return nil // stopped: StartAuth serves the new file
	}
	ctx, cancel := opContext()
	defer cancel()
	if err := d.auth.reload(zone); err != nil {
		return err
	}
	for _, a := range d.auth.addrs {
		if err := d.waitSerial(ctx, d.auth, hostPort(a), zone, c.file.serial); err != nil {
			return err
		}
	}
	return nil
}

// editTLD reads test.'s zone as built, lets edit change its records, signs
// it under a new serial with its key, reloads the TLD's NSD and waits until
// it serves the new serial.
func (d *DNS) editTLD(edit func(rrs []string) []string) error {
	z, err := readZoneFile(filepath.Join(d.zonesDir, zoneFileName("test.")))
	if err != nil {
		return err
	}
	keys, err := filepath.Glob(filepath.Join(d.keysDir, "Ktest.+*.key"))
	if err != nil || len(keys) != 1 {
		return fmt.Errorf("the key of test.: %v %v", keys, err)
	}
	z.rrs = edit(z.rrs)
	z.serial++
	if err := z.sign(d.zonesDir, zoneFileName("test."), dnskey{base: strings.TrimSuffix(keys[0], ".key")}); err != nil {
		return err
	}
	ctx, cancel := opContext()
	defer cancel()
	if err := d.tld.reload("test."); err != nil {
		return err
	}
	return d.waitSerial(ctx, d.tld, d.TLDAddr, "test.", z.serial)
}

// readZoneFile reads back a zone file written by zoneFile.text.
func readZoneFile(path string) (zoneFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return zoneFile{}, err
	}
	var z zoneFile
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "$ORIGIN":
			z.origin = f[1]
		case len(f) == 2 && f[0] == "$TTL":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return z, fmt.Errorf("%s:%d: %v", path, i+1, err)
			}
			z.ttl = time.Duration(n) * time.Second
		case len(f) == 9 && f[1] == "SOA":
			n, err := strconv.ParseUint(f[4], 10, 32)
			if err != nil {
				return z, fmt.Errorf("%s:%d: %v", path, i+1, err)
			}
			z.soa, z.serial = f[2], uint32(n)
		case len(f) >= 3:
			z.rrs = append(z.rrs, line)
		default:
			return z, fmt.Errorf("%s:%d: unexpected line %q", path, i+1, line)
		}
	}
	if z.origin == "" || z.soa == "" || z.ttl == 0 {
		return z, fmt.Errorf("%s: no $ORIGIN, $TTL or SOA", path)
	}
	return z, nil
}
