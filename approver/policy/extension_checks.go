package policy

import (
	"strings"
	"time"
	"unicode/utf8"
)

// The values of the extensions cryptography knows besides the SAN and BasicConstraints. The
// policy refuses all of them, but a malformed one fails `request.extensions`, which makes the
// request malformed ("pem") rather than merely carrying a refused extension, and a request
// that cannot be parsed names no node for an unknown requestor. Admissions, whose grammar is
// long, is only checked down to its list of admissions.
var extensionChecks = map[oid]func([]byte) error{
	mustOID("2.5.29.18"):            checkGeneralNames,           // issuerAltName
	mustOID("2.5.29.14"):            checkOctetString,            // subjectKeyIdentifier
	mustOID("2.5.29.15"):            checkKeyUsage,               // keyUsage
	mustOID("2.5.29.37"):            checkOIDs,                   // extKeyUsage
	mustOID("2.5.29.35"):            checkAuthorityKeyIdentifier, // authorityKeyIdentifier
	mustOID("1.3.6.1.5.5.7.48.1.5"): checkNull,                   // OCSP no check
	mustOID("2.5.29.54"):            checkInhibitAnyPolicy,       // inhibitAnyPolicy
	mustOID("2.5.29.36"):            checkPolicyConstraints,      // policyConstraints
	mustOID("1.3.6.1.5.5.7.1.24"):   checkTLSFeature,             // TLS feature
	mustOID("1.3.6.1.5.5.7.1.1"):    checkAccessDescriptions,     // authorityInfoAccess
	mustOID("1.3.6.1.5.5.7.1.11"):   checkAccessDescriptions,     // subjectInfoAccess
	mustOID("1.3.6.1.4.1.311.21.7"): checkCertificateTemplate,    // MS certificate template
	mustOID("2.5.29.30"):            checkNameConstraints,        // nameConstraints
	mustOID("2.5.29.31"):            checkDistributionPoints,     // cRLDistributionPoints
	mustOID("2.5.29.32"):            checkCertificatePolicies,    // certificatePolicies
	mustOID("2.5.29.46"):            checkDistributionPoints,     // freshestCRL
	mustOID("2.5.29.16"):            checkPrivateKeyUsagePeriod,  // privateKeyUsagePeriod
	mustOID("1.3.36.8.3.3"):         checkAdmissions,             // admissions
}

func checkOctetString(value []byte) error {
	_, err := single(value, tagOctetString)
	return err
}

func checkGeneralNames(value []byte) error {
	_, err := parseGeneralNames(value)
	return err
}

// checkKeyUsage: a BIT STRING, where KeyUsage() refuses encipherOnly or decipherOnly without
// keyAgreement.
func checkKeyUsage(value []byte) error {
	body, err := single(value, tagBitString)
	if err != nil {
		return err
	}
	data, err := parseBitString(body)
	if err != nil {
		return err
	}
	bit := func(n int) bool { return n/8 < len(data) && data[n/8]&(0x80>>(n%8)) != 0 }
	if (bit(7) || bit(8)) && !bit(4) {
		return errExtension
	}
	return nil
}

// checkOIDs: SEQUENCE OF OBJECT IDENTIFIER.
func checkOIDs(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	for !r.empty() {
		if _, err := r.readOID(); err != nil {
			return err
		}
	}
	return nil
}

// checkAuthorityKeyIdentifier: SEQUENCE { [0] keyIdentifier, [1] issuer GeneralNames,
// [2] serial INTEGER }, the issuer and the serial both present or both absent.
func checkAuthorityKeyIdentifier(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	if _, _, err := r.optional(tagContext | 0); err != nil {
		return err
	}
	issuer, hasIssuer, err := r.optional(tagConstructed | 1)
	if err != nil {
		return err
	}
	if hasIssuer {
		if _, err := parseGeneralNames(derSequence(issuer)); err != nil {
			return err
		}
	}
	serial, hasSerial, err := r.optional(tagContext | 2)
	if err != nil {
		return err
	}
	if hasSerial {
		if _, err := parseBigUint(serial); err != nil {
			return err
		}
	}
	if hasIssuer != hasSerial {
		return errExtension
	}
	return r.end()
}

func checkNull(value []byte) error {
	body, err := single(value, tagNull)
	if err == nil && len(body) != 0 {
		return errExtension
	}
	return err
}

func checkInhibitAnyPolicy(value []byte) error {
	body, err := single(value, tagInteger)
	if err != nil {
		return err
	}
	_, err = parseBigUint(body)
	return err
}

// checkPolicyConstraints: SEQUENCE { [0] INTEGER OPTIONAL, [1] INTEGER OPTIONAL }, not empty.
func checkPolicyConstraints(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	present := false
	for _, t := range []byte{tagContext | 0, tagContext | 1} {
		body, ok, err := r.optional(t)
		if err != nil {
			return err
		}
		if ok {
			if _, err := parseUint(body, 64); err != nil {
				return err
			}
			present = true
		}
	}
	if !present {
		return errExtension
	}
	return r.end()
}

