package session

import (
	"math/bits"
	"net/netip"
)

// prefixSet is the exact set of prefixes a peer has announced and not
// withdrawn, watched or not, for max_prefixes and the received counts. It
// is compact: an IPv4 prefix takes 4 bytes in an open-addressing table
// (at most 3/4 full), an IPv6 prefix 16, instead of a map entry's
// buckets and a netip.Prefix (which holds a pointer).
//
// A prefix is stored as its masked address with the bit just after the
// prefix set (the lowest set bit then tells the length), so that /24 and
// /25 of the same address differ; host routes (/32, /128) have no bit
// left and live in a table of their own.
type prefixSet struct {
	v4, host4 hashSet[uint32]
	v6, host6 hashSet[[2]uint64]
}

func newPrefixSet() *prefixSet {
	return &prefixSet{
		v4: hashSet[uint32]{hash: hash32}, host4: hashSet[uint32]{hash: hash32},
		v6: hashSet[[2]uint64]{hash: hash128}, host6: hashSet[[2]uint64]{hash: hash128},
	}
}

// add inserts p (masked); it reports whether p was new.
func (s *prefixSet) add(p netip.Prefix) bool {
	set4, k4, set6, k6 := s.key(p)
	if set4 != nil {
		return set4.add(k4)
	}
	if set6 != nil {
		return set6.add(k6)
	}
	return false
}

// remove deletes p; it reports whether p was there.
func (s *prefixSet) remove(p netip.Prefix) bool {
	set4, k4, set6, k6 := s.key(p)
	if set4 != nil {
		return set4.remove(k4)
	}
	if set6 != nil {
		return set6.remove(k6)
	}
	return false
}

func (s *prefixSet) has(p netip.Prefix) bool {
	set4, k4, set6, k6 := s.key(p)
	if set4 != nil {
		return set4.has(k4)
	}
	if set6 != nil {
		return set6.has(k6)
	}
	return false
}

// len4 and len6 count the prefixes of each family.
func (s *prefixSet) len4() int { return s.v4.n + s.host4.n }
func (s *prefixSet) len6() int { return s.v6.n + s.host6.n }

// count is len4 or len6 for family 4 or 6.
func (s *prefixSet) count(family int) int {
	if family == 6 {
		return s.len6()
	}
	return s.len4()
}

func (s *prefixSet) key(p netip.Prefix) (*hashSet[uint32], uint32, *hashSet[[2]uint64], [2]uint64) {
	if !p.IsValid() {
		return nil, 0, nil, [2]uint64{}
	}
	l := p.Bits()
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		k := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if l == 32 {
			return &s.host4, k, nil, [2]uint64{}
		}
		return &s.v4, k | 1<<(31-l), nil, [2]uint64{}
	}
	b := a.As16()
	var k [2]uint64
	for i := range 8 {
		k[0] = k[0]<<8 | uint64(b[i])
		k[1] = k[1]<<8 | uint64(b[8+i])
	}
	switch {
	case l == 128:
		return nil, 0, &s.host6, k
	case l < 64:
		k[0] |= 1 << (63 - l)
	default:
		k[1] |= 1 << (127 - l)
	}
	return nil, 0, &s.v6, k
}

func hash32(k uint32) uint64 { return uint64(k) * 0x9E3779B97F4A7C15 }

func hash128(k [2]uint64) uint64 {
	x := k[0]*0x9E3779B97F4A7C15 ^ bits.RotateLeft64(k[1]*0xC2B2AE3D27D4EB4F, 31)
	x ^= x >> 29
	return x * 0x94D049BB133111EB
}

// hashSet is an open-addressing set with linear probing and
// backward-shift deletion; used marks the occupied slots (one bit each),
// so every key value, zero included, is storable. The slot is the top
// bits of hash.
type hashSet[K comparable] struct {
	keys  []K
	used  []uint64
	n     int
	shift uint
	hash  func(K) uint64
}

const minSlots = 16

func (s *hashSet[K]) slot(k K) int { return int(s.hash(k) >> s.shift) }

func (s *hashSet[K]) isUsed(i int) bool { return s.used[i>>6]&(1<<(i&63)) != 0 }

func (s *hashSet[K]) alloc(slots int) {
	s.keys = make([]K, slots)
	s.used = make([]uint64, (slots+63)/64)
	s.shift = uint(64 - bits.TrailingZeros(uint(slots)))
	s.n = 0
}

func (s *hashSet[K]) has(k K) bool {
	if s.n == 0 {
		return false
	}
	mask := len(s.keys) - 1
	for i := s.slot(k); s.isUsed(i); i = (i + 1) & mask {
		if s.keys[i] == k {
			return true
		}
	}
	return false
}

func (s *hashSet[K]) add(k K) bool {
	if s.keys == nil {
		s.alloc(minSlots)
	}
	if (s.n+1)*4 > len(s.keys)*3 {
		s.grow()
	}
	mask := len(s.keys) - 1
	i := s.slot(k)
	for ; s.isUsed(i); i = (i + 1) & mask {
		if s.keys[i] == k {
			return false
		}
	}
	s.keys[i] = k
	s.used[i>>6] |= 1 << (i & 63)
	s.n++
	return true
}

func (s *hashSet[K]) grow() {
	oldKeys, oldUsed := s.keys, s.used
	s.alloc(2 * len(oldKeys))
	mask := len(s.keys) - 1
	for i, k := range oldKeys {
		if oldUsed[i>>6]&(1<<(i&63)) == 0 {
			continue
		}
		j := s.slot(k)
		for s.isUsed(j) {
			j = (j + 1) & mask
		}
		s.keys[j] = k
		s.used[j>>6] |= 1 << (j & 63)
		s.n++
	}
}

func (s *hashSet[K]) remove(k K) bool {
	if s.n == 0 {
		return false
	}
	mask := len(s.keys) - 1
	i := s.slot(k)
	for ; ; i = (i + 1) & mask {
		if !s.isUsed(i) {
			return false
		}
		if s.keys[i] == k {
			break
		}
	}
	// Backward shift: move later entries of the probe run into the hole
	// when the hole lies between their home slot and where they are.
	for j := (i + 1) & mask; s.isUsed(j); j = (j + 1) & mask {
		h := s.slot(s.keys[j])
		if (j-h)&mask >= (j-i)&mask {
			s.keys[i] = s.keys[j]
			i = j
		}
	}
	var zero K
	s.keys[i] = zero
	s.used[i>>6] &^= 1 << (i & 63)
	s.n--
	return true
}
