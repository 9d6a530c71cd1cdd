package policy

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Distinguished names as cryptography reads them: PrintableString, BMPString and
// UniversalString values are checked when the request is loaded; every value is decoded to
// text only when the subject is read, and a value it cannot decode raises there.

var (
	oidCommonName       = mustOID("2.5.4.3")
	oidOrganization     = mustOID("2.5.4.10")
	oidUniqueIdentifier = mustOID("2.5.4.45")
)

// The attribute names of cryptography's Name.rfc4514_string.
var rfc4514Names = map[oid]string{
	oidCommonName:                         "CN",
	mustOID("2.5.4.7"):                    "L",
	mustOID("2.5.4.8"):                    "ST",
	oidOrganization:                       "O",
	mustOID("2.5.4.11"):                   "OU",
	mustOID("2.5.4.6"):                    "C",
	mustOID("2.5.4.9"):                    "STREET",
	mustOID("0.9.2342.19200300.100.1.25"): "DC",
	mustOID("0.9.2342.19200300.100.1.1"):  "UID",
}

var errSubject = errors.New("the subject cannot be decoded")

// attribute is one AttributeTypeAndValue of a name.
type attribute struct {
	oid   oid
	value element
}

// parseName reads a Name (SEQUENCE OF SET OF AttributeTypeAndValue) as rust-asn1 loads it.
func parseName(contents []byte) ([][]attribute, error) {
	rdns, err := elements(contents)
	if err != nil {
		return nil, err
	}
	name := make([][]attribute, 0, len(rdns))
	for _, rdn := range rdns {
		if !rdn.is(tagSet) {
			return nil, errDER
		}
		items, err := setOf(rdn.body)
		if err != nil {
			return nil, err
		}
		var attributes []attribute
		for _, item := range items {
			if !item.is(tagSequence) {
				return nil, errDER
			}
			r := reader{item.body}
			id, err := r.readOID()
			if err != nil {
				return nil, err
			}
			value, err := r.next()
			if err != nil {
				return nil, err
			}
			if err := r.end(); err != nil {
				return nil, err
			}
			if err := checkLoadedString(value); err != nil {
				return nil, err
			}
			attributes = append(attributes, attribute{oid: id, value: value})
		}
		name = append(name, attributes)
	}
	return name, nil
}

// checkLoadedString is what rust-asn1 checks of a value when the request is loaded.
func checkLoadedString(value element) error {
	switch {
	case value.is(0x13): // PrintableString
		for _, c := range value.body {
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(" '()+,-./:=?", c) >= 0) {
				return errDER
			}
		}
	case value.is(0x1e): // BMPString
		if _, ok := decodeUTF16(value.body); !ok {
			return errDER
		}
	case value.is(0x1c): // UniversalString
		if _, ok := decodeUTF32(value.body); !ok {
			return errDER
		}
	}
	return nil
}

// decodedAttribute is a name attribute as cryptography's NameAttribute holds it.
type decodedAttribute struct {
	oid     oid
	text    string // the value; hex of the bytes for an X500UniqueIdentifier
	isBytes bool
}

// decodeName is reading `.subject` (or a DirectoryName): the attributes with their text, or
// an error where cryptography raises.
func decodeName(name [][]attribute) ([][]decodedAttribute, error) {
	out := make([][]decodedAttribute, 0, len(name))
	for _, rdn := range name {
		if len(rdn) == 0 {
			return nil, errSubject // "a relative distinguished name cannot be empty"
		}
		var decoded []decodedAttribute
		for _, a := range rdn {
			d, err := decodeAttribute(a)
			if err != nil {
				return nil, err
			}
			for _, other := range decoded {
				if other == d {
					return nil, errSubject // "duplicate attributes are not allowed"
				}
			}
			decoded = append(decoded, d)
		}
		out = append(out, decoded)
	}
	return out, nil
}

func decodeAttribute(a attribute) (decodedAttribute, error) {
	body := a.value.body
	switch a.value.universal() {
	case 3: // BitString: bytes, and only for an X500UniqueIdentifier
		if a.oid != oidUniqueIdentifier {
			return decodedAttribute{}, errSubject
		}
		return decodedAttribute{oid: a.oid, text: hex.EncodeToString(body), isBytes: true}, nil
	case 30:
		text, _ := decodeUTF16(body)
		return decodedAttribute{oid: a.oid, text: text}, nil
	case 28:
		text, _ := decodeUTF32(body)
		return decodedAttribute{oid: a.oid, text: text}, nil
	case 4, 12, 18, 19, 20, 22, 23, 24, 26:
		if !utf8.Valid(body) {
			return decodedAttribute{}, errSubject
		}
		return decodedAttribute{oid: a.oid, text: string(body)}, nil
	}
	return decodedAttribute{}, errSubject
}

func decodeUTF16(b []byte) (string, bool) {
	if len(b)%2 != 0 {
		return "", false
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	for i := 0; i < len(units); i++ {
		if utf16.IsSurrogate(rune(units[i])) {
			if units[i] >= 0xdc00 || i+1 == len(units) || units[i+1] < 0xdc00 || units[i+1] > 0xdfff {
				return "", false
			}
			i++
		}
	}
	return string(utf16.Decode(units)), true
}

func decodeUTF32(b []byte) (string, bool) {
	if len(b)%4 != 0 {
		return "", false
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		r := rune(binary.BigEndian.Uint32(b[i:]))
		if !utf8.ValidRune(r) {
			return "", false
		}
		sb.WriteRune(r)
	}
	return sb.String(), true
}

// rfc4514 is cryptography's Name.rfc4514_string: the RDNs in reverse order.
func rfc4514(name [][]decodedAttribute) string {
	parts := make([]string, 0, len(name))
	for i := len(name) - 1; i >= 0; i-- {
		var rdn []string
		for _, a := range name[i] {
			label, ok := rfc4514Names[a.oid]
			if !ok {
				label = a.oid.String()
			}
			rdn = append(rdn, label+"="+escapeDNValue(a))
		}
		parts = append(parts, strings.Join(rdn, "+"))
	}
	return strings.Join(parts, ",")
}

// escapeDNValue is cryptography's _escape_dn_value.
func escapeDNValue(a decodedAttribute) string {
	if a.text == "" {
		return ""
	}
	if a.isBytes {
		return "#" + a.text
	}
	value := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "+", `\+`, ",", `\,`, ";", `\;`, "<", `\<`, ">", `\>`, "\x00", `\00`).Replace(a.text)
	if value[0] == '#' || value[0] == ' ' && utf8.RuneCountInString(value) > 1 {
		value = `\` + value
	}
	if strings.HasSuffix(value, " ") {
		value = strings.TrimSuffix(value, " ") + `\ `
	}
	return value
}