// checkTLSFeature: SEQUENCE OF INTEGER, each status_request (5) or status_request_v2 (17).
func checkTLSFeature(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	for !r.empty() {
		body, err := r.read(tagInteger)
		if err != nil {
			return err
		}
		feature, err := parseUint(body, 64)
		if err != nil || feature != 5 && feature != 17 {
			return errExtension
		}
	}
	return nil
}

// checkAccessDescriptions: SEQUENCE OF SEQUENCE { accessMethod OID, accessLocation GeneralName }.
func checkAccessDescriptions(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	items, err := elements(contents)
	if err != nil {
		return err
	}
	for _, item := range items {
		if !item.is(tagSequence) {
			return errExtension
		}
		r := reader{item.body}
		if _, err := r.readOID(); err != nil {
			return err
		}
		location, err := r.next()
		if err != nil {
			return err
		}
		if _, err := parseGeneralName(location); err != nil {
			return err
		}
		if err := r.end(); err != nil {
			return err
		}
	}
	return nil
}

// checkCertificateTemplate: SEQUENCE { templateID OID, majorVersion INTEGER OPTIONAL,
// minorVersion INTEGER OPTIONAL }, versions of 32 bits.
func checkCertificateTemplate(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	if _, err := r.readOID(); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		body, ok, err := r.optional(tagInteger)
		if err != nil {
			return err
		}
		if ok {
			if _, err := parseUint(body, 32); err != nil {
				return err
			}
		}
	}
	return r.end()
}

// checkNameConstraints: SEQUENCE { permitted [0] GeneralSubtrees OPTIONAL, excluded [1]
// GeneralSubtrees OPTIONAL }, GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0]
// INTEGER DEFAULT 0, maximum [1] INTEGER OPTIONAL }. NameConstraints() wants one list at
// least, neither empty, IP addresses as networks and no wildcard.
func checkNameConstraints(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	present := false
	for _, t := range []byte{tagConstructed | 0, tagConstructed | 1} {
		subtrees, ok, err := r.optional(t)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		present = true
		items, err := elements(subtrees)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return errExtension
		}
		for _, item := range items {
			if err := checkGeneralSubtree(item); err != nil {
				return err
			}
		}
	}
	if !present {
		return errExtension
	}
	return r.end()
}

func checkGeneralSubtree(item element) error {
	if !item.is(tagSequence) {
		return errExtension
	}
	r := reader{item.body}
	base, err := r.next()
	if err != nil {
		return err
	}
	name, err := parseGeneralName(base)
	if err != nil {
		return err
	}
	if name.kind == "IPAddress" && !strings.Contains(name.text, "/") ||
		name.kind == "DNSName" && strings.Contains(name.text, "*") {
		return errExtension
	}
	if minimum, ok, err := r.optional(tagContext | 0); err != nil {
		return err
	} else if ok {
		if value, err := parseUint(minimum, 64); err != nil || value == 0 {
			return errExtension
		}
	}
	if maximum, ok, err := r.optional(tagContext | 1); err != nil {
		return err
	} else if ok {
		if _, err := parseUint(maximum, 64); err != nil {
			return err
		}
	}
	return r.end()
}

// checkDistributionPoints: SEQUENCE OF SEQUENCE { distributionPoint [0] EXPLICIT CHOICE {
// fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN } OPTIONAL, reasons [1] BIT
// STRING OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }, a name or an issuer present.
func checkDistributionPoints(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	points, err := elements(contents)
	if err != nil {
		return err
	}
	for _, point := range points {
		if !point.is(tagSequence) {
			return errExtension
		}
		r := reader{point.body}
		name, hasName, err := r.optional(tagConstructed | 0)
		if err != nil {
			return err
		}
		if hasName {
			inner := reader{name}
			choice, err := inner.next()
			if err != nil || inner.end() != nil {
				return errExtension
			}
			switch {
			case choice.is(tagConstructed | 0):
				err = checkGeneralNames(derSequence(choice.body))
			case choice.is(tagConstructed | 1):
				_, err = decodeRDN(choice.body)
			default:
				err = errExtension
			}
			if err != nil {
				return err
			}
		}
		if reasons, ok, err := r.optional(tagContext | 1); err != nil {
			return err
		} else if ok {
			if _, err := parseBitString(reasons); err != nil {
				return err
			}
		}
		issuer, hasIssuer, err := r.optional(tagConstructed | 2)
		if err != nil {
			return err
		}
		if hasIssuer {
			if err := checkGeneralNames(derSequence(issuer)); err != nil {
				return err
			}
		}
		if !hasName && !hasIssuer {
			return errExtension // "Either full_name, relative_name or crl_issuer must be provided."
		}
		if err := r.end(); err != nil {
			return err
		}
	}
	return nil
}

