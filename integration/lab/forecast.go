package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Faults for the forecast scenarios (issue 12): signatures close to expiry
// and a lame delegation.

// ResignValidity re-signs zone with the key it is signed with now, its
// signatures valid from inception to expiration (zero: the defaults, from
// an hour ago for 30 days), under a new serial; it waits until both
// nameservers serve it and flushes the zone from the resolvers.
func (d *DNS) ResignValidity(zone string, inception, expiration time.Time) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	c.file.inception, c.file.expiration = inception, expiration
	if err := d.resign(zone, c, c.served); err != nil {
		d.t.Fatalf("lab: re-sign %s: %v", zone, err)
	}
	if expiration.IsZero() {
		d.t.Logf("lab: %s re-signed with the default validity (serial %d)", zone, c.file.serial)
		return
	}
	d.t.Logf("lab: %s re-signed, signatures valid %s to %s UTC (serial %d)", zone,
		inception.UTC().Format("15:04:05"), expiration.UTC().Format("15:04:05"), c.file.serial)
}

// AddLameNS makes zone's delegation lame: it starts an NSD serving no zone
// (it answers REFUSED) on the address of the next unused zone slot of the
// plan, and adds "ns3.<zone>" with that address as glue to the zone's NS
// set in test. (re-signed, reloaded, served before it returns). The zone's
// own NS set still lists ns1 and ns2 only. The NSD runs until the test
// ends; RemoveLameNS undoes the delegation.
func (d *DNS) AddLameNS(zone string) NameServer {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, _ = d.child(zone)
	i := len(d.ZoneNames)
	if i >= MaxZones {
		d.t.Fatalf("lab: AddLameNS needs a free zone slot; the lab has %d zones", i)
	}
	ns := NameServer{Host: "ns3." + zone, Addr: d.Plan.NS(i, 0), Prefix: d.Plan.NSPrefix(i, 0)}
	n, err := newNSD(filepath.Join(d.Dir, "nsd-lame"), "lame", []netip.Addr{ns.Addr}, nil)
	if err != nil {
		d.t.Fatalf("lab: lame server: %v", err)
	}
	if err := n.start(); err != nil {
		d.t.Fatalf("lab: lame server: %v", err)
	}
	d.t.Cleanup(func() {
		if err := n.stop(); err != nil {
			d.t.Errorf("lab: stop the lame server: %v", err)
		}
	})
	ctx, cancel := opContext()
	defer cancel()
	if err := d.poll(ctx, "the lame server answering REFUSED", func(ctx context.Context) error {
		r, err := Query(ctx, hostPort(ns.Addr), zone, dns.TypeSOA, QueryFlags{})
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeRefused {
			return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		return nil
	}); err != nil {
		d.t.Fatalf("lab: %v", err)
	}
	d.tldFile.add(zone, "NS", ns.Host)
	d.tldFile.add(ns.Host, "A", ns.Addr.String())
	if err := d.resignTLD(zone); err != nil {
		d.t.Fatalf("lab: add %s to the delegation of %s: %v", ns.Host, zone, err)
	}
	d.t.Logf("lab: test. delegates %s to %s (%s) too, which answers REFUSED", zone, ns.Host, ns.Addr)
	return ns
}

// RemoveLameNS takes ns3.<zone> out of zone's delegation in test. again.
func (d *DNS) RemoveLameNS(zone string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, _ = d.child(zone)
	host := "ns3." + zone
	before := len(d.tldFile.rrs)
	d.tldFile.rrs = slices.DeleteFunc(d.tldFile.rrs, func(rr string) bool {
		return rr == zone+" NS "+host || strings.HasPrefix(rr, host+" A ")
	})
	if len(d.tldFile.rrs) == before {
		d.t.Fatalf("lab: %s is not in the delegation of %s", host, zone)
	}
	if err := d.resignTLD(zone); err != nil {
		d.t.Fatalf("lab: remove %s from the delegation of %s: %v", host, zone, err)
	}
	d.t.Logf("lab: test. delegates %s to ns1 and ns2 only again", zone)
}

// resignTLD signs test. under a new serial, reloads it, waits until it is
// served and flushes zone (the delegation that changed) from the resolvers.
func (d *DNS) resignTLD(zone string) error {
	d.tldFile.serial++
	if err := d.tldFile.sign(d.zonesDir, zoneFileName("test."), d.tldKey); err != nil {
		return err
	}
	if err := d.tld.reload("test."); err != nil {
		return err
	}
	ctx, cancel := opContext()
	defer cancel()
	if err := d.waitSerial(ctx, d.tld, hostPort(d.Plan.TLD()), "test.", d.tldFile.serial); err != nil {
		return err
	}
	return d.flush(zone, "flush_requestlist", "flush_negative", "flush_infra all")
}
