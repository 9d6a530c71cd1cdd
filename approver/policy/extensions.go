package policy

import (
	"errors"
	"math/bits"
	"net/netip"
	"unicode/utf8"
)

// The request's extensions as cryptography's `request.extensions` reads them: from the first
// extensionRequest attribute (PKCS#9, or Microsoft's), a duplicate OID refused before any
// value is parsed, then each value of an extension cryptography knows parsed, in order.
// Go's x509 merges every extensionRequest, keeps duplicates and drops the SAN entries it has
// no field for; this reads the raw attribute instead.

var (
	oidExtensionRequest   = mustOID("1.2.840.113549.1.9.14")
	oidMSExtensionRequest = mustOID("1.3.6.1.4.1.311.2.1.14")
	oidSubjectAltName     = mustOID("2.5.29.17")
	oidBasicConstraints   = mustOID("2.5.29.19")
	errExtension          = errors.New("malformed extension")
)

// extension is one parsed extension; names and ca are set for the SAN and BasicConstraints.
type extension struct {
	id    oid
	names []generalName
	ca    bool
}

// extensions is `request.extensions`: the extensions, or the OID of the first duplicate, or
// an error where cryptography raises.
func (request *certificationRequest) extensions() ([]extension, oid, error) {
	var list []element
	for _, attribute := range request.attributes {
		r := reader{attribute.body}
		id, _ := r.readOID()
		if id != oidExtensionRequest && id != oidMSExtensionRequest {
			continue
		}
		values, _ := r.read(tagSet)
		items, _ := setOf(values)
		if len(items) != 1 {
			return nil, "", errExtension // "Only single-valued attributes are supported"
		}
		if !items[0].is(tagSequence) {
			return nil, "", errExtension
		}
		var err error
		if list, err = elements(items[0].body); err != nil {
			return nil, "", err
		}
		break
	}
	type raw struct {
		id    oid
		value []byte
	}
	var raws []raw
	for _, item := range list {
		if !item.is(tagSequence) {
			return nil, "", errExtension
		}
		r := reader{item.body}
		id, err := r.readOID()
		if err != nil {
			return nil, "", err
		}
		if critical, present, err := r.optional(tagBoolean); err != nil {
			return nil, "", err
		} else if present {
			if value, err := parseBool(critical); err != nil || !value {
				return nil, "", errExtension // DER does not write the default FALSE
			}
		}
		value, err := r.read(tagOctetString)
		if err != nil {
			return nil, "", err
		}
		if err := r.end(); err != nil {
			return nil, "", err
		}
		raws = append(raws, raw{id, value})
	}
	seen := map[oid]bool{}
	for _, e := range raws {
		if seen[e.id] {
			return nil, e.id, nil
		}
		seen[e.id] = true
	}
	out := make([]extension, 0, len(raws))
	for _, e := range raws {
		parsed := extension{id: e.id}
		var err error
		switch e.id {
		case oidSubjectAltName:
			parsed.names, err = parseGeneralNames(e.value)
		case oidBasicConstraints:
			parsed.ca, err = parseBasicConstraints(e.value)
		default:
			if check, known := extensionChecks[e.id]; known {
				err = check(e.value)
			}
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, parsed)
	}
	return out, "", nil
}

// parseBasicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL },
// where cryptography's BasicConstraints refuses a path length without cA.
func parseBasicConstraints(value []byte) (bool, error) {
	contents, err := single(value, tagSequence)
	if err != nil {
		return false, err
	}
	r := reader{contents}
	ca := false
	if body, present, err := r.optional(tagBoolean); err != nil {
		return false, err
	} else if present {
		if ca, err = parseBool(body); err != nil || !ca {
			return false, errExtension
		}
	}
	if body, present, err := r.optional(tagInteger); err != nil {
		return false, err
	} else if present {
		if _, err := parseUint(body, 64); err != nil || !ca {
			return false, errExtension
		}
	}
	return ca, r.end()
}

