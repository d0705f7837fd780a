// Package rpki gives reachmon the ROAs it validates watched routes
// against (RFC 6811): from RTR servers through GoBGP's RTR client (the
// only part of the package that sees GoBGP types: gobgp.go) and from a
// VRP JSON file as rpki-client, Routinator and stayrtr write it. Of the
// VRPs it receives it keeps only those overlapping a watched prefix or
// address (Watch) and hands them to the evaluator as model.RPKIEvent
// whenever that set changes.
package rpki

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/reachmon/reachmon/internal/model"
)

// MaxVRPs bounds the entries of one VRP file (the global set is about
// 700,000 in 2026).
const MaxVRPs = 20_000_000

// DecodeError is a problem in a VRP file: what, and where.
type DecodeError struct {
	// Index is the entry of "roas" at fault (-1: not inside an entry).
	Index int
	// Field is the key of the entry at fault ("prefix"), if one.
	Field string
	// Offset is the byte offset in the input where decoding stopped.
	Offset int64
	Err    error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "roas[%d]", e.Index)
		if e.Field != "" {
			b.WriteString("." + e.Field)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	fmt.Fprintf(&b, " (byte %d)", e.Offset)
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// entry is one element of "roas". asn is a number (rpki-client) or a
// string "AS64500" (Routinator, stayrtr).
type entry struct {
	Prefix    *string         `json:"prefix"`
	MaxLength *int            `json:"maxLength"`
	ASN       json.RawMessage `json:"asn"`
}

// DecodeVRPs reads a VRP JSON document ({"roas": [{"prefix":
// "198.51.100.0/24", "maxLength": 24, "asn": "AS64500"}, ...]}; other
// keys, and other keys of an entry such as "ta" and "expires", are
// ignored) and calls fn with each VRP in order. It returns the number of
// VRPs; the first problem stops it with a *DecodeError naming the entry,
// the key and the byte offset (fn has been called for the entries
// before it).
func DecodeVRPs(r io.Reader, fn func(model.VRP)) (int, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	fail := func(i int, field string, err error) (int, error) {
		return 0, &DecodeError{Index: i, Field: field, Offset: dec.InputOffset(), Err: err}
	}
	if err := expectDelim(dec, '{'); err != nil {
		return fail(-1, "", fmt.Errorf("not a JSON object: %w", err))
	}
	n, found := 0, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(-1, "", err)
		}
		key, _ := tok.(string)
		if key != "roas" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail(-1, "", fmt.Errorf("value of %q: %w", key, err))
			}
			continue
		}
		if found {
			return fail(-1, "", errors.New(`"roas" appears twice`))
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return fail(-1, "", fmt.Errorf(`"roas" is not an array: %w`, err))
		}
		for i := 0; dec.More(); i++ {
			if n >= MaxVRPs {
				return fail(i, "", fmt.Errorf("more than %d entries", MaxVRPs))
			}
			var e entry
			if err := dec.Decode(&e); err != nil {
				return fail(i, "", err)
			}
			v, field, err := e.vrp()
			if err != nil {
				return fail(i, field, err)
			}
			fn(v)
			n++
		}
		if err := expectDelim(dec, ']'); err != nil {
			return fail(-1, "", err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return fail(-1, "", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(-1, "", errors.New("data after the JSON object"))
	}
	if !found {
		return fail(-1, "", errors.New(`no "roas" array (the rpki-client / Routinator JSON format has one)`))
	}
	return n, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("unexpected end of input, want %q", string(want))
		}
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %v, want %q", tok, string(want))
	}
	return nil
}

// vrp checks an entry; on error it names the key at fault.
func (e entry) vrp() (model.VRP, string, error) {
	if e.Prefix == nil {
		return model.VRP{}, "prefix", errors.New("missing")
	}
	p, err := netip.ParsePrefix(*e.Prefix)
	if err != nil {
		return model.VRP{}, "prefix", fmt.Errorf("%q is not a prefix", *e.Prefix)
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return model.VRP{}, "prefix", fmt.Errorf("%q is not a plain IPv4 or IPv6 prefix", *e.Prefix)
	}
	if p.Masked() != p {
		return model.VRP{}, "prefix", fmt.Errorf("%q has host bits set (%s)", *e.Prefix, p.Masked())
	}
	if e.MaxLength == nil {
		return model.VRP{}, "maxLength", errors.New("missing")
	}
	ml := *e.MaxLength
	if ml < p.Bits() || ml > p.Addr().BitLen() {
		return model.VRP{}, "maxLength", fmt.Errorf("%d is outside %d..%d for %s", ml, p.Bits(), p.Addr().BitLen(), p)
	}
	asn, err := parseASN(e.ASN)
	if err != nil {
		return model.VRP{}, "asn", err
	}
	return model.VRP{Prefix: p, MaxLength: uint8(ml), ASN: asn}, "", nil
}

// parseASN reads 64500, "AS64500" or "64500".
func parseASN(raw json.RawMessage) (uint32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, errors.New("missing")
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
			s = s[2:]
		}
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%s is not an AS number", raw)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not an AS number (0..4294967295)", raw)
	}
	return uint32(n), nil
}

// lineOf returns the 1-based line and column of byte offset off in r.
func lineOf(r io.Reader, off int64) (line, col int) {
	line, col = 1, 1
	br := bufio.NewReader(io.LimitReader(r, off))
	for {
		b, err := br.ReadByte()
		if err != nil {
			return line, col
		}
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
}
