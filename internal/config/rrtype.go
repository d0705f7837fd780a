package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// notAskable are the types miekg/dns knows that a query of reachmon's
// cannot ask for: pseudo-records (OPT, TSIG, TKEY), zone transfers (AXFR,
// IXFR, which need a transfer client), the obsolete mailbox QTYPEs and the
// reserved codes.
var notAskable = map[uint16]string{
	dns.TypeNone:     "a reserved code",
	dns.TypeReserved: "a reserved code",
	dns.TypeOPT:      "the EDNS pseudo-record",
	dns.TypeTSIG:     "a transaction signature, not a record",
	dns.TypeTKEY:     "a transaction key, not a record",
	dns.TypeAXFR:     "a zone transfer",
	dns.TypeIXFR:     "a zone transfer",
	dns.TypeMAILA:    "an obsolete mailbox query type",
	dns.TypeMAILB:    "an obsolete mailbox query type",
}

// ErrNotAskable is wrapped by RecordType's error for a type it knows that
// cannot be asked for (AXFR, OPT, ...).
var ErrNotAskable = errors.New("it cannot be asked for as a query type")

// RecordType reads a record type as a person or a config file writes it:
// any mnemonic miekg/dns knows, in any case ("MX", "tlsa", "sshfp"), or
// the RFC 3597 form "TYPE65". It returns the canonical mnemonic ("HTTPS"
// for "type65"; "TYPE65534" for a code without one) and the code. It is the
// one reader of record types: configured zone types, `reachmon probe`'s
// types and the prober's wire code all go through it. The error names the
// problem: an unknown word, or a type that cannot be asked for.
func RecordType(s string) (name string, code uint16, err error) {
	code, ok := dns.StringToType[strings.ToUpper(s)]
	if !ok && len(s) > 4 && strings.EqualFold(s[:4], "TYPE") {
		n, perr := strconv.ParseUint(s[4:], 10, 16)
		code, ok = uint16(n), perr == nil
	}
	if !ok {
		return "", 0, fmt.Errorf("%q is not a DNS record type (a mnemonic such as A, MX, TLSA, or TYPE<number>)", s)
	}
	name, ok = dns.TypeToString[code]
	if !ok {
		name = "TYPE" + strconv.Itoa(int(code))
	}
	if why, refused := notAskable[code]; refused {
		return "", 0, fmt.Errorf("%q is %s: %w", s, why, ErrNotAskable)
	}
	return name, code, nil
}

// RecordTypes lists the mnemonics RecordType accepts, sorted (shell
// completion offers them).
func RecordTypes() []string {
	var out []string
	for code, name := range dns.TypeToString {
		if _, refused := notAskable[code]; !refused {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
