package policy

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// A strict DER reader with the rules of rust-asn1, the parser under Python's `cryptography`:
// definite minimal lengths, minimal tags, no trailing data, BOOLEAN 00/FF, minimal INTEGERs,
// zero unused bits in a BIT STRING and SET OF elements in DER order. encoding/asn1 accepts
// some of what rust-asn1 refuses (OIDs it cannot hold, unsorted SETs), so the policy reads
// the request with this instead, to refuse exactly what the Python policy refuses.

// DER tags of the universal and context-specific elements the policy reads.
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagBitString   = 0x03
	tagOctetString = 0x04
	tagNull        = 0x05
	tagOID         = 0x06
	tagSequence    = 0x30
	tagSet         = 0x31
	tagContext     = 0x80 // primitive [n] is tagContext|n
	tagConstructed = 0xa0 // constructed [n] is tagConstructed|n
)

var errDER = errors.New("malformed DER")

// element is one TLV: its identifier octets, its contents and all of its bytes.
type element struct {
	tag  []byte
	body []byte
	full []byte
}

// is reports whether the element's tag is the single identifier octet t.
func (e element) is(t byte) bool { return len(e.tag) == 1 && e.tag[0] == t }

// universal is the tag number of a primitive universal element, or -1.
func (e element) universal() int {
	if len(e.tag) != 1 || e.tag[0]&0xe0 != 0 {
		return -1
	}
	return int(e.tag[0] & 0x1f)
}

type reader struct{ data []byte }

func (r *reader) empty() bool { return len(r.data) == 0 }

// next reads one element.
func (r *reader) next() (element, error) {
	data := r.data
	if len(data) < 2 {
		return element{}, errDER
	}
	tagLength := 1
	if data[0]&0x1f == 0x1f {
		// High tag number: base 128, minimal, at least 31.
		if data[1] == 0x80 {
			return element{}, errDER
		}
		number := uint64(0)
		for {
			if tagLength >= len(data) || number > 1<<56 {
				return element{}, errDER
			}
			b := data[tagLength]
			tagLength++
			number = number<<7 | uint64(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
		if number < 0x1f {
			return element{}, errDER
		}
	}
	if tagLength >= len(data) {
		return element{}, errDER
	}
	length, header := int(data[tagLength]), tagLength+1
	if length >= 0x80 {
		count := length & 0x7f
		if count == 0 || count > 4 || header+count > len(data) || data[header] == 0 {
			return element{}, errDER
		}
		length = 0
		for _, b := range data[header : header+count] {
			length = length<<8 | int(b)
		}
		header += count
		if length < 0x80 {
			return element{}, errDER
		}
	}
	if length > len(data)-header {
		return element{}, errDER
	}
	e := element{tag: data[:tagLength], body: data[header : header+length], full: data[:header+length]}
	r.data = data[header+length:]
	return e, nil
}

// read reads one element that must have tag t, and returns its contents.
func (r *reader) read(t byte) ([]byte, error) {
	e, err := r.next()
	if err != nil {
		return nil, err
	}
	if !e.is(t) {
		return nil, errDER
	}
	return e.body, nil
}

// optional reads the next element if it has tag t.
func (r *reader) optional(t byte) ([]byte, bool, error) {
	if r.empty() || r.data[0] != t {
		return nil, false, nil
	}
	body, err := r.read(t)
	return body, err == nil, err
}

// end fails unless everything was read.
func (r *reader) end() error {
	if !r.empty() {
		return errDER
	}
	return nil
}

// single is the contents of data when data is exactly one element with tag t.
func single(data []byte, t byte) ([]byte, error) {
	r := reader{data}
	body, err := r.read(t)
	if err != nil {
		return nil, err
	}
	return body, r.end()
}

// elements reads every element of contents, in order.
func elements(contents []byte) ([]element, error) {
	r := reader{contents}
	var out []element
	for !r.empty() {
		e, err := r.next()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// setOf reads the elements of a SET OF, which DER sorts by their encodings.
func setOf(contents []byte) ([]element, error) {
	items, err := elements(contents)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(items); i++ {
		if bytes.Compare(items[i].full, items[i-1].full) < 0 {
			return nil, fmt.Errorf("%w: SET OF out of order", errDER)
		}
	}
	return items, nil
}

// parseBool is a DER BOOLEAN's value.
func parseBool(body []byte) (bool, error) {
	if len(body) != 1 || (body[0] != 0 && body[0] != 0xff) {
		return false, errDER
	}
	return body[0] == 0xff, nil
}

// parseBigInt is a DER INTEGER's value; INTEGERs are minimal.
func parseBigInt(body []byte) (*big.Int, error) {
	if len(body) == 0 || len(body) > 1 && (body[0] == 0 && body[1] < 0x80 || body[0] == 0xff && body[1] >= 0x80) {
		return nil, errDER
	}
	n := new(big.Int).SetBytes(body)
	if body[0] >= 0x80 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(body))))
	}
	return n, nil
}