// generalName is a GeneralName as cryptography returns it.
type generalName struct {
	kind string // cryptography's class name: DNSName, IPAddress, RFC822Name...
	text string // the DNS name, or the IP address or network as str() prints it
	repr string // repr() of the value, for the messages
}

// parseGeneralNames reads GeneralNames (SEQUENCE OF GeneralName) as cryptography does.
func parseGeneralNames(value []byte) ([]generalName, error) {
	contents, err := single(value, tagSequence)
	if err != nil {
		return nil, err
	}
	items, err := elements(contents)
	if err != nil {
		return nil, err
	}
	names := make([]generalName, 0, len(items))
	for _, item := range items {
		name, err := parseGeneralName(item)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

func parseGeneralName(item element) (generalName, error) {
	if len(item.tag) != 1 {
		return generalName{}, errExtension
	}
	switch item.tag[0] {
	case tagConstructed | 0: // otherName: SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
		r := reader{item.body}
		if _, err := r.readOID(); err != nil {
			return generalName{}, err
		}
		explicit, err := r.read(tagConstructed | 0)
		if err != nil {
			return generalName{}, err
		}
		inner := reader{explicit}
		value, err := inner.next()
		if err != nil || inner.end() != nil || r.end() != nil {
			return generalName{}, errExtension
		}
		return generalName{kind: "OtherName", repr: pyBytesRepr(value.full)}, nil
	case tagContext | 1, tagContext | 2, tagContext | 6: // rfc822Name, dNSName, URI: valid UTF-8
		if !utf8.Valid(item.body) {
			return generalName{}, errExtension
		}
		kind := map[byte]string{1: "RFC822Name", 2: "DNSName", 6: "UniformResourceIdentifier"}[item.tag[0]&0x1f]
		text := string(item.body)
		return generalName{kind: kind, text: text, repr: pyRepr(text)}, nil
	case tagConstructed | 4: // directoryName: [4] EXPLICIT Name
		contents, err := single(item.body, tagSequence)
		if err != nil {
			return generalName{}, err
		}
		name, err := parseName(contents)
		if err != nil {
			return generalName{}, err
		}
		decoded, err := decodeName(name)
		if err != nil {
			return generalName{}, err
		}
		return generalName{kind: "DirectoryName", repr: "<Name(" + rfc4514(decoded) + ")>"}, nil
	case tagContext | 7: // iPAddress
		text, err := ipText(item.body)
		if err != nil {
			return generalName{}, err
		}
		return generalName{kind: "IPAddress", text: text, repr: text}, nil
	case tagContext | 8: // registeredID
		id, err := parseOID(item.body)
		if err != nil {
			return generalName{}, err
		}
		return generalName{kind: "RegisteredID", repr: "<ObjectIdentifier(oid=" + id.String() + ", name=Unknown OID)>"}, nil
	}
	// x400Address and ediPartyName raise UnsupportedGeneralNameType, other tags fail to parse.
	return generalName{}, errExtension
}

// ipText is str() of the address cryptography makes of an iPAddress: 4 or 16 bytes are an
// address (16 bytes stay IPv6, ::ffff:a.b.c.d included), 8 or 32 an address and a netmask,
// whose host bits must be zero.
func ipText(b []byte) (string, error) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case 16:
		return netip.AddrFrom16([16]byte(b)).String(), nil
	case 8, 32:
		half := len(b) / 2
		ones := 0
		for i, m := range b[half:] {
			if m == 0xff {
				ones += 8
				continue
			}
			ones += bits.LeadingZeros8(^m)
			for _, rest := range b[half+i+1:] {
				if rest != 0 {
					return "", errExtension // not a netmask
				}
			}
			if m<<bits.LeadingZeros8(^m) != 0 {
				return "", errExtension
			}
			break
		}
		var address netip.Addr
		if half == 4 {
			address = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			address = netip.AddrFrom16([16]byte(b[:16]))
		}
		prefix := netip.PrefixFrom(address, ones)
		if prefix.Masked().Addr() != address {
			return "", errExtension // "has host bits set"
		}
		return prefix.String(), nil
	}
	return "", errExtension
}
