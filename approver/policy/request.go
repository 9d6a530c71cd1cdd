package policy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reading spec.request as the Python policy does: base64.b64decode(validate=True), a regex
// over the BEGIN lines, then cryptography's load_pem_x509_csr (the `pem` crate's parser and
// rust-asn1) and its lazily parsed extensions.

var pemBlock = regexp.MustCompile(`-----BEGIN ([A-Z ]+)-----`)

var errPEM = errors.New("malformed PEM")

// certificationRequest is a parsed PKCS#10 request.
type certificationRequest struct {
	tbs        []byte // CertificationRequestInfo, what the signature covers
	subject    [][]attribute
	spki       subjectPublicKeyInfo
	signature  signatureAlgorithm
	sigValue   []byte
	attributes []element // the SET OF Attribute
}

// parseRequest is _parse_request: the request, or the refusal that names what is wrong.
func parseRequest(encoded any) (*certificationRequest, []extension, *refusal) {
	text := ""
	if pyTruthy(encoded) {
		text = pyStr(encoded)
	}
	pem, ok := b64decodeStrict(text)
	if !ok {
		return nil, nil, refuse("pem", "spec.request is not base64")
	}
	var found []string
	for _, match := range pemBlock.FindAllSubmatch(pem, -1) {
		found = append(found, string(match[1]))
	}
	if len(found) != 1 || found[0] != "CERTIFICATE REQUEST" {
		listed := strings.Join(found, ", ")
		if listed == "" {
			listed = "none"
		}
		return nil, nil, refuse("pem", "spec.request must hold exactly one CERTIFICATE REQUEST block (found: "+listed+")")
	}
	malformed := refuse("pem", "spec.request is not a well-formed PKCS#10 request")
	der, err := pemRequest(pem)
	if err != nil {
		return nil, nil, malformed
	}
	request, err := parseCertificationRequest(der)
	if err != nil {
		return nil, nil, malformed
	}
	extensions, duplicate, err := request.extensions()
	if duplicate != "" {
		return nil, nil, refuse("extension", "duplicate extension "+duplicate.String())
	}
	if err != nil {
		return nil, nil, malformed
	}
	return request, extensions, nil
}

// b64decodeStrict is CPython 3.11's binascii.a2b_base64(strict_mode=True), which
// base64.b64decode(validate=True) calls: only the alphabet, no leading '=', nothing but '='
// after the padding starts; '=' after a complete quantum is tolerated, and so are non-zero
// trailing bits.
func b64decodeStrict(s string) ([]byte, bool) {
	if len(s) > 0 && s[0] == '=' {
		return nil, false
	}
	var out []byte
	quad, pads, padding := 0, 0, false
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			padding = true
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					if i+1 < len(s) {
						return nil, false // excess data after padding
					}
					return out, true
				}
			}
			continue
		}
		v := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c)
		if v < 0 || padding {
			return nil, false
		}
		pads = 0
		b := byte(v)
		switch quad {
		case 0:
			left = b
		case 1:
			out = append(out, left<<2|b>>4)
			left = b & 0x0f
		case 2:
			out = append(out, left<<4|b>>2)
			left = b & 0x03
		case 3:
			out = append(out, left<<6|b)
		}
		quad = (quad + 1) % 4
	}
	return out, quad == 0
}

// pemRequest is the DER of the first CERTIFICATE REQUEST block, as cryptography finds it:
// every block is parsed (`pem::parse_many`), and a malformed one fails the whole text.
func pemRequest(data []byte) ([]byte, error) {
	var first []byte
	for len(data) > 0 {
		label, headers, payload, end, rest, ok := pemSection(data)
		if !ok {
			break
		}
		data = rest
		contents, err := pemContents(label, headers, payload, end)
		if err != nil {
			return nil, err
		}
		if first == nil && (string(label) == "CERTIFICATE REQUEST" || string(label) == "NEW CERTIFICATE REQUEST") {
			first = contents
		}
	}
	if first == nil {
		return nil, errPEM
	}
	return first, nil
}