// parseUint is a non-negative DER INTEGER that fits in bits bits.
func parseUint(body []byte, bits int) (uint64, error) {
	n, err := parseBigInt(body)
	if err != nil || n.Sign() < 0 || n.BitLen() > bits {
		return 0, errDER
	}
	return n.Uint64(), nil
}

// parseBigUint is a positive-or-zero DER INTEGER as rust-asn1's BigUint reads it.
func parseBigUint(body []byte) (*big.Int, error) {
	n, err := parseBigInt(body)
	if err != nil || n.Sign() < 0 {
		return nil, errDER
	}
	return n, nil
}

// parseBitString is a BIT STRING's bytes, unused bits included (they must be zero).
func parseBitString(body []byte) ([]byte, error) {
	if len(body) == 0 || body[0] > 7 || len(body) == 1 && body[0] != 0 {
		return nil, errDER
	}
	data := body[1:]
	if len(data) > 0 && data[len(data)-1]&(1<<body[0]-1) != 0 {
		return nil, errDER
	}
	return data, nil
}

// oid is an OBJECT IDENTIFIER, kept as its DER contents: rust-asn1 holds up to 63 octets of
// arcs of up to 128 bits, more than encoding/asn1 can.
type oid string

// parseOID validates the contents of an OBJECT IDENTIFIER.
func parseOID(body []byte) (oid, error) {
	if len(body) == 0 || len(body) > 63 {
		return "", errDER
	}
	start := 0
	for i, b := range body {
		if i == start && b == 0x80 {
			return "", errDER
		}
		if b&0x80 == 0 {
			if i-start >= 19 || i-start == 18 && body[start]&0x7f > 3 {
				return "", errDER // above 128 bits
			}
			start = i + 1
		}
	}
	if start != len(body) {
		return "", errDER
	}
	return oid(body), nil
}

// readOID reads an OBJECT IDENTIFIER element.
func (r *reader) readOID() (oid, error) {
	body, err := r.read(tagOID)
	if err != nil {
		return "", err
	}
	return parseOID(body)
}

// String is the dotted form, as cryptography's ObjectIdentifier.dotted_string.
func (o oid) String() string {
	var arcs []string
	value := new(big.Int)
	first := true
	for i := 0; i < len(o); i++ {
		value.Lsh(value, 7)
		value.Or(value, big.NewInt(int64(o[i]&0x7f)))
		if o[i]&0x80 != 0 {
			continue
		}
		if first {
			switch {
			case value.Cmp(big.NewInt(40)) < 0:
				arcs = append(arcs, "0", value.String())
			case value.Cmp(big.NewInt(80)) < 0:
				arcs = append(arcs, "1", new(big.Int).Sub(value, big.NewInt(40)).String())
			default:
				arcs = append(arcs, "2", new(big.Int).Sub(value, big.NewInt(80)).String())
			}
			first = false
		} else {
			arcs = append(arcs, value.String())
		}
		value = new(big.Int)
	}
	return strings.Join(arcs, ".")
}

// mustOID is the DER contents of a dotted OID written in this package's tables.
func mustOID(dotted string) oid {
	var arcs []*big.Int
	for _, part := range strings.Split(dotted, ".") {
		n, ok := new(big.Int).SetString(part, 10)
		if !ok {
			panic("bad OID " + dotted)
		}
		arcs = append(arcs, n)
	}
	first := new(big.Int).Mul(arcs[0], big.NewInt(40))
	arcs = append([]*big.Int{first.Add(first, arcs[1])}, arcs[2:]...)
	var out []byte
	for _, arc := range arcs {
		var chunk []byte
		n := new(big.Int).Set(arc)
		for {
			chunk = append([]byte{byte(new(big.Int).And(n, big.NewInt(0x7f)).Int64()) | 0x80}, chunk...)
			n.Rsh(n, 7)
			if n.Sign() == 0 {
				break
			}
		}
		chunk[len(chunk)-1] &^= 0x80
		out = append(out, chunk...)
	}
	return oid(out)
}