// decodeRDN reads a RelativeDistinguishedName (SET OF AttributeTypeAndValue) as
// cryptography does: loaded, then decoded.
func decodeRDN(contents []byte) ([][]decodedAttribute, error) {
	name, err := parseName(derTLV(tagSet, contents))
	if err != nil {
		return nil, err
	}
	return decodeName(name)
}

var (
	oidCPSQualifier        = mustOID("1.3.6.1.5.5.7.2.1")
	oidUserNoticeQualifier = mustOID("1.3.6.1.5.5.7.2.2")
)

// checkCertificatePolicies: SEQUENCE OF SEQUENCE { policy OID, qualifiers SEQUENCE OF
// SEQUENCE { OID, CHOICE { cPSuri IA5String, userNotice UserNotice } } OPTIONAL }, each
// qualifier of the kind its OID names.
func checkCertificatePolicies(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	policies, err := elements(contents)
	if err != nil {
		return err
	}
	for _, policy := range policies {
		if !policy.is(tagSequence) {
			return errExtension
		}
		r := reader{policy.body}
		if _, err := r.readOID(); err != nil {
			return err
		}
		if qualifiers, ok, err := r.optional(tagSequence); err != nil {
			return err
		} else if ok {
			items, err := elements(qualifiers)
			if err != nil {
				return err
			}
			for _, item := range items {
				if err := checkQualifier(item); err != nil {
					return err
				}
			}
		}
		if err := r.end(); err != nil {
			return err
		}
	}
	return nil
}

func checkQualifier(item element) error {
	if !item.is(tagSequence) {
		return errExtension
	}
	r := reader{item.body}
	id, err := r.readOID()
	if err != nil {
		return err
	}
	qualifier, err := r.next()
	if err != nil || r.end() != nil {
		return errExtension
	}
	switch {
	case qualifier.is(0x16) && id == oidCPSQualifier: // IA5String
		for _, c := range qualifier.body {
			if c >= 0x80 {
				return errExtension
			}
		}
		return nil
	case qualifier.is(tagSequence) && id == oidUserNoticeQualifier:
		notice := reader{qualifier.body}
		if reference, ok, err := notice.optional(tagSequence); err != nil {
			return err
		} else if ok {
			ref := reader{reference}
			text, err := ref.next()
			if err != nil || checkDisplayText(text) != nil {
				return errExtension
			}
			numbers, err := ref.read(tagSequence)
			if err != nil || ref.end() != nil {
				return errExtension
			}
			list := reader{numbers}
			for !list.empty() {
				body, err := list.read(tagInteger)
				if err != nil {
					return err
				}
				if _, err := parseBigUint(body); err != nil {
					return err
				}
			}
		}
		if !notice.empty() {
			text, err := notice.next()
			if err != nil || checkDisplayText(text) != nil {
				return errExtension
			}
		}
		return notice.end()
	}
	return errExtension // "... ASN.1 structure found but OID did not match"
}

// checkDisplayText: IA5String, UTF8String, VisibleString (as UTF-8) or BMPString.
func checkDisplayText(text element) error {
	switch {
	case text.is(0x16):
		for _, c := range text.body {
			if c >= 0x80 {
				return errExtension
			}
		}
	case text.is(0x0c), text.is(0x1a):
		if !utf8.Valid(text.body) {
			return errExtension
		}
	case text.is(0x1e):
		if _, ok := decodeUTF16(text.body); !ok {
			return errExtension
		}
	default:
		return errExtension
	}
	return nil
}

// checkPrivateKeyUsagePeriod: SEQUENCE { notBefore [0] GeneralizedTime OPTIONAL, notAfter [1]
// GeneralizedTime OPTIONAL }, one at least, each YYYYMMDDHHMMSSZ.
func checkPrivateKeyUsagePeriod(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	present := false
	for _, t := range []byte{tagContext | 0, tagContext | 1} {
		body, ok, err := r.optional(t)
		if err != nil {
			return err
		}
		if ok {
			if _, err := time.Parse("20060102150405Z", string(body)); err != nil || len(body) != 15 {
				return errExtension
			}
			present = true
		}
	}
	if !present {
		return errExtension
	}
	return r.end()
}

// checkAdmissions: SEQUENCE { admissionAuthority GeneralName OPTIONAL, contentsOfAdmissions
// SEQUENCE OF Admissions }; the admissions themselves are not read.
func checkAdmissions(value []byte) error {
	contents, err := single(value, tagSequence)
	if err != nil {
		return err
	}
	r := reader{contents}
	if !r.empty() && r.data[0] != tagSequence {
		authority, err := r.next()
		if err != nil {
			return err
		}
		if _, err := parseGeneralName(authority); err != nil {
			return err
		}
	}
	if _, err := r.read(tagSequence); err != nil {
		return err
	}
	return r.end()
}