// pemSection is the `pem` crate's parser_inner: the regex
// (?s)-----BEGIN (.*?)-----[ \t\n\r]*(.*?)-----END (.*?)-----[ \t\n\r]*, with headers
// before the first empty line of the payload.
func pemSection(input []byte) (label, headers, payload, end, rest []byte, ok bool) {
	if input, _, ok = readUntil(input, "-----BEGIN "); !ok {
		return
	}
	if input, label, ok = readUntil(input, "-----"); !ok {
		return
	}
	input = skipPEMSpace(input)
	if input, payload, ok = readUntil(input, "-----END "); !ok {
		return
	}
	if after, before, found := readUntil(payload, "\n\n"); found {
		headers, payload = before, after
	} else if after, before, found := readUntil(payload, "\r\n\r\n"); found {
		headers, payload = before, after
	}
	if rest, end, ok = readUntil(input, "-----"); !ok {
		return
	}
	return label, headers, payload, end, skipPEMSpace(rest), true
}

// readUntil is the `pem` crate's read_until, a naive search that does not back up after a
// partial match (so "------BEGIN " with six dashes is not found).
func readUntil(input []byte, marker string) (rest, matched []byte, ok bool) {
	index, found := 0, 0
	for len(input)-index >= len(marker)-found {
		if input[index] == marker[found] {
			found++
		} else {
			found = 0
		}
		index++
		if found == len(marker) {
			return input[index:], input[:index-found], true
		}
	}
	return nil, nil, false
}

func skipPEMSpace(input []byte) []byte {
	return bytes.TrimLeft(input, " \t\n\r")
}

// pemContents is Pem::new_from_captures: UTF-8 labels that match, headers of "key: value"
// lines, and base64 data without whitespace, canonically padded.
func pemContents(label, headers, payload, end []byte) ([]byte, error) {
	if !utf8.Valid(label) || !utf8.Valid(end) || !utf8.Valid(payload) || !utf8.Valid(headers) {
		return nil, errPEM
	}
	if len(label) == 0 || len(end) == 0 || !bytes.Equal(label, end) {
		return nil, errPEM
	}
	data := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, string(payload))
	contents, err := base64.StdEncoding.Strict().DecodeString(data)
	if err != nil {
		return nil, errPEM
	}
	for _, line := range rustLines(string(headers)) {
		if !strings.Contains(line, ":") {
			return nil, errPEM
		}
	}
	return contents, nil
}

// rustLines is Rust's str::lines: split at "\n", drop one "\r" before it, no final empty line.
func rustLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimSuffix(line, "\r")
	}
	return lines
}

// parseCertificationRequest is load_der_x509_csr: the structure, the version, the subject's
// checked string types and the algorithm identifiers' parameters. Extensions are read later.
func parseCertificationRequest(der []byte) (*certificationRequest, error) {
	outer, err := single(der, tagSequence)
	if err != nil {
		return nil, err
	}
	r := reader{outer}
	info, err := r.next()
	if err != nil || !info.is(tagSequence) {
		return nil, errDER
	}
	algorithm, err := r.next()
	if err != nil || !algorithm.is(tagSequence) {
		return nil, errDER
	}
	sigBits, err := r.read(tagBitString)
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	request := &certificationRequest{tbs: info.full}
	if request.sigValue, err = parseBitString(sigBits); err != nil {
		return nil, err
	}
	if request.signature, err = parseSignatureAlgorithm(algorithm.body); err != nil {
		return nil, err
	}

	fields := reader{info.body}
	version, err := fields.read(tagInteger)
	if err != nil {
		return nil, err
	}
	number, err := parseUint(version, 8)
	if err != nil {
		return nil, err
	}
	if number != 0 {
		// cryptography raises InvalidVersion, which the Python policy does not catch.
		return nil, errors.New("CSR version is not 1")
	}
	subject, err := fields.read(tagSequence)
	if err != nil {
		return nil, err
	}
	if request.subject, err = parseName(subject); err != nil {
		return nil, err
	}
	spki, err := fields.read(tagSequence)
	if err != nil {
		return nil, err
	}
	if request.spki, err = parseSubjectPublicKeyInfo(spki); err != nil {
		return nil, err
	}
	attributes, err := fields.read(tagConstructed | 0)
	if err != nil {
		return nil, err
	}
	if request.attributes, err = setOf(attributes); err != nil {
		return nil, err
	}
	for _, attribute := range request.attributes {
		if !attribute.is(tagSequence) {
			return nil, errDER
		}
		a := reader{attribute.body}
		if _, err := a.readOID(); err != nil {
			return nil, err
		}
		values, err := a.read(tagSet)
		if err != nil {
			return nil, err
		}
		if _, err := setOf(values); err != nil {
			return nil, err
		}
		if err := a.end(); err != nil {
			return nil, err
		}
	}
	return request, fields.end()
}
